using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SynapticMesh.Cli;
using P2PStack.Network;
using SynapticMesh.Commands;

namespace SynapticMesh.Api;

/// <summary>
/// The node's control API: Kestrel on 127.0.0.1 (a port the system picks), every request authenticated by the
/// bearer token written to home/api.json. Only the CLI on this machine, as this user, can read that token. Requests
/// whose Host header is not a loopback name are refused first (DNS rebinding, <see cref="LoopbackHostFilter"/>), and
/// the CLI checks with <see cref="EndpointProof"/> that the port still belongs to this node before sending the token.
/// </summary>
public static class ControlApi
{
    public static string NewToken() => Base64Url(RandomNumberGenerator.GetBytes(32));

    public static void Configure(WebApplicationBuilder builder, ControlApiOptions options)
    {
        builder.Services.AddSingleton(Options.Create(options));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, 0);
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodySize;
            kestrel.AddServerHeader = false;
        });
        builder.Services.ConfigureHttpJsonOptions(json =>
            json.SerializerOptions.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull);
    }

    public static void Map(WebApplication app, string token)
    {
        byte[] expected = Encoding.UTF8.GetBytes("Bearer " + token);
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("SynapticMesh.ControlApi");
        app.Use(LoopbackHostFilter.Middleware);
        app.Use(async (context, next) =>
        {
            if (HttpMethods.IsGet(context.Request.Method) && context.Request.Path == EndpointProof.Path)
            {
                await AnswerEndpointProofAsync(context, token);
                return;
            }
            byte[] presented = Encoding.UTF8.GetBytes(context.Request.Headers.Authorization.ToString());
            if (!CryptographicOperations.FixedTimeEquals(presented, expected))
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await context.Response.WriteAsJsonAsync(new ApiError("missing or wrong bearer token", ErrorCodes.Refused));
                return;
            }
            try
            {
                await next(context);
            }
            catch (Exception e) when (!context.Response.HasStarted)
            {
                var (status, message, code) = context.RequestAborted.IsCancellationRequested
                    ? (StatusCodes.Status499ClientClosedRequest, "the client went away", ErrorCodes.Interrupted)
                    : ApiErrors.Map(e);
                if (status >= 500 && status != StatusCodes.Status502BadGateway && status != StatusCodes.Status504GatewayTimeout)
                    logger.LogError(e, "control API request {Path} failed", context.Request.Path);
                context.Response.StatusCode = status;
                await context.Response.WriteAsJsonAsync(new ApiError(message, code));
            }
        });
        P2PCommand.MapEndpoints(app);
    }

    /// <summary>Unauthenticated: proves to the CLI that this process holds the token, without it being sent.</summary>
    private static Task AnswerEndpointProofAsync(HttpContext context, string token)
    {
        string? challenge = context.Request.Query["challenge"];
        if (!EndpointProof.IsAcceptableChallenge(challenge))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return context.Response.WriteAsJsonAsync(new ApiError("challenge must be 16 to 128 printable characters"));
        }
        string peerId = context.RequestServices.GetRequiredService<IPeerHost>().PeerId.ToString();
        int pid = Environment.ProcessId;
        return context.Response.WriteAsJsonAsync(new EndpointProof.Answer(peerId, pid, EndpointProof.Compute(token, challenge!, peerId, pid)));
    }

    /// <summary>The port Kestrel bound (after start).</summary>
    public static int BoundPort(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        foreach (var address in addresses)
        {
            if (Uri.TryCreate(address, UriKind.Absolute, out var uri) && uri.Port > 0) return uri.Port;
        }
        throw new InvalidOperationException("the control API did not report its port");
    }

    /// <summary>Cancels when the client goes away or the operation budget runs out.</summary>
    public static CancellationTokenSource OperationScope(HttpContext context)
    {
        var options = context.RequestServices.GetRequiredService<IOptions<ControlApiOptions>>().Value;
        var scope = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        scope.CancelAfter(options.OperationTimeout);
        return scope;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
