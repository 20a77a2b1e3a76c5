using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Core.Tests.Addressing;

public class MultiaddrPeerIdTests
{
    [Fact]
    public void GetPeerId_returns_the_last_p2p_component()
    {
        using var relayKey = PrivateKey.Generate();
        using var targetKey = PrivateKey.Generate();
        var relay = PeerId.FromPublicKey(relayKey.PublicKey);
        var target = PeerId.FromPublicKey(targetKey.PublicKey);
        var address = Multiaddr.Parse($"/ip4/127.0.0.1/tcp/4001/p2p/{relay}/p2p-circuit/p2p/{target}");
        Assert.Equal(target, address.GetPeerId());
        Assert.Null(Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001").GetPeerId());
    }

    [Fact]
    public void GetPeerId_rejects_a_multihash_that_is_no_peer_id()
    {
        // An identity multihash must inline a protobuf public key; these bytes are none.
        var hash = P2PStack.Encoding.Multihash.Identity([0x08, 0x01, 0x12, 0x03, 1, 2, 3]);
        var address = Multiaddr.FromComponents([MultiaddrComponent.FromRawValue(MultiaddrProtocols.P2P, hash.Encoded.Span)]);
        Assert.Throws<PeerIdException>(() => address.GetPeerId());
    }
}
