using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using P2PStack.Registry.Storage;

namespace P2PStack.Registry.Security;

/// <summary>
/// The read endpoints' gate (<see cref="RegistryOptions.ReadAccess"/>): open, open on loopback, or a bearer token /
/// a request signed by a sovereign or an approved node.
/// </summary>
internal sealed class ReadAuthorizer(RegistryOptions options, RegistryStore store, RequestVerifier verifier)
{
    private readonly byte[][] _tokens = [.. options.ReadTokens.Select(t => System.Text.Encoding.UTF8.GetBytes("Bearer " + t))];

    /// <exception cref="RegistryException">401 without credentials, 403 for a signer that may not read.</exception>
    public async Task AuthorizeAsync(HttpContext context)
    {
        if (options.ReadAccess == ReadAccess.Open) return;
        if (options.ReadAccess == ReadAccess.LoopbackOpen && IsLoopback(context.Connection.RemoteIpAddress)) return;
        if (HasValidToken(context.Request)) return;
        if (RequestVerifier.IsSigned(context.Request))
        {
            var signed = await verifier.VerifyAsync(context).ConfigureAwait(false);
            if (store.IsSovereign(signed.Signer)) return;
            string? status = store.GetStatus(signed.Signer);
            if (status is NodeStatus.Active or NodeStatus.Offline) return;
            throw RegistryException.Forbidden($"{signed.Signer} may not read the registry: only sovereigns and approved nodes may (this one is {status ?? "not registered"})");
        }
        throw new RegistryException(401, "reading the registry needs a bearer token or a request signed by a sovereign or an approved node")
        {
            BearerChallenge = true,
        };
    }

    /// <summary>Whether the request passes without raising (used by GET / to decide what to show).</summary>
    public bool IsOpenTo(HttpContext context) =>
        options.ReadAccess == ReadAccess.Open
        || (options.ReadAccess == ReadAccess.LoopbackOpen && IsLoopback(context.Connection.RemoteIpAddress))
        || HasValidToken(context.Request);

    private bool HasValidToken(HttpRequest request)
    {
        if (_tokens.Length == 0) return false;
        byte[] presented = System.Text.Encoding.UTF8.GetBytes(request.Headers.Authorization.ToString());
        bool match = false;
        foreach (var token in _tokens) match |= CryptographicOperations.FixedTimeEquals(presented, token);
        return match;
    }

    public static bool IsLoopback(IPAddress? address) => address is not null && IPAddress.IsLoopback(address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address);
}
