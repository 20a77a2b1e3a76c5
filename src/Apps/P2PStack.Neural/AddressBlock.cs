using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Neural;

/// <summary>
/// What a remote's share of the replay cache is keyed by: something a peer cannot multiply for free the way it can
/// make peer ids and signer keys. A direct connection counts by the /24 (IPv4) or /48 (IPv6) its address is in; a
/// relayed one by the relay's (the address a circuit runs over); every anonymous connection (the destination's end of
/// an onion circuit) shares one block, and so do messages whose forwarding connection is gone. Only a transport with no
/// IP address at all (the in-process memory transport) counts by remote peer.
/// </summary>
internal readonly record struct AddressBlock(AddressBlock.Kinds Kind, UInt128 Prefix, PeerId? Peer)
{
    internal enum Kinds : byte { Ip4, Ip6, Anonymous, Unknown, Peer }

    public static AddressBlock Anonymous { get; } = new(Kinds.Anonymous, 0, null);

    /// <summary>A message whose connection is no longer there (gossip that arrived just before it closed).</summary>
    public static AddressBlock Unknown { get; } = new(Kinds.Unknown, 0, null);

    public static AddressBlock Of(IConnection connection)
    {
        if (connection.IsAnonymous) return Anonymous;
        return connection.RemoteAddress.GetIPAddress() is { } ip ? Of(ip) : new AddressBlock(Kinds.Peer, 0, connection.RemotePeer);
    }

    public static AddressBlock Of(IPAddress ip)
    {
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        Span<byte> bytes = stackalloc byte[16];
        ip.TryWriteBytes(bytes, out int written);
        if (ip.AddressFamily == AddressFamily.InterNetwork && written == 4)
            return new AddressBlock(Kinds.Ip4, BinaryPrimitives.ReadUInt32BigEndian(bytes) & 0xFFFF_FF00u, null);
        bytes[6..].Clear();
        return new AddressBlock(Kinds.Ip6, BinaryPrimitives.ReadUInt128BigEndian(bytes), null);
    }

    public override string ToString() => Kind switch
    {
        Kinds.Ip4 => $"{new IPAddress(BinaryPrimitives.ReverseEndianness((uint)Prefix))}/24",
        Kinds.Ip6 => $"{Ip6Text()}/48",
        Kinds.Peer => $"peer {Peer}",
        _ => Kind.ToString().ToLowerInvariant(),
    };

    private string Ip6Text()
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(bytes, Prefix);
        return new IPAddress(bytes).ToString();
    }
}
