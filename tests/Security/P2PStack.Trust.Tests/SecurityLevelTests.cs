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
    /// <paramref name="from"/> dials <paramref name="to"/>, which refuses after the handshake: the dialer either fails
    /// (the refusal reached it during the upgrade) or holds a connection that closes at once (with early muxer
    /// negotiation the dialer's upgrade ends before the responder has decided); the refusing node never lists it.
    /// </summary>
    private static async Task RefusedAtAccept(TrustNode from, TrustNode to, DialOptions? options = null)
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

        await RefusedAtAccept(revoked, node);
        Assert.Equal(1, node.Metrics.ConnectionsRefused[("secured", "revoked")]);

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
        var ours = Assert.Single(node.Host.GetConnections(peer.Host.PeerId));

        node.Store!.Revoke(peer.Host.PeerId, "left the team");
        await ours.Completion.WaitAsync(Patience);
        await connection.Completion.WaitAsync(Patience); // the remote end sees the close too
        Assert.Empty(node.Host.GetConnections(peer.Host.PeerId));
        await RefusedAtAccept(peer, node);
        Assert.Equal(1, node.Metrics.ConnectionsRefused[("secured", "revoked")]);
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
        await RefusedAtAccept(peer, node, classical);
        Assert.Equal(1, node.Metrics.ConnectionsRefused[("secured", "pq_downgrade")]);

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
        // The address dial and the accept are both counted. The node counts the accept-side refusal as it closes the
        // connection, which the dialer may notice first; and under load the stranger's attempt may fail before the
        // node's gate (a handshake timeout), so it tries again until the gate has refused it once.
        var deadline = DateTime.UtcNow + Patience;
        while (node.Metrics.ConnectionsRefused.GetValueOrDefault(("secured", "untrusted")) < 2 && DateTime.UtcNow < deadline)
        {
            await RefusedAtAccept(stranger, node);
            for (int i = 0; i < 50 && node.Metrics.ConnectionsRefused.GetValueOrDefault(("secured", "untrusted")) < 2; i++)
                await Task.Delay(20);
        }
        Assert.True(node.Metrics.ConnectionsRefused.GetValueOrDefault(("secured", "untrusted")) >= 2);

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
