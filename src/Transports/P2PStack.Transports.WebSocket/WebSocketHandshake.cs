using System.Buffers;
using System.Security.Cryptography;
using System.Text;

namespace P2PStack.Transports.WebSocket;

/// <summary>A client's HTTP upgrade request was not a valid RFC 6455 opening handshake.</summary>
public sealed class WebSocketHandshakeException(string message) : P2PFormatException(message);

/// <summary>Server side of the RFC 6455 opening handshake over HTTP/1.1.</summary>
internal static class WebSocketHandshake
{
    private const string AcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

    /// <summary>Sec-WebSocket-Accept for a client key (RFC 6455 section 4.2.2).</summary>
    public static string ComputeAccept(string key) =>
        Convert.ToBase64String(SHA1.HashData(System.Text.Encoding.ASCII.GetBytes(key + AcceptGuid)));

    /// <summary>Reads the request head, answers 101 if it is a valid upgrade, otherwise 400/426 and throws.</summary>
    public static async Task AcceptAsync(Stream stream, int maxHeadBytes, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(maxHeadBytes);
        try
        {
            int headLength = await ReadHeadAsync(stream, buffer, maxHeadBytes, cancellationToken).ConfigureAwait(false);
            string response;
            WebSocketHandshakeException? failure = null;
            try
            {
                string key = Validate(System.Text.Encoding.Latin1.GetString(buffer, 0, headLength));
                response = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                           $"Sec-WebSocket-Accept: {ComputeAccept(key)}\r\n\r\n";
            }
            catch (WebSocketHandshakeException e)
            {
                failure = e;
                response = e.Message.Contains("Sec-WebSocket-Version", StringComparison.Ordinal)
                    ? "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
                    : "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
            }
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(response), cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (failure is not null) throw failure;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task<int> ReadHeadAsync(Stream stream, byte[] buffer, int max, CancellationToken cancellationToken)
    {
        int filled = 0;
        while (true)
        {
            int read = await stream.ReadAsync(buffer.AsMemory(filled, max - filled), cancellationToken).ConfigureAwait(false);
            if (read == 0) throw new EndOfStreamException("the client closed the connection during the WebSocket handshake");
            int searchFrom = Math.Max(0, filled - 3);
            filled += read;
            int end = buffer.AsSpan(searchFrom, filled - searchFrom).IndexOf("\r\n\r\n"u8);
            if (end >= 0)
            {
                int headLength = searchFrom + end + 4;
                // A client must wait for our 101 before sending frames (RFC 6455 section 4.1).
                if (headLength != filled) throw new WebSocketHandshakeException("client sent data before the handshake completed");
                return headLength;
            }
            if (filled == max) throw new WebSocketHandshakeException($"HTTP request head exceeds {max} bytes");
        }
    }

    /// <summary>Checks the request and returns its Sec-WebSocket-Key.</summary>
    internal static string Validate(string head)
    {
        string[] lines = head.Split("\r\n");
        string[] requestLine = lines[0].Split(' ');
        if (requestLine.Length != 3 || requestLine[0] != "GET" || !requestLine[1].StartsWith('/'))
            throw new WebSocketHandshakeException("request line is not 'GET /path HTTP/1.1'");
        if (requestLine[2] != "HTTP/1.1") throw new WebSocketHandshakeException($"unsupported HTTP version '{requestLine[2]}'");

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (string line in lines.AsSpan(1))
        {
            if (line.Length == 0) continue;
            int colon = line.IndexOf(':');
            if (colon <= 0) throw new WebSocketHandshakeException("malformed HTTP header line");
            string name = line[..colon].Trim();
            string value = line[(colon + 1)..].Trim();
            headers[name] = headers.TryGetValue(name, out string? earlier) ? earlier + "," + value : value;
        }
        if (!headers.ContainsKey("Host")) throw new WebSocketHandshakeException("Host header is missing");
        if (!HasToken(headers, "Upgrade", "websocket")) throw new WebSocketHandshakeException("Upgrade header does not name websocket");
        if (!HasToken(headers, "Connection", "Upgrade")) throw new WebSocketHandshakeException("Connection header does not include Upgrade");
        if (!headers.TryGetValue("Sec-WebSocket-Version", out string? version) || version != "13")
            throw new WebSocketHandshakeException("Sec-WebSocket-Version must be 13");
        if (!headers.TryGetValue("Sec-WebSocket-Key", out string? key) || !IsValidKey(key))
            throw new WebSocketHandshakeException("Sec-WebSocket-Key is missing or not 16 base64-encoded bytes");
        return key;
    }

    private static bool HasToken(Dictionary<string, string> headers, string name, string token) =>
        headers.TryGetValue(name, out string? value)
        && value.Split(',').Any(part => part.Trim().Equals(token, StringComparison.OrdinalIgnoreCase));

    private static bool IsValidKey(string key)
    {
        Span<byte> decoded = stackalloc byte[18];
        return key.Length == 24 && Convert.TryFromBase64String(key, decoded, out int written) && written == 16;
    }
}
