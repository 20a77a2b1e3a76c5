using System.Net;
using Microsoft.AspNetCore.Http;

namespace SynapticMesh.Api;

/// <summary>
/// DNS rebinding protection for the loopback HTTP endpoints (control API, metrics): a web page can point a name it
/// controls at 127.0.0.1 and make the browser send requests there, but the browser then sends that name in the Host
/// header. Only requests naming a loopback host (<c>localhost</c>, <c>127.0.0.0/8</c>, <c>[::1]</c>) are served.
/// </summary>
public static class LoopbackHostFilter
{
    public const string RefusedMessage = "the Host header must name a loopback address (127.0.0.1, [::1] or localhost)";

    /// <summary>True when <paramref name="host"/> names this machine's loopback interface.</summary>
    public static bool IsLoopbackHost(HostString host)
    {
        if (!host.HasValue) return false;
        string name = host.Host;
        if (string.Equals(name, "localhost", StringComparison.OrdinalIgnoreCase)) return true;
        if (name.StartsWith('[') && name.EndsWith(']')) name = name[1..^1];
        return IPAddress.TryParse(name, out var address) && IPAddress.IsLoopback(address);
    }

    /// <summary>Answers 403 to any request whose Host header is not a loopback name, before anything else runs.</summary>
    public static Func<HttpContext, RequestDelegate, Task> Middleware { get; } = async (context, next) =>
    {
        if (IsLoopbackHost(context.Request.Host))
        {
            await next(context).ConfigureAwait(false);
            return;
        }
        context.Response.StatusCode = StatusCodes.Status403Forbidden;
        await context.Response.WriteAsJsonAsync(new ApiError(RefusedMessage)).ConfigureAwait(false);
    };
}
