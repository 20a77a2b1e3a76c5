using System.Diagnostics.CodeAnalysis;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Relay;

/// <summary>
/// The introduction registrations of a relay (docs/specs/shadow.md, section 7): auth key → the service circuit that
/// registered it, with a token bucket per registration for the introductions forwarded over it. At most
/// <see cref="OnionRelayOptions.MaxIntroductionPoints"/> registrations, one per circuit, gone with their circuit: the
/// state is bounded by circuits the relay already admitted. The INTRODUCEs forwarded are remembered in a bounded replay
/// cache, so the same one sent again is refused.
/// </summary>
internal sealed class IntroductionRegistry(OnionRelayOptions options, TimeProvider time)
{
    /// <summary>Bytes of an auth key.</summary>
    public const int AuthKeySize = 32;

    /// <summary>Bytes of the client's random nonce after the auth key in INTRODUCE.</summary>
    public const int NonceSize = 16;

    /// <summary>Bytes of an INTRODUCE message: the auth key, then the nonce.</summary>
    public const int IntroduceSize = AuthKeySize + NonceSize;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Registration> _byKey = [];
    private readonly IntroductionReplayCache _replays = new(options.IntroductionReplayCacheSize);

    /// <summary>INTRODUCEs remembered by the replay cache.</summary>
    public int Remembered
    {
        get { lock (_gate) return _replays.Count; }
    }

    public int Count
    {
        get { lock (_gate) return _byKey.Count; }
    }

    public IntroStatus TryRegister(ReadOnlySpan<byte> authKey, RelayCircuit circuit)
    {
        string key = Convert.ToHexString(authKey);
        lock (_gate)
        {
            if (_byKey.TryGetValue(key, out var existing) && !existing.Circuit.IsEnding) return IntroStatus.InUse;
            if (existing is null && _byKey.Count >= options.MaxIntroductionPoints) return IntroStatus.Full;
            _byKey[key] = new Registration(circuit, options.IntroductionBurst, time.GetTimestamp());
            return IntroStatus.Ok;
        }
    }

    public void Remove(ReadOnlySpan<byte> authKey, RelayCircuit circuit)
    {
        string key = Convert.ToHexString(authKey);
        lock (_gate)
        {
            if (_byKey.TryGetValue(key, out var existing) && ReferenceEquals(existing.Circuit, circuit)) _byKey.Remove(key);
        }
    }

    /// <summary>The service circuit for an INTRODUCE (auth key and nonce, <see cref="IntroduceSize"/> bytes), taking a
    /// token of its bucket and remembering the INTRODUCE.</summary>
    /// <returns>Found (and new, and within the rate), or why not: <c>unknown</c>, <c>replay</c> (this INTRODUCE was
    /// forwarded before) or <c>rate</c>.</returns>
    public bool TryIntroduce(ReadOnlySpan<byte> introduce, [NotNullWhen(true)] out RelayCircuit? service, out string refusal)
    {
        if (introduce.Length != IntroduceSize) throw new ArgumentException($"an INTRODUCE has {IntroduceSize} bytes", nameof(introduce));
        string key = Convert.ToHexString(introduce[..AuthKeySize]);
        var id = IntroductionReplayCache.IdOf(introduce);
        long now = time.GetTimestamp();
        lock (_gate)
        {
            service = null;
            if (!_byKey.TryGetValue(key, out var registration) || registration.Circuit.IsEnding)
            {
                refusal = "unknown";
                return false;
            }
            // Before the bucket: a replay takes no token of the service's.
            if (_replays.Contains(id))
            {
                refusal = "replay";
                return false;
            }
            double seconds = time.GetElapsedTime(registration.Stamp, now).TotalSeconds;
            registration.Tokens = Math.Min(options.IntroductionBurst, registration.Tokens + seconds * options.IntroductionsPerSecond);
            registration.Stamp = now;
            if (registration.Tokens < 1)
            {
                refusal = "rate";
                return false;
            }
            registration.Tokens -= 1;
            _replays.Add(id);
            service = registration.Circuit;
            refusal = "";
            return true;
        }
    }

    private sealed class Registration(RelayCircuit circuit, double tokens, long stamp)
    {
        public RelayCircuit Circuit { get; } = circuit;

        public double Tokens = tokens;

        public long Stamp = stamp;
    }
}
