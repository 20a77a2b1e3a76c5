using System.Buffers.Binary;
using System.Net;
using P2PStack.Encoding;

namespace P2PStack.Addressing;

/// <summary>
/// One protocol of a multiaddr with its value: e.g. <c>/tcp/4001</c>. Immutable; equality is on the encoded bytes.
/// </summary>
public sealed class MultiaddrComponent : IEquatable<MultiaddrComponent>
{
    private readonly ReadOnlyMemory<byte> encoded;
    private readonly int valueOffset;
    private string? text;

    /// <summary>Wraps already-validated bytes (code, optional length, value); <paramref name="encoded"/> is never written to.</summary>
    internal MultiaddrComponent(MultiaddrProtocol protocol, ReadOnlyMemory<byte> encoded, int valueOffset)
    {
        Protocol = protocol;
        this.encoded = encoded;
        this.valueOffset = valueOffset;
    }

    public MultiaddrProtocol Protocol { get; }

    /// <summary>The component's binary form: varint code, varint length if variable-size, value.</summary>
    public ReadOnlyMemory<byte> Bytes => encoded;

    /// <summary>The value's bytes (empty for protocols without a value).</summary>
    public ReadOnlyMemory<byte> RawValue => encoded[valueOffset..];

    /// <summary>The value's canonical text ("" for protocols without a value).</summary>
    public string Value => text ??= Protocol.Codec?.Format(RawValue.Span) ?? string.Empty;

    /// <summary>Builds a component from a protocol and the text of its value.</summary>
    /// <exception cref="MultiaddrException">The value is not valid for the protocol.</exception>
    public static MultiaddrComponent Create(MultiaddrProtocol protocol, string? value)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        if (protocol.Codec is null)
        {
            if (!string.IsNullOrEmpty(value)) throw new MultiaddrException($"/{protocol.Name} takes no value");
            return FromRawValue(protocol, default);
        }
        if (value is null) throw new MultiaddrException($"/{protocol.Name} needs a value");
        byte[] raw;
        try
        {
            raw = protocol.Codec.Parse(value);
        }
        catch (P2PFormatException e)
        {
            throw new MultiaddrException($"invalid /{protocol.Name} value: {e.Message}", e);
        }
        return FromRawValue(protocol, raw);
    }

    /// <summary>Builds a component from a protocol and its value's bytes.</summary>
    /// <exception cref="MultiaddrException">The bytes are not a valid value for the protocol.</exception>
    public static MultiaddrComponent FromRawValue(MultiaddrProtocol protocol, ReadOnlySpan<byte> rawValue)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        if (!protocol.HasValue && !rawValue.IsEmpty) throw new MultiaddrException($"/{protocol.Name} takes no value");
        if (protocol.FixedByteLength > 0 && rawValue.Length != protocol.FixedByteLength)
            throw new MultiaddrException($"/{protocol.Name} value has {rawValue.Length} bytes, expected {protocol.FixedByteLength}");
        int codeLength = protocol.EncodedCode.Length;
        int lengthPrefix = protocol.IsVariableSize ? Varint.SizeOf((ulong)rawValue.Length) : 0;
        var bytes = new byte[codeLength + lengthPrefix + rawValue.Length];
        protocol.EncodedCode.CopyTo(bytes);
        if (protocol.IsVariableSize) Varint.Write((ulong)rawValue.Length, bytes.AsSpan(codeLength));
        rawValue.CopyTo(bytes.AsSpan(codeLength + lengthPrefix));
        return MultiaddrCodec.ReadComponent(bytes, 0, out _);
    }

    /// <summary>An /ip4 or /ip6 component for <paramref name="address"/> (IPv4-mapped IPv6 stays /ip6).</summary>
    public static MultiaddrComponent FromIPAddress(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.AddressFamily switch
        {
            System.Net.Sockets.AddressFamily.InterNetwork => FromRawValue(MultiaddrProtocols.Ip4, address.GetAddressBytes()),
            System.Net.Sockets.AddressFamily.InterNetworkV6 => FromRawValue(MultiaddrProtocols.Ip6, address.GetAddressBytes()),
            _ => throw new ArgumentException($"address family {address.AddressFamily} has no multiaddr protocol", nameof(address)),
        };
    }

    /// <summary>A port component (/tcp, /udp, /dccp or /sctp).</summary>
    public static MultiaddrComponent FromPort(MultiaddrProtocol protocol, ushort port)
    {
        if (!IsPortProtocol(protocol)) throw new ArgumentException($"/{protocol.Name} is not a port protocol", nameof(protocol));
        Span<byte> value = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(value, port);
        return FromRawValue(protocol, value);
    }

    /// <summary>The address of an /ip4 or /ip6 component.</summary>
    public IPAddress ToIPAddress()
    {
        if (Protocol != MultiaddrProtocols.Ip4 && Protocol != MultiaddrProtocols.Ip6)
            throw new InvalidOperationException($"/{Protocol.Name} is not an IP address");
        return new IPAddress(RawValue.Span);
    }

    /// <summary>The port of a /tcp, /udp, /dccp or /sctp component.</summary>
    public ushort ToPort()
    {
        if (!IsPortProtocol(Protocol)) throw new InvalidOperationException($"/{Protocol.Name} is not a port");
        return BinaryPrimitives.ReadUInt16BigEndian(RawValue.Span);
    }

    /// <summary>This component alone as a multiaddr.</summary>
    public Multiaddr ToMultiaddr() => Multiaddr.FromComponents([this]);

    private static bool IsPortProtocol(MultiaddrProtocol? protocol) =>
        protocol == MultiaddrProtocols.Tcp || protocol == MultiaddrProtocols.Udp ||
        protocol == MultiaddrProtocols.Dccp || protocol == MultiaddrProtocols.Sctp;

    /// <summary><c>/name</c> or <c>/name/value</c> (a path value already begins with '/').</summary>
    public override string ToString()
    {
        string value = Value;
        if (value.Length == 0) return "/" + Protocol.Name;
        return Protocol.IsPath && value[0] == '/' ? "/" + Protocol.Name + value : "/" + Protocol.Name + "/" + value;
    }

    internal void AppendTo(System.Text.StringBuilder builder)
    {
        builder.Append('/').Append(Protocol.Name);
        string value = Value;
        if (value.Length == 0) return;
        if (!(Protocol.IsPath && value[0] == '/')) builder.Append('/');
        builder.Append(value);
    }

    public bool Equals(MultiaddrComponent? other) =>
        other is not null && encoded.Span.SequenceEqual(other.encoded.Span);

    public override bool Equals(object? obj) => Equals(obj as MultiaddrComponent);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(encoded.Span);
        return hash.ToHashCode();
    }

    public static bool operator ==(MultiaddrComponent? left, MultiaddrComponent? right) => left is null ? right is null : left.Equals(right);
    public static bool operator !=(MultiaddrComponent? left, MultiaddrComponent? right) => !(left == right);
}
