using P2PStack.Network;

namespace P2PStack.Nat.Dcutr;

public sealed class DcutrOptions
{
    /// <summary>Try to turn relayed connections into direct ones (and answer peers that try).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Hole punch rounds (CONNECT, SYNC, simultaneous dial) before giving up: the spec's 3.</summary>
    public int MaxAttempts { get; set; } = 3;

    /// <summary>Budget of one round's dials.</summary>
    public TimeSpan DialTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Budget of one message exchange on the DCUtR stream (a peer that stalls is dropped).</summary>
    public TimeSpan StreamTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Before a hole punch, a direct dial to the remote's public addresses, if it has any (the spec's
    /// unilateral upgrade), with this budget.</summary>
    public TimeSpan UnilateralDialTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the initiator waits for identify on the relayed connection (it tells the remote's addresses,
    /// for the unilateral dial) before going on without.</summary>
    public TimeSpan IdentifyWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the initiator waits for an address of its own to send in CONNECT before the first round: the
    /// relayed connection may come up (a reservation is quick) before identify with the relay has told us our observed
    /// address. Without one the peer has nothing to dial and the round is wasted.</summary>
    public TimeSpan OwnAddressWait { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Observed addresses not confirmed by enough observers that CONNECT still offers (most confirmed first),
    /// besides the confirmed and advertised ones; 0 offers confirmed addresses only.</summary>
    public int MaxObservedCandidates { get; set; } = 3;

    /// <summary>How often the initiator looks for an address of its own while it waits (<see cref="OwnAddressWait"/>).</summary>
    public TimeSpan AddressPollInterval { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>When the peer's CONNECT carried no address to dial (it has not learnt its own yet), the next round
    /// starts after this delay instead of giving up.</summary>
    public TimeSpan NoAddressRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long the relayed connection stays open once a direct one exists, so that streams on it can finish.</summary>
    public TimeSpan RelayedCloseGrace { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Hole punches running at once; more relayed connections stay relayed.</summary>
    public int MaxConcurrent { get; set; } = 8;

    /// <summary>Hole punch to private addresses too (tests on one machine; on the internet only public ones make sense).</summary>
    public bool AllowPrivateAddresses { get; set; }

    internal void Validate()
    {
        if (MaxAttempts < 1) throw new ArgumentOutOfRangeException(nameof(MaxAttempts), "at least 1");
        if (MaxObservedCandidates < 0) throw new ArgumentOutOfRangeException(nameof(MaxObservedCandidates), "must not be negative");
        if (MaxConcurrent < 1) throw new ArgumentOutOfRangeException(nameof(MaxConcurrent), "at least 1");
        foreach (var (value, name) in new[] { (DialTimeout, nameof(DialTimeout)), (StreamTimeout, nameof(StreamTimeout)),
            (UnilateralDialTimeout, nameof(UnilateralDialTimeout)), (IdentifyWait, nameof(IdentifyWait)),
            (AddressPollInterval, nameof(AddressPollInterval)) })
        {
            if (value <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(name, "must be positive");
        }
        // The dial timeouts become DialOptions.Timeout, which refuses more than a day: refused here, at start-up.
        foreach (var (value, name) in new[] { (DialTimeout, nameof(DialTimeout)), (UnilateralDialTimeout, nameof(UnilateralDialTimeout)) })
        {
            if (value > DialOptions.MaxTimeout)
                throw new ArgumentOutOfRangeException(name, $"at most {DialOptions.MaxTimeout.TotalHours:0} h (DialOptions.MaxTimeout)");
        }
        if (OwnAddressWait < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(OwnAddressWait), "must not be negative");
        if (NoAddressRetryDelay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(NoAddressRetryDelay), "must not be negative");
        if (RelayedCloseGrace < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RelayedCloseGrace), "must not be negative");
    }
}
