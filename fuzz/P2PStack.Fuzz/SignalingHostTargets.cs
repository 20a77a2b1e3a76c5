using System.Buffers;
using System.IO.Pipelines;
using System.Reflection;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Discovery.Signaling;
using P2PStack.Discovery.Signaling.Pb;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Network;
using P2PStack.Protocols.GossipSub;

namespace P2PStack.Fuzz;

/// <summary>
/// The signaling host's side of <c>/synaptic/signal/1.0.0</c> (docs/specs/swarm-signaling.md section 3):
/// <see cref="SignalingHandler"/> over up to four streams of two light peers, with a fresh <see cref="SwarmSignaling"/>
/// per input (small limits, so that they are reached) on a GossipSub service whose host has no connections.
/// </summary>
internal static class SignalingHostTargets
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(5);

    private const int PerPeer = 3;
    private const int Total = 5;

    /// <summary>The handler's limit on a request (the spec's 256 bytes).</summary>
    private const int MaxRequest = 256;

    private static class Fixed
    {
        public static readonly PrivateKey Key = Ed25519PrivateKey.FromSeed(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        public static readonly PeerId[] Peers =
        [
            PeerId.FromPublicKey(Ed25519PrivateKey.FromSeed(Enumerable.Range(3, 32).Select(i => (byte)i).ToArray()).PublicKey),
            PeerId.FromPublicKey(Ed25519PrivateKey.FromSeed(Enumerable.Range(4, 32).Select(i => (byte)i).ToArray()).PublicKey),
        ];
        public static readonly IPeerHost Host = HostDouble.Create(PeerId.FromPublicKey(Key.PublicKey));
        public static readonly ILocalIdentity Identity = new Host.LocalIdentity(Key);
        public static readonly GossipSubService Gossip = new(Host, Identity, Options.Create(new GossipSubOptions()));
    }

    /// <summary>
    /// Records <c>[h][n][n bytes]</c>: stream <c>h &amp; 3</c> (streams 0 and 1 of one peer, 2 and 3 of another; a stream
    /// opens on first use, as a new session once ended). Unless bit 2, the bytes are one request the target frames and
    /// the host must answer as the spec says, checked against a model of the limits (per peer over its open sessions,
    /// in all over every swarm relayed, a released one staying relayed for the grace period, which a fixed clock never
    /// ends); a request that is not a protobuf must reset the stream. Bit 3 ends the stream after the answer. Bit 2:
    /// the bytes go behind a bad length (bit 4: over 256 bytes, else one byte more than follows) and the stream ends:
    /// the host must reset it without an answer. At the end every stream ends: each
    /// handler must return (a refusal resets its stream, nothing escapes), the relayed topics are the model's, and
    /// once the service is disposed GossipSub holds none of them.
    /// </summary>
    public static void SignalingHost(byte[] input)
    {
        var gossip = Fixed.Gossip;
        var options = new SwarmSignalingOptions { MaxServedSwarmsPerPeer = PerPeer, MaxServedSwarms = Total };
        var signaling = new SwarmSignaling(Fixed.Host, Fixed.Identity, gossip, Options.Create(options), NullLogger<SwarmSignaling>.Instance, new FixedClock());
        var handler = new SignalingHandler(new Services(signaling));
        var streams = new Session?[4];
        var relayed = new HashSet<string>(StringComparer.Ordinal);
        using var guard = new CancellationTokenSource(Guard);
        try
        {
            for (int i = 0; i + 1 < input.Length;)
            {
                byte h = input[i];
                int n = Math.Min(input[i + 1], input.Length - i - 2);
                byte[] data = input[(i + 2)..(i + 2 + n)];
                i += 2 + n;
                int slot = h & 3;
                var session = streams[slot] ??= Session.Open(handler, Fixed.Peers[slot >> 1], guard.Token);
                if ((h & 4) != 0)
                {
                    // A bad frame: a length over the limit, or one more byte than the stream then carries.
                    int length = (h & 16) != 0 ? MaxRequest + 1 + data.Length : data.Length + 1;
                    session.ToHost.Writer.Write(Encoding.Varint.Encode((ulong)length));
                    session.ToHost.Writer.Write(data);
                    var (answered, reset) = session.EndAsync(guard.Token).GetAwaiter().GetResult();
                    if (answered != 0 || !reset)
                        throw new InvalidOperationException($"a frame of {length} bytes declared, {data.Length} sent, was not refused (answer of {answered} bytes, reset {reset})");
                    streams[slot] = null;
                    continue;
                }
                var answer = session.AskAsync(data, guard.Token).GetAwaiter().GetResult();
                Check(data, answer, session, streams, relayed);
                if (answer is null || (h & 8) != 0)
                {
                    session.EndAsync(guard.Token).GetAwaiter().GetResult();
                    streams[slot] = null;
                }
            }
            foreach (var session in streams) session?.EndAsync(guard.Token).GetAwaiter().GetResult();
            var topics = gossip.GetTopics().Where(t => t.StartsWith("/synaptic/signal/", StringComparison.Ordinal)).ToHashSet();
            if (!topics.SetEquals(relayed.Select(hex => SignalingProtocol.PresenceTopic(Convert.FromHexString(hex)))))
                throw new InvalidOperationException($"the host relays {topics.Count} topics where {relayed.Count} were served");
        }
        catch (OperationCanceledException) when (guard.IsCancellationRequested)
        {
            throw new TimeoutException("a signaling stream did not end after its input did");
        }
        finally
        {
            signaling.DisposeAsync().AsTask().WaitAsync(Guard).GetAwaiter().GetResult();
        }
        if (gossip.GetTopics().Any(t => t.StartsWith("/synaptic/signal/", StringComparison.Ordinal)))
            throw new InvalidOperationException("a relayed topic outlived the signaling service");
    }

    /// <summary>The host's answer against the spec: a request that is no protobuf resets the stream; a swarm id of
    /// other than 32 bytes is E_INVALID; Release is OK; Serve is OK or E_LIMIT as the model of the limits says.</summary>
    private static void Check(byte[] data, SignalResponse? answer, Session session, Session?[] streams, HashSet<string> relayed)
    {
        SignalRequest request;
        try
        {
            request = SignalRequest.Parser.ParseFrom(data);
        }
        catch (InvalidProtocolBufferException)
        {
            if (answer is not null) throw new InvalidOperationException($"a request that is no protobuf was answered {answer.Status}");
            return;
        }
        if (answer is null) throw new InvalidOperationException($"a valid request ({request.RequestCase}) reset the stream");
        if (answer.Members.Count != 0) throw new InvalidOperationException("members in a swarm nobody announced in");
        var swarm = request.RequestCase switch
        {
            SignalRequest.RequestOneofCase.Serve => request.Serve.Swarm,
            SignalRequest.RequestOneofCase.Release => request.Release.Swarm,
            _ => ByteString.Empty,
        };
        var expected = SignalResponse.Types.Status.Ok;
        string hex = Convert.ToHexStringLower(swarm.Span);
        if (swarm.Length != SignalingProtocol.SwarmIdLength)
        {
            expected = SignalResponse.Types.Status.EInvalid;
        }
        else if (request.RequestCase == SignalRequest.RequestOneofCase.Release)
        {
            session.Swarms.Remove(hex);
        }
        else if (!session.Swarms.Contains(hex))
        {
            int ofPeer = streams.Where(s => s?.Peer == session.Peer).Sum(s => s!.Swarms.Count);
            if (ofPeer >= PerPeer || (!relayed.Contains(hex) && relayed.Count >= Total)) expected = SignalResponse.Types.Status.ELimit;
            else
            {
                session.Swarms.Add(hex);
                relayed.Add(hex);
            }
        }
        if (answer.Status != expected)
            throw new InvalidOperationException($"{request.RequestCase} of a {swarm.Length}-byte swarm answered {answer.Status}, expected {expected}");
    }

    public static IEnumerable<byte[]> SignalingHostSeeds()
    {
        static byte[] Record(int h, IMessage? request = null, byte[]? raw = null)
        {
            byte[] data = raw ?? request!.ToByteArray();
            return [(byte)h, (byte)data.Length, .. data];
        }
        static SignalRequest Serve(byte[] swarm) => new() { Serve = new() { Swarm = ByteString.CopyFrom(swarm) } };
        static SignalRequest Release(byte[] swarm) => new() { Release = new() { Swarm = ByteString.CopyFrom(swarm) } };
        byte[] a = SignalingProtocol.SwarmId("alpha-discovery-key"), b = SignalingProtocol.SwarmId("b"), c = SignalingProtocol.SwarmId("c");
        byte[] d = SignalingProtocol.SwarmId("d"), e = SignalingProtocol.SwarmId("e"), f = SignalingProtocol.SwarmId("f");
        // The host test's session: serve, serve again, two more (the last over its limit), an invalid id, then the end.
        yield return [.. Record(0, Serve(a)), .. Record(0, Serve(a)), .. Record(0, Serve(b)), .. Record(0, Serve(c)), .. Record(0, Serve(d)),
            .. Record(0, Serve([1, 2, 3])), .. Record(8, new SignalRequest())];
        // Release and serve again; a reload (the stream ends, a new one asks again within the grace period).
        yield return [.. Record(0, Serve(a)), .. Record(0, Release(a)), .. Record(0, Serve(a)), .. Record(8, Serve(b)), .. Record(0, Serve(a))];
        // One peer's two sessions share its limit; the other peer reaches the total.
        yield return [.. Record(0, Serve(a)), .. Record(1, Serve(b)), .. Record(1, Serve(c)), .. Record(0, Serve(d)),
            .. Record(2, Serve(d)), .. Record(2, Serve(e)), .. Record(3, Serve(f)), .. Record(3, Release(e)), .. Record(3, Serve(f))];
        // Refusals that reset the stream: not a protobuf, a frame over 256 bytes, a cut frame.
        yield return [.. Record(0, Serve(a)), .. Record(0, raw: [0xFF, 0xFF, 0xFF])];
        yield return [.. Record(1, Serve(a)), .. Record(5 | 16, raw: [0x0A, 0x20])];
        yield return Record(6, raw: [0x0A, 0x20, 0x01]);
    }

    /// <summary>One stream of a light peer to the host: the handler reads what the target writes and answers.</summary>
    private sealed class Session
    {
        public required PeerId Peer { get; init; }
        public required Pipe ToHost { get; init; }
        public required Pipe FromHost { get; init; }
        public required Task Handling { get; init; }
        public HashSet<string> Swarms { get; } = new(StringComparer.Ordinal);

        public static Session Open(SignalingHandler handler, PeerId peer, CancellationToken cancellationToken)
        {
            Pipe toHost = new(), fromHost = new();
            var stream = new IntroductionTargets.LinkStream(toHost.Reader, fromHost.Writer, IntroductionTargets.ConnectionDouble.Create(peer));
            return new Session
            {
                Peer = peer,
                ToHost = toHost,
                FromHost = fromHost,
                Handling = Task.Run(() => handler.HandleAsync(stream, cancellationToken), CancellationToken.None),
            };
        }

        /// <summary>Sends one framed request; the answer, or null when the host reset the stream.</summary>
        public async Task<SignalResponse?> AskAsync(byte[] request, CancellationToken cancellationToken)
        {
            LengthPrefixed.WriteMessage(ToHost.Writer, request);
            await ToHost.Writer.FlushAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                return await LengthPrefixed.ReadMessageAsync(FromHost.Reader, 1 << 20, b => SignalResponse.Parser.ParseFrom(b), cancellationToken)
                    .ConfigureAwait(false);
            }
            catch (StreamResetException)
            {
                return null;
            }
        }

        /// <summary>Ends the stream from the client's side: the handler must return, having closed or reset it. Returns
        /// the bytes it wrote after the last answer read, and whether it reset the stream.</summary>
        public async Task<(long Answered, bool Reset)> EndAsync(CancellationToken cancellationToken)
        {
            await ToHost.Writer.CompleteAsync().ConfigureAwait(false);
            await Handling.WaitAsync(cancellationToken).ConfigureAwait(false);
            long answered = 0;
            bool reset = false;
            while (true)
            {
                ReadResult result;
                try
                {
                    result = await FromHost.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (StreamResetException)
                {
                    reset = true;
                    break;
                }
                answered += result.Buffer.Length;
                FromHost.Reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) break;
            }
            await FromHost.Reader.CompleteAsync().ConfigureAwait(false);
            return (answered, reset);
        }
    }

    private sealed class Services(SwarmSignaling signaling) : IServiceProvider
    {
        public object? GetService(Type serviceType) => serviceType == typeof(SwarmSignaling) ? signaling : null;
    }

    /// <summary>Time stands still: grace periods and expiries never end within an input.</summary>
    private sealed class FixedClock : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
    }

    /// <summary>The signaling host's host as GossipSub and signaling use it here: its peer id, events, no connection,
    /// no address.</summary>
    public class HostDouble : DispatchProxy
    {
        private PeerId? _self;
        private readonly P2PStack.Host.EventBus _events = new(NullLogger<P2PStack.Host.EventBus>.Instance);

        public static IPeerHost Create(PeerId self)
        {
            var host = DispatchProxy.Create<IPeerHost, HostDouble>();
            ((HostDouble)(object)host)._self = self;
            return host;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => targetMethod?.Name switch
        {
            "get_PeerId" => _self,
            "get_Events" => _events,
            "GetConnections" => Array.Empty<IConnection>(),
            "get_AdvertisedAddresses" or "get_ListenAddresses" => Array.Empty<Addressing.Multiaddr>(),
            _ => throw new NotSupportedException($"the fuzz target's host has no {targetMethod?.Name}"),
        };
    }
}
