using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using P2PStack.Metrics;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Node;

/// <summary>
/// <c>p2p start --metrics 127.0.0.1:PORT</c>: GET /metrics in the Prometheus text format, on its own Kestrel bound to
/// a loopback address only. It carries no token (Prometheus scrapes without one, as usual for a loopback exporter):
/// anyone who can open loopback sockets on this machine can read the counters, never change anything. Requests whose
/// Host header names anything but a loopback address are refused (<see cref="LoopbackHostFilter"/>), so a web page
/// cannot read the counters (and the peer ids in their labels) through DNS rebinding.
/// </summary>
public sealed class MetricsEndpoint : IAsyncDisposable
{
    /// <summary>Concurrent scrapers served; more wait in the accept queue.</summary>
    private const int MaxConnections = 8;

    private readonly WebApplication _app;

    private MetricsEndpoint(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    /// <summary>The scrape URL, with the port really bound.</summary>
    public Uri Url { get; }

    /// <summary>Parses <c>IPv4:port</c> or <c>[IPv6]:port</c> and refuses anything but a loopback address.</summary>
    /// <exception cref="CliException">Malformed, or not loopback (exit code 2).</exception>
    public static IPEndPoint Parse(string text)
    {
        bool hasPort = text.StartsWith('[') ? text.Contains("]:", StringComparison.Ordinal) : text.Count(c => c == ':') == 1;
        if (!hasPort || !IPEndPoint.TryParse(text, out var endpoint))
            throw new CliException($"--metrics wants a loopback address and port such as 127.0.0.1:9464 or [::1]:9464, not '{text}'", ExitCodes.Usage);
        if (!IPAddress.IsLoopback(endpoint.Address))
            throw new CliException($"--metrics serves without authentication, so it only binds loopback addresses (127.0.0.0/8, ::1), not {endpoint.Address}",
                ExitCodes.Usage);
        return endpoint;
    }

    /// <summary>Binds the endpoint (port 0 picks a free port) and serves the exporter's output.</summary>
    public static async Task<MetricsEndpoint> StartAsync(IPEndPoint endpoint, PrometheusExporter exporter, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            // No watcher on the working directory for appsettings.json reloads (nothing here reads them).
            Args = ["--hostBuilder:reloadConfigOnChange=false"],
            ApplicationName = "synaptic-mesh-metrics",
        });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(endpoint);
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxConcurrentConnections = MaxConnections;
            kestrel.Limits.MaxRequestBodySize = 0;
        });
        var app = builder.Build();
        app.Use(LoopbackHostFilter.Middleware);
        app.MapGet("/metrics", (HttpContext context) =>
        {
            context.Response.ContentType = PrometheusExporter.ContentType;
            context.Response.Headers.CacheControl = "no-store";
            return exporter.WriteToAsync(context.Response.Body, context.RequestAborted);
        });
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new CliException($"the metrics endpoint could not bind {endpoint}: {e.Message}", inner: e);
        }
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses
            .Select(a => new Uri(a)).FirstOrDefault(u => u.Port > 0)
            ?? throw new InvalidOperationException("the metrics endpoint did not report its port");
        return new MetricsEndpoint(app, new Uri(bound, "/metrics"));
    }

    public async ValueTask DisposeAsync()
    {
        using var grace = new CancellationTokenSource(SynapticMeshCli.ShutdownGrace);
        await _app.StopAsync(grace.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
