namespace P2PStack.Discovery.Signaling;

/// <summary>Settings and limits of swarm signaling.</summary>
public sealed class SwarmSignalingOptions
{
    /// <summary>How often a member announces itself again (per swarm, overridable at join).</summary>
    public TimeSpan AnnounceInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>An announcement is valid this many announce intervals (its <c>until</c>); observers drop a member whose
    /// last announcement expired. Must be over 1 so that one lost announcement does not drop a live member.</summary>
    public double PresenceLifetimeIntervals { get; set; } = 3;

    /// <summary>Longest presence an announcement may claim (until - now); longer claims are refused.</summary>
    public TimeSpan MaxPresenceTtl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Allowed clock difference for the times in announcements.</summary>
    public TimeSpan MaxClockSkew { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A member announces back within a random delay up to this after a newcomer appears (coalesced).</summary>
    public TimeSpan AnnounceBackMaxDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Announce-backs of one swarm are at least this far apart (one newcomer flood costs one announcement).</summary>
    public TimeSpan AnnounceBackMinInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often expiries, pending announcements and new topic neighbours are checked.</summary>
    public TimeSpan TickInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Largest signed announcement accepted.</summary>
    public int MaxPresenceSize { get; set; } = 4096;

    public int MaxAddressesPerPresence { get; set; } = 32;

    /// <summary>Members remembered per swarm; announcements of further peers are refused and counted.</summary>
    public int MaxMembersPerSwarm { get; set; } = 10_000;

    /// <summary>Swarms this node may join.</summary>
    public int MaxJoinedSwarms { get; set; } = 256;

    /// <summary>Serve peers without the DHT (browsers) on <c>/synaptic/signal/1.0.0</c>.</summary>
    public bool ServeLightPeers { get; set; } = true;

    /// <summary>A light peer's signaling stream must carry its first request within this time, or it is reset and
    /// counted (<c>idle</c>): the session is long-lived only once it serves a swarm, not a free slot to hold open.</summary>
    public TimeSpan FirstRequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Swarms one light peer may have this host relay.</summary>
    public int MaxServedSwarmsPerPeer { get; set; } = 16;

    /// <summary>Swarms relayed for light peers in all.</summary>
    public int MaxServedSwarms { get; set; } = 1024;

    /// <summary>Largest answer to a Serve (the <c>SignalResponse</c>, without its length prefix). Members beyond it are left
    /// out and counted in the answer's <c>omitted</c>; they reach the light peer with their next announcements. Keeps
    /// the answer the host holds for a peer that does not read it far below <see cref="MaxMembersPerSwarm"/> x
    /// <see cref="MaxPresenceSize"/> (about 40 MiB by default); the default is one yamux receive window.</summary>
    public int MaxServeAnswerSize { get; set; } = 256 * 1024;

    /// <summary>Longest time an answer may wait with none of it taken by the light peer (flushed into its stream's
    /// flow-control window); past it the host resets the stream and counts it (<c>stalled</c>): a peer that stops reading
    /// does not keep an answer in the host's memory for as long as its connection lives. A slow peer that keeps taking
    /// the answer (window updates that let more of it out) is never cut, however long the whole answer takes. Progress
    /// is seen at the granularity of the peer's window updates (half a yamux window, 128 KiB, for a go or js peer);
    /// on a stream whose writer cannot tell its unflushed bytes, this is the time the whole answer may take.</summary>
    public TimeSpan AnswerStallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The former name of <see cref="AnswerStallTimeout"/>, which it sets: the time is now one without
    /// progress, not the whole write's.</summary>
    [Obsolete("Use AnswerStallTimeout: the time an answer may wait without progress (a slow peer that keeps reading is not cut).")]
    public TimeSpan AnswerWriteTimeout
    {
        get => AnswerStallTimeout;
        set => AnswerStallTimeout = value;
    }

    /// <summary>After a light peer's signaling stream ends (a page reload, a dropped connection), its swarms stay relayed
    /// this long so that it can come back without the swarm noticing a gap.</summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Signaling hosts find each other in the DHT under <see cref="SignalingProtocol.RendezvousCid"/> of this name.</summary>
    public string NetworkName { get; set; } = "synaptic";

    /// <summary>How often this host provides the rendezvous CID and dials the hosts it finds there (zero: never).</summary>
    public TimeSpan HostRendezvousInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Hosts dialed per rendezvous round.</summary>
    public int MaxRendezvousDials { get; set; } = 8;

    /// <summary>Events a watcher buffers; a slow watcher loses the oldest.</summary>
    public int WatcherCapacity { get; set; } = 1024;

    /// <summary>Bytes of a Serve answer other than its members: status, omitted count and the detail saying why.</summary>
    internal const int ServeAnswerOverhead = 256;

    internal TimeSpan PresenceLifetime(TimeSpan interval) => interval * PresenceLifetimeIntervals;

    internal void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(AnnounceInterval, TimeSpan.FromMilliseconds(100));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(PresenceLifetimeIntervals, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPresenceTtl, PresenceLifetime(AnnounceInterval));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxClockSkew, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(AnnounceBackMaxDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(AnnounceBackMinInterval, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(TickInterval, TimeSpan.FromMilliseconds(10));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPresenceSize, 512);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxMembersPerSwarm, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxJoinedSwarms, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxServedSwarmsPerPeer, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxServedSwarms, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(GracePeriod, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(FirstRequestTimeout, TimeSpan.Zero);
        // One member of the largest size always fits (its field tag, a length prefix of at most 5 bytes, its bytes), so
        // a Serve can always answer with some member.
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxServeAnswerSize, MaxPresenceSize + ServeAnswerOverhead + 6);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(AnswerStallTimeout, TimeSpan.Zero);
        // The watcher waits with Task.WaitAsync, whose timer takes at most about 49 days; a day is far past any real stall.
        ArgumentOutOfRangeException.ThrowIfGreaterThan(AnswerStallTimeout, TimeSpan.FromDays(1));
        ArgumentException.ThrowIfNullOrEmpty(NetworkName);
        ArgumentOutOfRangeException.ThrowIfLessThan(WatcherCapacity, 1);
    }
}
