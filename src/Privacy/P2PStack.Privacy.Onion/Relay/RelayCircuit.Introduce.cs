using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Relay;

/// <summary>
/// The last hop as an introduction point (docs/specs/shadow.md, section 7): a service's circuit registers an auth key
/// (ESTABLISH_INTRO); a client's circuit asks for it (INTRODUCE on a new stream); the relay joins the client's stream
/// to a new stream on the service's circuit (INTRODUCED, stream id chosen here) and moves data between them as two
/// exit streams back to back. The relay sees neither end's address nor identity, only two circuits and ciphertext.
/// </summary>
internal sealed partial class RelayCircuit
{
    private byte[]? _introKey;
    private int _nextSplicedId;

    /// <summary>Whether the circuit is ending (a registration it holds is dead).</summary>
    internal bool IsEnding => Volatile.Read(ref _ending) != 0;

    private async Task OnEstablishIntroAsync(ushort id, byte[] message, CancellationToken token)
    {
        if (id != 0 || message.Length != IntroductionRegistry.AuthKeySize) throw new OnionFormatException("malformed ESTABLISH_INTRO");
        if (_introKey is not null) throw new OnionFormatException("a second ESTABLISH_INTRO on one circuit");
        lock (_streams)
        {
            if (_streams.Count > 0) throw new OnionFormatException("ESTABLISH_INTRO on a circuit with open streams");
        }
        var status = Options.Relay.AcceptIntroductions ? _relay.Introductions.TryRegister(message, this) : IntroStatus.NotIntroPoint;
        if (status == IntroStatus.Ok)
        {
            _introKey = message;
            // The circuit may have ended meanwhile: its end would have found nothing to remove.
            if (IsEnding) _relay.Introductions.Remove(message, this);
        }
        else
        {
            _relay.Metrics.Refused(status switch
            {
                IntroStatus.InUse => "intro_in_use",
                IntroStatus.Full => "intro_full",
                _ => "not_intro_point",
            });
        }
        _relay.Metrics.Introduction(status == IntroStatus.Ok ? "registered" : "registration_refused");
        await SendBackwardAsync(RelayCommand.IntroEstablished, 0, new[] { (byte)status }, token).ConfigureAwait(false);
    }

    // A client's INTRODUCE: find the service, join a new stream on its circuit to this one.
    private void StartIntroduction(ushort id, byte[] message)
    {
        if (id == 0 || message.Length != IntroductionRegistry.IntroduceSize) throw new OnionFormatException("malformed INTRODUCE");
        if (_introKey is not null) throw new OnionFormatException("INTRODUCE on a service circuit");
        EndReason? refusal = null;
        lock (_streams)
        {
            if (_streams.ContainsKey(id)) throw new OnionFormatException($"INTRODUCE for stream {id}, which is open");
            if (_streams.Count >= Options.Relay.MaxStreamsPerCircuit) refusal = EndReason.ResourceLimit;
        }
        RelayCircuit? service = null;
        SplicedPair? pair = null;
        string outcome = "limit";
        if (refusal is null)
        {
            if (!_relay.Introductions.TryIntroduce(message, out service, out outcome))
            {
                refusal = outcome switch
                {
                    "rate" => EndReason.ResourceLimit,
                    "replay" => EndReason.Protocol, // an INTRODUCE this relay forwarded before
                    _ => EndReason.NoIntroduction,
                };
                if (outcome == "rate") _relay.Metrics.Refused("introduction_rate");
                if (outcome == "replay") _relay.Metrics.Refused("introduction_replay");
            }
            else if (ReferenceEquals(service, this))
            {
                refusal = EndReason.NoIntroduction;
                outcome = "unknown";
            }
            else
            {
                pair = new SplicedPair();
                if (!service.AttachIntroduced(pair.B))
                {
                    refusal = EndReason.ResourceLimit;
                    outcome = "service_limit";
                    _relay.Metrics.Refused("introduction_service_limit");
                }
            }
        }
        if (refusal is not null)
        {
            _relay.Metrics.Introduction(outcome);
            if (outcome == "limit") _relay.Metrics.Refused("max_streams_per_circuit");
            RunOwned(t => SendBackwardAsync(RelayCommand.End, id, new[] { (byte)refusal.Value }, t));
            return;
        }
        var stream = new ExitStream(this, id, null, Options.FlowControl);
        lock (_streams) AddStreamLocked(id, stream);
        _relay.Metrics.Introduction("forwarded");
        RunOwned(t => stream.RunSplicedAsync(pair!.A, RelayCommand.Connected, t));
    }

    /// <summary>Opens a stream towards the service that registered on this circuit, over the given half of a splice;
    /// false when the circuit is ending or at its stream limit.</summary>
    private bool AttachIntroduced(IExitEnd end)
    {
        ExitStream stream;
        lock (_streams)
        {
            if (IsEnding || _streams.Count >= Options.Relay.MaxStreamsPerCircuit) return false;
            ushort id;
            do
            {
                id = (ushort)(Interlocked.Increment(ref _nextSplicedId) & 0xFFFF);
            } while (id == 0 || _streams.ContainsKey(id));
            stream = new ExitStream(this, id, null, Options.FlowControl);
            AddStreamLocked(id, stream);
        }
        RunOwned(t => stream.RunSplicedAsync(end, RelayCommand.Introduced, t));
        return true;
    }

    private void ReleaseIntroduction()
    {
        if (_introKey is { } key) _relay.Introductions.Remove(key, this);
    }
}
