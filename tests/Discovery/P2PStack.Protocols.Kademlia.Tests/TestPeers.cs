using System.Net;
using System.Security.Cryptography;
using P2PStack.Identity;

namespace P2PStack.Protocols.Kademlia.Tests;

internal static class TestPeers
{
    /// <summary>A random sha2-256 peer id (valid, cheap: no key generation).</summary>
    public static PeerId Random(Random? random = null)
    {
        var bytes = new byte[34];
        bytes[0] = 0x12;
        bytes[1] = 0x20;
        if (random is null) RandomNumberGenerator.Fill(bytes.AsSpan(2));
        else random.NextBytes(bytes.AsSpan(2));
        return PeerId.FromBytes(bytes);
    }

    /// <summary>A random peer whose keyspace point shares exactly <paramref name="cpl"/> bits with <paramref name="local"/>.</summary>
    public static PeerId WithCpl(PeerId local, int cpl) => KademliaDht.RandomPeerIdWithCommonPrefix(KadKey.FromPeer(local), cpl);

    public static IPAddress[] Ip(string address) => [IPAddress.Parse(address)];
}
