using System.IO.Pipelines;
using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Nat.Dcutr.Pb;

namespace P2PStack.Nat.Dcutr;

/// <summary>Wire logic of DCUtR (<c>/libp2p/dcutr</c>): HolePunch messages of at most 4 KiB, CONNECT with observed
/// addresses, then SYNC.</summary>
public static class DcutrProtocol
{
    public const string Id = "/libp2p/dcutr";

    /// <summary>The spec: refuse messages (length prefix excluded) larger than 4 KiB.</summary>
    public const int MaxMessageSize = 4096;

    /// <summary>Addresses of one CONNECT considered.</summary>
    public const int MaxAddresses = 32;

    public static async Task WriteConnectAsync(PipeWriter output, IEnumerable<Multiaddr> addresses, CancellationToken cancellationToken)
    {
        var message = new HolePunch { Type = HolePunch.Types.Type.Connect };
        message.ObsAddrs.AddRange(addresses.Select(a => ByteString.CopyFrom(a.Bytes.Span)));
        await ProtobufFraming.WriteAsync(output, message, cancellationToken).ConfigureAwait(false);
    }

    public static Task WriteSyncAsync(PipeWriter output, CancellationToken cancellationToken) =>
        ProtobufFraming.WriteAsync(output, new HolePunch { Type = HolePunch.Types.Type.Sync }, cancellationToken);

    /// <summary>Reads a CONNECT; returns its decodable addresses (at most <see cref="MaxAddresses"/>).</summary>
    /// <exception cref="DcutrFormatException">Oversized, malformed, without type, or not a CONNECT.</exception>
    public static async Task<IReadOnlyList<Multiaddr>> ReadConnectAsync(PipeReader input, CancellationToken cancellationToken)
    {
        var message = await ReadAsync(input, HolePunch.Types.Type.Connect, cancellationToken).ConfigureAwait(false);
        var addresses = new List<Multiaddr>();
        foreach (var bytes in message.ObsAddrs.Take(MaxAddresses))
        {
            if (Multiaddr.TryDecode(bytes.Span, out var address)) addresses.Add(address);
        }
        return addresses;
    }

    /// <exception cref="DcutrFormatException">Oversized, malformed, without type, or not a SYNC.</exception>
    public static Task ReadSyncAsync(PipeReader input, CancellationToken cancellationToken) =>
        ReadAsync(input, HolePunch.Types.Type.Sync, cancellationToken);

    private static async Task<HolePunch> ReadAsync(PipeReader input, HolePunch.Types.Type expected, CancellationToken cancellationToken)
    {
        var message = await ProtobufFraming.ReadAsync(input, HolePunch.Parser, MaxMessageSize,
            (reason, inner) => new DcutrFormatException($"dcutr: {reason}", inner), cancellationToken).ConfigureAwait(false);
        if (!message.HasType) throw new DcutrFormatException("dcutr: a HolePunch message without its (required) type");
        if (message.Type != expected) throw new DcutrFormatException($"dcutr: expected {expected}, got {message.Type}");
        return message;
    }
}

/// <summary>A DCUtR message is malformed, oversized or out of order.</summary>
public sealed class DcutrFormatException(string message, Exception? inner = null) : P2PFormatException(message, inner);
