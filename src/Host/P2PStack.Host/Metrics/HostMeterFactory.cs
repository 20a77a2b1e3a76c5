using System.Diagnostics.Metrics;

namespace P2PStack.Host.Metrics;

/// <summary>
/// The <see cref="IMeterFactory"/> of a bare container (a hosted app registers its own first): meters are scoped to
/// the factory, so that an exporter can tell one host's instruments from another's, and disposed with it.
/// </summary>
internal sealed class HostMeterFactory : IMeterFactory
{
    private readonly List<Meter> _meters = [];
    private bool _disposed;

    public Meter Create(MeterOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Scope is not null && !ReferenceEquals(options.Scope, this))
            throw new InvalidOperationException("the meter options name another scope than this factory");
        lock (_meters)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            foreach (var meter in _meters)
            {
                if (meter.Name == options.Name && meter.Version == options.Version && meter.Tags is null && options.Tags is null)
                    return meter;
            }
            var created = new Meter(options.Name, options.Version, options.Tags, this);
            _meters.Add(created);
            return created;
        }
    }

    public void Dispose()
    {
        Meter[] meters;
        lock (_meters)
        {
            if (_disposed) return;
            _disposed = true;
            meters = [.. _meters];
            _meters.Clear();
        }
        foreach (var meter in meters) meter.Dispose();
    }
}
