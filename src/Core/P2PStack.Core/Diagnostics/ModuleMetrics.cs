using System.Diagnostics.Metrics;

namespace P2PStack.Diagnostics;

/// <summary>
/// Base of a module's instruments: its <see cref="Meter"/> comes from the container's <see cref="IMeterFactory"/>,
/// which owns and disposes it, or, without a factory, is a meter of its own that <see cref="Dispose"/> releases.
/// </summary>
public abstract class ModuleMetrics : IDisposable
{
    private readonly bool _ownsMeter;

    /// <param name="factory">The container's meter factory, if it has one.</param>
    /// <param name="meterName">The meter's name, e.g. <c>P2PStack.GossipSub</c>.</param>
    protected ModuleMetrics(IMeterFactory? factory, string meterName)
    {
        _ownsMeter = factory is null;
        Meter = factory?.Create(meterName) ?? new Meter(meterName);
    }

    /// <summary>The meter the instruments are created on.</summary>
    protected Meter Meter { get; }

    /// <summary>Disposes the meter if no factory owns it.</summary>
    public void Dispose()
    {
        if (_ownsMeter) Meter.Dispose();
        GC.SuppressFinalize(this);
    }
}
