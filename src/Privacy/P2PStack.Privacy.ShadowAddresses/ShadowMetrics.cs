using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;

namespace P2PStack.Privacy.ShadowAddresses;

/// <summary>Instruments of shadow addresses on the meter <c>P2PStack.Shadow</c>.</summary>
public sealed class ShadowMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.Shadow";

    private readonly Counter<long> _resolutions;
    private readonly Counter<long> _publications;
    private readonly Counter<long> _refused;
    private readonly Counter<long> _rotations;
    private readonly Counter<long> _connections;
    private readonly Counter<long> _introductions;
    private readonly Histogram<double> _setup;
    private readonly Counter<long> _introductionRotations;
    private long _introductionRotationCount;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _introductionsByResult = new();
    private long _rotationCount;
    private long _resolved;
    private long _resolveFailed;
    private long _refusedCount;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _refusedByReason = new();
    private long _published;

    public ShadowMetrics(IMeterFactory? factory) : base(factory, MeterName)
    {
        _resolutions = Meter.CreateCounter<long>("p2pstack_shadow_resolutions_total", "{resolution}",
            "Shadow address resolutions, by result (ok, not_found, invalid, no_path)");
        _publications = Meter.CreateCounter<long>("p2pstack_shadow_descriptor_publications_total", "{descriptor}",
            "Descriptors this node published for its shadow addresses");
        _refused = Meter.CreateCounter<long>("p2pstack_shadow_descriptors_refused_total", "{descriptor}",
            "Descriptors refused as a DHT node or a resolving client, by reason (malformed, wrong_key, wrong_period, expired, lifetime, signature, wrong_address, undecryptable)");
        _rotations = Meter.CreateCounter<long>("p2pstack_shadow_rotations_total", "{rotation}",
            "Shadow addresses replaced by a new one (uses or lifetime reached, or asked)");
        _connections = Meter.CreateCounter<long>("p2pstack_shadow_connections_total", "{connection}",
            "Connections to shadow addresses this node dialed, by result (ok, not_found, invalid, unreachable, handshake)");
        _introductions = Meter.CreateCounter<long>("p2pstack_shadow_introductions_total", "{connection}",
            "Connections arriving at this node's shadow addresses through introduction points, by result (accepted, refused)");
        _setup = Meter.CreateHistogram("p2pstack_shadow_connection_setup_seconds", "s",
            "Time to connect to a shadow address: resolution, circuit to an introduction point, join, end-to-end handshake", null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        _introductionRotations = Meter.CreateCounter<long>("p2pstack_shadow_introduction_rotations_total", "{rotation}",
            "Times the introduction points of one of this node's shadow addresses were renewed at the end of their lifetime");
    }

    /// <summary>Renewals of an address's introduction points (their circuits' lifetime reached).</summary>
    public long IntroductionRotations => Interlocked.Read(ref _introductionRotationCount);

    internal void IntroductionRotation()
    {
        Interlocked.Increment(ref _introductionRotationCount);
        _introductionRotations.Add(1);
    }

    /// <summary>Introduced connections so far by result (accepted, refused).</summary>
    public IReadOnlyDictionary<string, long> IntroductionsByResult => new Dictionary<string, long>(_introductionsByResult);

    internal void Connection(string result, TimeSpan? setup = null)
    {
        _connections.Add(1, new KeyValuePair<string, object?>("result", result));
        if (setup is { } time) _setup.Record(time.TotalSeconds);
    }

    internal void Introduction(string result)
    {
        _introductionsByResult.AddOrUpdate(result, 1, (_, n) => n + 1);
        _introductions.Add(1, new KeyValuePair<string, object?>("result", result));
    }

    public long Rotations => Interlocked.Read(ref _rotationCount);

    internal void Rotation()
    {
        Interlocked.Increment(ref _rotationCount);
        _rotations.Add(1);
    }

    public long Resolved => Interlocked.Read(ref _resolved);

    public long ResolveFailures => Interlocked.Read(ref _resolveFailed);

    /// <summary>Resolutions that found a retirement record (counted in <see cref="ResolveFailures"/> too).</summary>
    public long RetiredResolutions => Interlocked.Read(ref _retiredResolutions);

    private long _retiredResolutions;

    public long DescriptorsRefused => Interlocked.Read(ref _refusedCount);

    /// <summary>Refused descriptors so far by reason (what p2pstack_shadow_descriptors_refused_total counts).</summary>
    public IReadOnlyDictionary<string, long> DescriptorsRefusedByReason => new Dictionary<string, long>(_refusedByReason);

    public long Published => Interlocked.Read(ref _published);

    internal void Resolution(string result)
    {
        if (result == "ok") Interlocked.Increment(ref _resolved);
        else Interlocked.Increment(ref _resolveFailed);
        if (result == "retired") Interlocked.Increment(ref _retiredResolutions);
        _resolutions.Add(1, new KeyValuePair<string, object?>("result", result));
    }

    internal void Publication()
    {
        Interlocked.Increment(ref _published);
        _publications.Add(1);
    }

    /// <param name="reason"><see cref="ShadowFormatException.Reason"/>: one of a fixed set, so the label set stays bounded.</param>
    internal void DescriptorRefused(string reason)
    {
        Interlocked.Increment(ref _refusedCount);
        _refusedByReason.AddOrUpdate(reason, 1, (_, n) => n + 1);
        _refused.Add(1, new KeyValuePair<string, object?>("reason", reason));
    }
}
