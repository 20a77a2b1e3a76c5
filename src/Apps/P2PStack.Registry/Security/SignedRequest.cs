using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using P2PStack.Identity;
using P2PStack.Registry.Storage;

namespace P2PStack.Registry.Security;

/// <summary>A request whose signature, timestamp and nonce were checked: who signed it, and its body.</summary>
internal sealed record SignedRequest(PeerId Signer, PublicKey Key, byte[] Body);

/// <summary>
/// Checks signed requests (docs/specs/registry.md, "Request signing"): headers present and well formed, timestamp
/// within the window, body within the limit, signature valid over the canonical input, nonce never seen before.
/// </summary>
internal sealed class RequestVerifier(RegistryOptions options, RegistryStore store)
{
    /// <summary>True when the request carries any of the signature headers (then it must verify).</summary>
    public static bool IsSigned(HttpRequest request) =>
        request.Headers.ContainsKey(RequestSigning.SignatureHeader) || request.Headers.ContainsKey(RequestSigning.PublicKeyHeader);

    /// <exception cref="RegistryException">401 for a missing or bad signature, stale timestamp or replay; 413, 503.</exception>
    public async Task<SignedRequest> VerifyAsync(HttpContext context)
    {
        var request = context.Request;
        string? keyText = Single(request, RequestSigning.PublicKeyHeader);
        string? timestamp = Single(request, RequestSigning.TimestampHeader);
        string? nonce = Single(request, RequestSigning.NonceHeader);
        string? signatureText = Single(request, RequestSigning.SignatureHeader);
        if (keyText is null || timestamp is null || nonce is null || signatureText is null)
        {
            throw RegistryException.Unauthorized(
                $"this request must be signed: {RequestSigning.PublicKeyHeader}, {RequestSigning.TimestampHeader}, {RequestSigning.NonceHeader} and {RequestSigning.SignatureHeader} headers (docs/specs/registry.md)");
        }

        byte[] keyBytes = RequestSigning.DecodeBase64Url(keyText, RequestSigning.MaxPublicKeyLength)
            ?? throw RegistryException.Unauthorized($"{RequestSigning.PublicKeyHeader} is not unpadded base64url of a libp2p public key");
        PublicKey key;
        try
        {
            key = PublicKey.FromProtobuf(keyBytes);
        }
        catch (KeyFormatException e)
        {
            throw RegistryException.Unauthorized($"{RequestSigning.PublicKeyHeader} is not a valid libp2p public key: {e.Message}");
        }
        // Canonical encoding only, so one key has one header value.
        if (!key.ToProtobuf().AsSpan().SequenceEqual(keyBytes))
            throw RegistryException.Unauthorized($"{RequestSigning.PublicKeyHeader} is not the canonical encoding of the key");

        if (timestamp.Length is 0 or > 16 || !timestamp.All(char.IsAsciiDigit)
            || !long.TryParse(timestamp, NumberStyles.None, CultureInfo.InvariantCulture, out long signedAt))
            throw RegistryException.Unauthorized($"{RequestSigning.TimestampHeader} must be decimal Unix time in milliseconds");
        long now = options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
        long window = (long)options.TimestampWindow.TotalMilliseconds;
        if (Math.Abs(now - signedAt) > window)
            throw RegistryException.Unauthorized(
                $"the request's timestamp is {Math.Abs(now - signedAt) / 1000.0:0.#} s away from the registry's clock (at most {window / 1000.0:0.#} s allowed)");

        if (nonce.Length is < RequestSigning.MinNonceLength or > RequestSigning.MaxNonceLength
            || RequestSigning.DecodeBase64Url(nonce, RequestSigning.MaxNonceLength) is null)
            throw RegistryException.Unauthorized($"{RequestSigning.NonceHeader} must be {RequestSigning.MinNonceLength}-{RequestSigning.MaxNonceLength} characters of unpadded base64url");

        byte[] signature = RequestSigning.DecodeBase64Url(signatureText, RequestSigning.MaxSignatureLength)
            ?? throw RegistryException.Unauthorized($"{RequestSigning.SignatureHeader} is not unpadded base64url");

        byte[] body = await ReadBodyAsync(context).ConfigureAwait(false);
        string target = context.Features.Get<IHttpRequestFeature>()?.RawTarget is { Length: > 0 } raw
            ? raw
            : request.Path.ToUriComponent() + request.QueryString.ToUriComponent();
        byte[] input;
        try
        {
            input = RequestSigning.SigningInput(request.Method, request.Host.Value ?? "", target, timestamp, nonce, keyBytes, SHA256.HashData(body));
        }
        catch (ArgumentException e)
        {
            throw RegistryException.Unauthorized($"the request cannot be signed as sent: {e.Message}");
        }
        if (!key.Verify(input, signature))
            throw RegistryException.Unauthorized("the signature does not verify (signing input as in docs/specs/registry.md)");

        // Remembered past the far end of the window, so the same request cannot come back while its timestamp is valid.
        if (!store.TryUseNonce(nonce, signedAt + window + 1, options.MaxNonces))
            throw RegistryException.Unauthorized("replayed request: this nonce was used before");
        return new SignedRequest(PeerId.FromPublicKey(key), key, body);
    }

    /// <summary>Reads the whole body, refusing more than the configured limit (413) whatever Content-Length said.</summary>
    public async Task<byte[]> ReadBodyAsync(HttpContext context)
    {
        long max = options.MaxRequestBodyBytes;
        if (context.Request.ContentLength is long declared && declared > max)
            throw RegistryException.TooLarge($"the body is {declared} bytes; at most {max} are accepted");
        var buffer = new ArrayBufferWriter<byte>(4096);
        var stream = context.Request.Body;
        while (true)
        {
            var memory = buffer.GetMemory(4096);
            int read;
            try
            {
                read = await stream.ReadAsync(memory, context.RequestAborted).ConfigureAwait(false);
            }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
            {
                throw RegistryException.TooLarge($"the body is larger than {max} bytes");
            }
            if (read == 0) break;
            buffer.Advance(read);
            if (buffer.WrittenCount > max) throw RegistryException.TooLarge($"the body is larger than {max} bytes");
        }
        return buffer.WrittenSpan.ToArray();
    }

    private static string? Single(HttpRequest request, string name)
    {
        var values = request.Headers[name];
        if (values.Count == 0) return null;
        if (values.Count > 1) throw RegistryException.Unauthorized($"{name} appears more than once");
        return values[0];
    }
}
