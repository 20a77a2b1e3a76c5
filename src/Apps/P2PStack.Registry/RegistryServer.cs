using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace P2PStack.Registry;

/// <summary>The registry as a running web server (Kestrel on <see cref="RegistryOptions.ListenAddress"/>:<see cref="RegistryOptions.Port"/>).</summary>
public sealed class RegistryServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private RegistryServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    /// <summary>The URL the server answers on, with the port really bound (a loopback host when bound to any address).</summary>
    public Uri BaseAddress { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Builds the web application without starting it (hosts that add their own pieces).</summary>
    public static WebApplication Build(RegistryOptions options, Action<ILoggingBuilder>? logging = null)
    {
        options.Validate();
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = "synaptic-mesh-registry" });
        builder.Logging.ClearProviders();
        logging?.Invoke(builder.Logging);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(options.ListenAddress, options.Port);
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            kestrel.Limits.MaxConcurrentConnections = options.MaxConnections;
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(15);
        });
        builder.Services.AddMeshRegistry(options);
        var app = builder.Build();
        app.UseMeshRegistry();
        return app;
    }

    public static async Task<RegistryServer> StartAsync(RegistryOptions options, Action<ILoggingBuilder>? logging = null,
        CancellationToken cancellationToken = default)
    {
        var app = Build(options, logging);
        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses
                .Select(a => new Uri(a)).FirstOrDefault(u => u.Port > 0)
                ?? throw new InvalidOperationException("the registry did not report its port");
            string host = options.ListenAddress.Equals(System.Net.IPAddress.Any) ? "127.0.0.1"
                : options.ListenAddress.Equals(System.Net.IPAddress.IPv6Any) ? "[::1]"
                : bound.Host;
            return new RegistryServer(app, new UriBuilder(bound.Scheme, host, bound.Port).Uri);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs one sweep now (tests and tools; the service sweeps by itself on its interval).</summary>
    public IReadOnlyList<string> SweepNow() => _app.Services.GetRequiredService<SweepService>().SweepOnce(
        _app.Services.GetRequiredService<RegistryOptions>().TimeProvider.GetUtcNow());

    /// <summary>Heartbeats recorded for a node within the retention window (diagnostics: the load benchmark counts lost ones).</summary>
    public long HeartbeatCount(string nodeId) => _app.Services.GetRequiredService<Storage.RegistryStore>().CountHeartbeats(nodeId);

    public Task WaitForShutdownAsync(CancellationToken cancellationToken) => _app.WaitForShutdownAsync(cancellationToken);

    public async ValueTask DisposeAsync()
    {
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(grace.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _app.DisposeAsync().ConfigureAwait(false); // disposes the store with the container
    }
}
