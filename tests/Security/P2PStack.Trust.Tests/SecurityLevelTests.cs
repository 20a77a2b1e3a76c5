using Microsoft.Extensions.DependencyInjection;
using P2PStack.Discovery;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Transports.Memory;
using static P2PStack.Trust.Tests.TrustNode;

namespace P2PStack.Trust.Tests;

/// <summary>Each level on real hosts: who is refused, where (dial, accept), and what revocation and TOFU do.</summary>
public sealed class SecurityLevelTests
{
    private static async Task<IConnection> Dial(TrustNode from, TrustNode to, DialOptions? options = null) =>
        await from.Host.DialAsync(to.Address, options ?? DialOptions.Default, CancellationToken.None).AsTask().WaitAsync(Patience);

    /// <summary>
    /// <paramref name="from"/> dials <paramref name="to"/>, which refuses after the handshake, counting it under
    /// <paramref name="refusal"/>: the dialer either fails (the refusal reached it during the upgrade) or holds a
    /// connection that closes at once (with early muxer negotiation the dialer's upgrade ends before the responder has
    /// decided); the refusing node never lists it. The node counts the refusal as it closes the connection, which the
    /// dialer may notice first; and on a loaded machine an attempt may die before the gate (a handshake timeout), so
    /// the dialer tries again until the gate has refused it once.
    /// </summary>
    private static async Task RefusedAtAccept(TrustNode from, TrustNode to, (string Stage, string Reason) refusal,
        DialOptions? options = null)
    {
        long before = to.Metrics.ConnectionsRefused.GetValueOrDefault(refusal);
        var deadline = DateTime.UtcNow + Patience;
        do
        {
            try
            {
                var connection = await Dial(from, to, options);
                await connection.Completion.WaitAsync(Patience);
            }
            catch (Exception ex) when (ex is not TimeoutException)
            {
                // refused during the upgrade
            }
            await NoConnection(to, from.Host.PeerId);
            for (int i = 0; i < 100 && to.Metrics.ConnectionsRefused.GetValueOrDefault(refusal) == before; i++)
                await Task.Delay(20);
        }
        while (to.Metrics.ConnectionsRefused.GetValueOrDefault(refusal) == before && DateTime.UtcNow < deadline);
        Assert.True(to.Metrics.ConnectionsRefused.GetValueOrDefault(refusal) > before, $"the node never counted a refusal {refusal}");
    }

    /// <summary>Waits until <paramref name="node"/> lists a connection to <paramref name="peer"/> (the dialer's upgrade
    /// may end before the responder's).</summary>
    private static async Task<IConnection> Connected(TrustNode node, PeerId peer)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (node.Host.GetConnections(peer).Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the dialed node never listed the connection");
            await Task.Delay(20);
        }
        return Assert.Single(node.Host.GetConnections(peer));
    }

    /// <summary>Waits until <paramref name="node"/> has no connection to <paramref name="peer"/> (the inbound side
    /// may still be tearing down when the dialer's error arrives).</summary>
    private static async Task NoConnection(TrustNode node, PeerId peer)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (node.Host.GetConnections(peer).Count > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "a refused peer is still connected");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Development_accepts_any_peer_even_a_revoked_one()
    {
        await using var node = await StartAsync(SecurityLevel.Development);
        await using var other = await StartAsync(null);
        node.Store!.Revoke(other.Host.PeerId, "test");
        await Dial(other, node);
        await Dial(node, other);
    }

    [Fact]
    public async Task Signed_refuses_a_revoked_peer_at_dial_and_at_accept_and_admits_others()
    {
        await using var node = await StartAsync(SecurityLevel.Signed);
        await using var revoked = await StartAsync(null);
        await using var stranger = await StartAsync(null);
        node.Store!.Revoke(revoked.Host.PeerId, "compromised");

        var atDial = await Assert.ThrowsAsync<ConnectionGatedException>(() => Dial(node, revoked));
        Assert.Equal("dial", atDial.Stage);
        Assert.Contains("compromised", atDial.Reason);

        await RefusedAtAccept(revoked, node, ("secured", "revoked"));

        // Any other authenticated peer may connect, both ways.
        await Dial(stranger, node);
        await Dial(node, stranger);
    }

    [Fact]
    public async Task Revoking_a_connected_peer_closes_the_live_connection_and_keeps_it_out()
    {
        await using var node = await StartAsync(SecurityLevel.Secure);
        await using var peer = await StartAsync(null);
        var connection = await Dial(peer, node);
        var ours = await Connected(node, peer.Host.PeerId);

        node.Store!.Revoke(peer.Host.PeerId, "left the team");
        await ours.Completion.WaitAsync(Patience);
        await connection.Completion.WaitAsync(Patience); // the remote end sees the close too
        Assert.Empty(node.Host.GetConnections(peer.Host.PeerId));
        await RefusedAtAccept(peer, node, ("secured", "revoked"));
    }

    [Fact]
    public async Task Secure_refuses_a_classical_connection_from_a_peer_that_used_post_quantum_before()
    {
        await using var node = await StartAsync(SecurityLevel.Secure);
        await using var peer = await StartAsync(null);
        var first = await Dial(peer, node);
        Assert.StartsWith("/noise-mlkem", first.SecurityProtocol);
        await first.CloseAsync(CancellationToken.None);

        // A downgraded negotiation (an attacker answering na to the hybrid suites looks the same) is refused.
        var classical = new DialOptions { SecurityProtocols = ["/noise"], ForceNewConnection = true };
        await RefusedAtAccept(peer, node, ("secured", "pq_downgrade"), classical);

        // A peer never seen with post-quantum security may still connect classically.
        await using var classicalOnly = await StartAsync(null);
        await Dial(classicalOnly, node, classical);
    }

    [Fact]
    public async Task Tofu_trusts_the_first_key_and_refuses_a_different_key_later_under_the_same_name()
    {
        var network = new MemoryNetwork();
        string address = $"/memory/{Random.Shared.Next(1_000_000, int.MaxValue)}";
        await using var node = await StartAsync(SecurityLevel.Secure, o => o.AutoTrustFirst = true, "/memory/0", network);

        var original = await StartAsync(null, listen: address, network: network);
        var transportAddress = original.TransportAddress;
        await node.Host.DialAsync(transportAddress, CancellationToken.None).AsTask().WaitAsync(Patience);
        var trusted = node.Store!.FindByName(transportAddress.ToString());
        Assert.NotNull(trusted);
        Assert.Equal(original.Host.PeerId, trusted.Peer);
        Assert.Equal(TrustMethod.Tofu, trusted.Method);
        await original.DisposeAsync();

        // Another key answers at the same name: refused, and not trusted.
        await using var impostor = await StartAsync(null, listen: address, network: network);
        var refused = await Assert.ThrowsAsync<ConnectionGatedException>(() =>
            node.Host.DialAsync(transportAddress, CancellationToken.None).AsTask().WaitAsync(Patience));
        Assert.Contains(original.Host.PeerId.ToString(), refused.Reason);
        Assert.False(node.Store.IsTrusted(impostor.Host.PeerId));
        Assert.Empty(node.Host.GetConnections(impostor.Host.PeerId));
    }

    [Fact]
    public async Task Strict_admits_only_trusted_peers_in_both_directions()
    {
        await using var node = await StartAsync(SecurityLevel.Strict);
        await using var stranger = await StartAsync(null);
        await using var friend = await StartAsync(null);
        node.Store!.Trust(friend.Host.PeerId, "friend");

        // Refused at dial (peer id known before connecting) ...
        var atDial = await Assert.ThrowsAsync<ConnectionGatedException>(() => Dial(node, stranger));
        Assert.Equal("dial", atDial.Stage);
        // ... after the handshake when only an address was dialed ...
        var byAddress = await Assert.ThrowsAsync<ConnectionGatedException>(() =>
            node.Host.DialAsync(stranger.TransportAddress, CancellationToken.None).AsTask().WaitAsync(Patience));
        Assert.Equal("secured", byAddress.Stage);
        // ... and at accept (once the stranger has seen the refused connection go).
        await NoConnection(stranger, node.Host.PeerId);
        await RefusedAtAccept(stranger, node, ("secured", "untrusted"));
        Assert.True(node.Metrics.ConnectionsRefused.GetValueOrDefault(("secured", "untrusted")) >= 2); // with the address dial's

        // The trusted peer connects both ways.
        await Dial(friend, node);
        await node.Host.DisconnectAsync(friend.Host.PeerId, CancellationToken.None);
        await Dial(node, friend);
    }

    [Theory]
    [InlineData(SecurityLevel.Development, true, true, true)]
    [InlineData(SecurityLevel.Signed, false, true, true)]
    [InlineData(SecurityLevel.Secure, false, true, true)]
    [InlineData(SecurityLevel.Strict, false, false, true)]
    public async Task Discovery_policy_follows_the_level(SecurityLevel level, bool unsignedUsed, bool signedStrangerUsed, bool signedTrustedUsed)
    {
        await using var node = await StartAsync(level);
        var policy = node.Services.GetRequiredService<IDiscoveryPolicy>();
        var stranger = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
        var trusted = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
        var revoked = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
        node.Store!.Trust(trusted);
        node.Store.Revoke(revoked);
        Assert.Equal(unsignedUsed, policy.Refuse(stranger, DiscoveryEvidence.Unsigned, "mdns") is null);
        Assert.Equal(signedStrangerUsed, policy.Refuse(stranger, DiscoveryEvidence.SignedRecord, "lan") is null);
        Assert.Equal(signedTrustedUsed, policy.Refuse(trusted, DiscoveryEvidence.SignedRecord, "lan") is null);
        Assert.Equal(level == SecurityLevel.Development, policy.Refuse(revoked, DiscoveryEvidence.SignedRecord, "lan") is null);
    }
}
