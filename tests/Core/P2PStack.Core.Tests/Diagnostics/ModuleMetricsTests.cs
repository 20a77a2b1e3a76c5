using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;

namespace P2PStack.Tests.Diagnostics;

public sealed class ModuleMetricsTests
{
    private sealed class TestMetrics : ModuleMetrics
    {
        public TestMetrics(IMeterFactory? factory, string name) : base(factory, name) => Counter = Meter.CreateCounter<long>("test_total");

        public Counter<long> Counter { get; }

        public Meter OwnMeter => Meter;
    }

    private sealed class TestMeterFactory : IMeterFactory
    {
        public List<Meter> Created { get; } = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, this);
            Created.Add(meter);
            return meter;
        }

        public void Dispose()
        {
            foreach (var meter in Created) meter.Dispose();
        }
    }

    /// <summary>Counts the instruments of one meter whose measurements ended (the meter was disposed).</summary>
    private static MeterListener ListenForCompletion(string meterName, Action onCompleted)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) => { if (instrument.Meter.Name == meterName) l.EnableMeasurementEvents(instrument); },
            MeasurementsCompleted = (instrument, _) => { if (instrument.Meter.Name == meterName) onCompleted(); },
        };
        listener.Start();
        return listener;
    }

    [Fact]
    public void WithoutFactory_DisposeReleasesItsOwnMeter()
    {
        string name = $"P2PStack.Test.{Guid.NewGuid():N}";
        int completed = 0;
        var metrics = new TestMetrics(null, name);
        using var listener = ListenForCompletion(name, () => completed++);
        Assert.Equal(name, metrics.OwnMeter.Name);

        metrics.Dispose();

        Assert.Equal(1, completed);
    }

    [Fact]
    public void WithFactory_TheFactoryKeepsOwnershipOfTheMeter()
    {
        string name = $"P2PStack.Test.{Guid.NewGuid():N}";
        int completed = 0;
        using var factory = new TestMeterFactory();
        var metrics = new TestMetrics(factory, name);
        using var listener = ListenForCompletion(name, () => completed++);
        Assert.Same(factory.Created.Single(), metrics.OwnMeter);

        metrics.Dispose();
        Assert.Equal(0, completed);

        factory.Dispose();
        Assert.Equal(1, completed);
    }
}
