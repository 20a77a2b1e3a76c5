using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Order;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Perfolizer.Horology;

namespace P2PStack.Benchmarks;

/// <summary>
/// The job settings. Benchmarks run in-process (InProcessEmit): no per-benchmark project is generated and built,
/// which keeps a run on a 2-core machine short.
/// </summary>
public static class BenchmarkConfig
{
    /// <summary>Quick job: whole suite in a few minutes on 2 cores; still warm-up plus 10 measured iterations.</summary>
    public static Job QuickJob { get; } = Job.Default
        .WithToolchain(InProcessEmitToolchain.Instance)
        .WithLaunchCount(1)
        .WithWarmupCount(3)
        .WithIterationCount(10)
        .WithIterationTime(TimeInterval.FromMilliseconds(100))
        .WithId("Quick");

    /// <summary>Full job: BenchmarkDotNet's own adaptive warm-up and iteration counts.</summary>
    public static Job FullJob { get; } = Job.Default
        .WithToolchain(InProcessEmitToolchain.Instance)
        .WithId("Full");

    public static IConfig Create(bool quick) => DefaultConfig.Instance
        .AddJob(quick ? QuickJob : FullJob)
        .AddDiagnoser(MemoryDiagnoser.Default)
        .AddColumn(StatisticColumn.Median, StatisticColumn.Min)
        .AddExporter(JsonExporter.Full)
        .WithOrderer(new DefaultOrderer(SummaryOrderPolicy.Declared))
        .WithSummaryStyle(SummaryStyle.Default.WithTimeUnit(TimeUnit.Microsecond));
}
