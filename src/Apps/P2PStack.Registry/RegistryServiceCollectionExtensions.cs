using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using P2PStack.Registry;
using P2PStack.Registry.Events;
using P2PStack.Registry.Security;
using P2PStack.Registry.Storage;

namespace P2PStack;

public static class RegistryServiceCollectionExtensions
{
    private const string CorsPolicy = "registry-reads";

    /// <summary>
    /// Registers the registry service: the SQLite store, request verification, read authorisation, the event hub,
    /// the sweep and the rate limiter. Map it with <see cref="UseMeshRegistry"/>.
    /// </summary>
    public static IServiceCollection AddMeshRegistry(this IServiceCollection services, RegistryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        services.AddSingleton(options);
        services.AddSingleton(sp => new RegistryStore(options.DatabasePath, options.BusyTimeout));
        services.AddSingleton<RequestVerifier>();
        services.AddSingleton<ReadAuthorizer>();
        services.AddSingleton<RegistryEventHub>();
        services.AddSingleton<Registry.Registry>();
        services.AddSingleton<SweepService>();
        services.AddHostedService(sp => sp.GetRequiredService<SweepService>());
        services.AddRateLimiter(limiter =>
        {
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                RateLimitPartition.GetTokenBucketLimiter(ClientPartition(context.Connection.RemoteIpAddress), _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = options.RateLimitBurst,
                    TokensPerPeriod = options.RateLimitPerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                }));
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                rejected.HttpContext.Response.Headers.RetryAfter = "1";
                await rejected.HttpContext.Response.WriteAsJsonAsync(new RegistryError("too many requests from this address; slow down"),
                    RegistryJson.Options, cancellationToken).ConfigureAwait(false);
            };
        });
        if (options.CorsOrigins.Count > 0)
        {
            services.AddCors(cors => cors.AddPolicy(CorsPolicy, policy => policy
                .WithOrigins([.. options.CorsOrigins]).WithMethods("GET").WithHeaders("Authorization")));
        }
        return services;
    }

    /// <summary>Adds the registry's middleware (errors, rate limits, CORS if configured) and endpoints.</summary>
    public static WebApplication UseMeshRegistry(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<RegistryOptions>();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("P2PStack.Registry");
        // Sovereigns from the operator's command line or config: the root of all later decisions.
        var store = app.Services.GetRequiredService<RegistryStore>();
        foreach (var key in options.InitialSovereigns)
        {
            store.AddSovereign(SovereignKey.Parse(key), "operator", null, options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds());
        }
        app.Use(async (context, next) =>
        {
            try
            {
                await next(context).ConfigureAwait(false);
            }
            catch (Exception e) when (!context.Response.HasStarted && !context.RequestAborted.IsCancellationRequested)
            {
                var (status, message) = e switch
                {
                    RegistryException registry => (registry.Status, registry.Message),
                    BadHttpRequestException bad => (bad.StatusCode, bad.Message),
                    JsonException json => (StatusCodes.Status400BadRequest, $"bad JSON: {json.Message}"),
                    _ => (StatusCodes.Status500InternalServerError, "internal error"),
                };
                if (status >= 500 && e is not RegistryException) logger.LogError(e, "registry request {Path} failed", context.Request.Path);
                context.Response.Clear();
                context.Response.StatusCode = status;
                if (e is RegistryException { BearerChallenge: true }) context.Response.Headers.WWWAuthenticate = "Bearer";
                await context.Response.WriteAsJsonAsync(new RegistryError(message), RegistryJson.Options).ConfigureAwait(false);
            }
            catch (Exception) when (context.RequestAborted.IsCancellationRequested)
            {
                // The client went away.
            }
        });
        app.UseRateLimiter();
        if (options.CorsOrigins.Count > 0)
        {
            app.UseCors(CorsPolicy);
        }
        RegistryEndpoints.Map(app);
        return app;
    }

    /// <summary>Rate-limit partition: the IPv4 address, or the /64 of an IPv6 address (one host owns a whole /64).</summary>
    internal static string ClientPartition(IPAddress? address)
    {
        if (address is null) return "unknown";
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return address.ToString();
        byte[] bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }
}
