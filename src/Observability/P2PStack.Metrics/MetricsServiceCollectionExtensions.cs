using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using P2PStack.Metrics;

namespace P2PStack;

public static class MetricsServiceCollectionExtensions
{
    /// <summary>
    /// Registers a <see cref="PrometheusExporter"/> scoped to this container's <see cref="IMeterFactory"/>, so that it
    /// exports this node's meters (and unscoped P2PStack meters) only. Resolve it before the host starts: counters
    /// and histograms count from the moment the exporter exists.
    /// </summary>
    public static IP2PBuilder AddPrometheusExporter(this IP2PBuilder builder, Action<PrometheusExporterOptions>? configure = null)
    {
        builder.Services.TryAddSingleton(sp =>
        {
            var options = new PrometheusExporterOptions { Scope = sp.GetService<IMeterFactory>() };
            configure?.Invoke(options);
            return new PrometheusExporter(options);
        });
        return builder;
    }
}
