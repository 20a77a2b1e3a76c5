using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace P2PStack.Nat.Stun;

/// <summary>The address attributes: MAPPED-ADDRESS layout (also RESPONSE-ORIGIN, OTHER-ADDRESS, ALTERNATE-SERVER) and
/// its XOR-ed form XOR-MAPPED-ADDRESS (RFC 8489 sections 14.1 and 14.2).</summary>
public static class StunAddress
{
    private const byte FamilyIPv4 = 0x01;
    private const byte FamilyIPv6 = 0x02;

    /// <summary>Bytes the attribute value takes for the address's family.</summary>
    public static int EncodedLength(IPEndPoint endpoint) => endpoint.AddressFamily == AddressFamily.InterNetworkV6 ? 20 : 8;

    public static IPEndPoint Decode(ReadOnlySpan<byte> value)
    {
        var (port, length) = Split(value);
        return new IPEndPoint(new IPAddress(value.Slice(4, length)), port);
    }

    public static IPEndPoint DecodeXor(ReadOnlySpan<byte> value, ReadOnlySpan<byte> transactionId)
    {
        var (port, length) = Split(value);
        var address = value.Slice(4, length);
        port ^= (ushort)(StunMessage.MagicCookie >> 16);
        Span<byte> mask = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32BigEndian(mask, StunMessage.MagicCookie);
        transactionId.CopyTo(mask[4..]);
        byte[] clear = address.ToArray();
        for (int i = 0; i < clear.Length; i++) clear[i] ^= mask[i];
        return new IPEndPoint(new IPAddress(clear), port);
    }

    public static void Encode(IPEndPoint endpoint, Span<byte> destination)
    {
        var ip = Normalise(endpoint.Address);
        destination[0] = 0;
        destination[1] = ip.AddressFamily == AddressFamily.InterNetworkV6 ? FamilyIPv6 : FamilyIPv4;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)endpoint.Port);
        if (!ip.TryWriteBytes(destination[4..], out _)) throw new ArgumentException("destination too short", nameof(destination));
    }

    public static void EncodeXor(IPEndPoint endpoint, ReadOnlySpan<byte> transactionId, Span<byte> destination)
    {
        Encode(new IPEndPoint(Normalise(endpoint.Address), endpoint.Port), destination);
        int length = EncodedLength(endpoint) - 4;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)(endpoint.Port ^ (int)(StunMessage.MagicCookie >> 16)));
        Span<byte> mask = stackalloc byte[16];
        BinaryPrimitives.WriteUInt32BigEndian(mask, StunMessage.MagicCookie);
        transactionId.CopyTo(mask[4..]);
        for (int i = 0; i < length; i++) destination[4 + i] ^= mask[i];
    }

    /// <summary>IPv4-mapped IPv6 addresses (from dual-mode sockets) travel as IPv4.</summary>
    public static IPAddress Normalise(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>Validates the layout; returns the port and the address length.</summary>
    private static (ushort Port, int AddressLength) Split(ReadOnlySpan<byte> value)
    {
        if (value.Length < 4) throw new StunFormatException($"an address attribute has {value.Length} bytes, fewer than 4");
        byte family = value[1];
        int expected = family switch
        {
            FamilyIPv4 => 8,
            FamilyIPv6 => 20,
            _ => throw new StunFormatException($"address family 0x{family:x2} is neither IPv4 (0x01) nor IPv6 (0x02)"),
        };
        if (value.Length != expected)
            throw new StunFormatException($"an {(family == FamilyIPv4 ? "IPv4" : "IPv6")} address attribute has {value.Length} bytes, not {expected}");
        return (BinaryPrimitives.ReadUInt16BigEndian(value[2..]), expected - 4);
    }
}
