using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using P2PStack.Conformance.Security;
using P2PStack.Network;
using P2PStack.Security.Noise.Protocol;
using P2PStack.Testing;

namespace P2PStack.Security.Noise.Tests;

/// <summary>The static keys a host reuses across handshakes and the remote signatures it keeps as verified.</summary>
public class NoiseKeyCacheTests
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(30);

    [Fact]
    public void An_identity_keeps_its_static_key_and_signature_for_the_lifetime_then_gets_a_new_one()
    {
        var clock = new ManualClock();
        var keys = new NoiseStaticKeys(clock);
        var options = new NoiseOptions { StaticKeyLifetime = TimeSpan.FromMinutes(10) };
        var identity = TestIdentity.Generate();

        var first = keys.Get(identity, options);
        clock.Advance(TimeSpan.FromMinutes(9));
        var again = keys.Get(identity, options);
        Assert.Same(first, again);
        first.Release();
        again.Release();
        AssertUsable(first.Key); // still cached
        Assert.Equal(identity.PrivateKey.PublicKey.ToProtobuf(), first.IdentityKey);
        Assert.Equal(identity.PeerId, HandshakePayload.Verify(HandshakePayload.Create(first.IdentityKey, first.Signature, []),
            first.Key.PublicKey).PeerId);

        clock.Advance(TimeSpan.FromMinutes(1));
        var renewed = keys.Get(identity, options);
        Assert.False(renewed.Key.PublicKey.SequenceEqual(first.Key.PublicKey));
        Assert.Equal(1, keys.Count);
    }

    [Fact]
    public void Identities_have_keys_of_their_own_and_the_oldest_goes_first_at_the_cap()
    {
        var clock = new ManualClock();
        var keys = new NoiseStaticKeys(clock);
        var options = new NoiseOptions { StaticKeyCacheSize = 2 };
        var (a, b, c) = (TestIdentity.Generate(), TestIdentity.Generate(), TestIdentity.Generate());

        var keyA = keys.Get(a, options);
        clock.Advance(TimeSpan.FromSeconds(1));
        var keyB = keys.Get(b, options);
        Assert.False(keyA.Key.PublicKey.SequenceEqual(keyB.Key.PublicKey));
        clock.Advance(TimeSpan.FromSeconds(1));
        keys.Get(c, options);

        Assert.Equal(2, keys.Count);
        Assert.Same(keyB, keys.Get(b, options));
        Assert.NotSame(keyA, keys.Get(a, options)); // a was the oldest: evicted, so a new key
    }

    [Fact]
    public void A_zero_lifetime_makes_a_key_per_handshake_that_the_caller_owns()
    {
        var keys = new NoiseStaticKeys();
        var options = new NoiseOptions { StaticKeyLifetime = TimeSpan.Zero };
        var identity = TestIdentity.Generate();
        var first = keys.Get(identity, options);
        var second = keys.Get(identity, options);
        Assert.False(first.Key.PublicKey.SequenceEqual(second.Key.PublicKey));
        Assert.Equal(0, keys.Count);
        first.Release(); // the handshake's key, freed when it ends
        AssertDisposed(first.Key);
        AssertUsable(second.Key);
    }

    [Fact]
    public void An_evicted_key_is_freed_when_the_last_handshake_holding_it_ends()
    {
        var clock = new ManualClock();
        var keys = new NoiseStaticKeys(clock);
        var options = new NoiseOptions { StaticKeyCacheSize = 1 };
        var (a, b) = (TestIdentity.Generate(), TestIdentity.Generate());

        var idle = keys.Get(a, options);
        idle.Release(); // its handshake ended; only the cache holds it
        var held = keys.Get(a, options); // a handshake in progress holds it again
        Assert.Same(idle, held);

        clock.Advance(TimeSpan.FromSeconds(1));
        var other = keys.Get(b, options); // evicts a's key
        Assert.Equal(1, keys.Count);
        AssertUsable(held.Key); // the running handshake still agrees with it
        held.Release();
        AssertDisposed(held.Key); // freed with the last hold, not by the finalizer
        other.Release();
        AssertUsable(other.Key);
    }

    [Fact]
    public void A_key_replaced_after_its_lifetime_is_freed_once_released_and_disposing_the_cache_frees_the_rest()
    {
        var clock = new ManualClock();
        var keys = new NoiseStaticKeys(clock);
        var options = new NoiseOptions { StaticKeyLifetime = TimeSpan.FromMinutes(10) };
        var identity = TestIdentity.Generate();

        var old = keys.Get(identity, options);
        old.Release();
        clock.Advance(TimeSpan.FromMinutes(10));
        var renewed = keys.Get(identity, options);
        AssertDisposed(old.Key); // replaced with no handshake holding it
        AssertUsable(renewed.Key);

        keys.Dispose();
        AssertUsable(renewed.Key); // still held by its handshake
        renewed.Release();
        AssertDisposed(renewed.Key);
        // A handshake arriving after the dispose gets a key of its own (no ObjectDisposedException on the network path),
        // not cached: freed by its own release.
        var late = keys.Get(identity, options);
        Assert.Equal(0, keys.Count);
        AssertUsable(late.Key);
        late.Release();
        AssertDisposed(late.Key);
    }

    [Fact]
    public void Disposing_the_host_services_frees_the_cached_static_keys()
    {
        var services = new ServiceCollection();
        new P2PBuilder(services).AddNoise();
        var provider = services.BuildServiceProvider();
        var caches = provider.GetRequiredService<NoiseKeyCaches>();
        var entry = caches.StaticKeys.Get(TestIdentity.Generate(), new NoiseOptions());
        entry.Release();
        AssertUsable(entry.Key);
        provider.Dispose();
        AssertDisposed(entry.Key);
    }

    private static readonly byte[] SomePublicKey = X25519KeyPair.Generate().PublicKey.ToArray();

    private static void AssertUsable(X25519KeyPair key) => key.Agree(SomePublicKey, new byte[32]);

    private static void AssertDisposed(X25519KeyPair key) =>
        Assert.Throws<ObjectDisposedException>(() => key.Agree(SomePublicKey, new byte[32]));

    [Fact]
    public void A_cached_signature_is_reused_only_for_the_same_bytes()
    {
        var cache = new VerifiedPayloadCache();
        var identity = TestIdentity.Generate();
        byte[] staticKey = X25519KeyPair.Generate().PublicKey.ToArray();
        byte[] payload = HandshakePayload.Create(identity.PrivateKey, staticKey, []);
        Assert.Equal(identity.PeerId, HandshakePayload.Verify(payload, staticKey, cache, 16).PeerId);
        Assert.Equal(1, cache.Count);
        Assert.Equal(identity.PeerId, HandshakePayload.Verify(payload, staticKey, cache, 16).PeerId);
        Assert.Equal(1, cache.Count);

        // Same identity key and static key, another signature: verified, and refused.
        var parsed = Pb.NoiseHandshakePayload.Parser.ParseFrom(payload);
        byte[] signature = parsed.IdentitySig.ToByteArray();
        signature[10] ^= 1;
        parsed.IdentitySig = ByteString.CopyFrom(signature);
        Assert.Throws<HandshakeException>(() => HandshakePayload.Verify(parsed.ToByteArray(), staticKey, cache, 16));

        // The same payload presented with another static key: verified, and refused.
        byte[] otherStatic = X25519KeyPair.Generate().PublicKey.ToArray();
        Assert.Throws<HandshakeException>(() => HandshakePayload.Verify(payload, otherStatic, cache, 16));
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void The_verified_cache_holds_at_most_its_capacity()
    {
        var cache = new VerifiedPayloadCache();
        for (int i = 0; i < 5; i++)
        {
            var identity = TestIdentity.Generate();
            byte[] staticKey = X25519KeyPair.Generate().PublicKey.ToArray();
            HandshakePayload.Verify(HandshakePayload.Create(identity.PrivateKey, staticKey, []), staticKey, cache, 3);
        }

        Assert.Equal(3, cache.Count);
        HandshakePayload.Verify(HandshakePayload.Create(TestIdentity.Generate().PrivateKey, new byte[32], []), new byte[32], cache, 0);
        Assert.Equal(3, cache.Count); // capacity 0: nothing kept
    }

    [Theory]
    [InlineData(60, 1)]
    [InlineData(0, 2)]
    public async Task Two_handshakes_of_one_host_send_one_static_key_within_the_lifetime(int lifetimeMinutes, int signaturesVerified)
    {
        var client = TestIdentity.Generate();
        var server = TestIdentity.Generate();
        var clientCaches = new NoiseKeyCaches();
        var serverCaches = new NoiseKeyCaches();
        var clientChannel = new NoiseSecureChannel(NoiseSuite.MLKem768,
            Options.Create(new NoiseOptions { StaticKeyLifetime = TimeSpan.FromMinutes(lifetimeMinutes) }), clientCaches);
        var serverChannel = new NoiseSecureChannel(NoiseSuite.MLKem768, Options.Create(new NoiseOptions()), serverCaches);

        for (int i = 0; i < 2; i++)
        {
            var (rawClient, rawServer) = MemoryRawConnection.CreatePair();
            var outbound = clientChannel.SecureOutboundAsync(rawClient, client, server.PeerId, [], default).AsTask();
            var inbound = serverChannel.SecureInboundAsync(rawServer, server, [], default).AsTask();
            await Task.WhenAll(outbound, inbound).WaitAsync(Prompt);
            var (secureClient, secureServer) = (await outbound, await inbound);
            Assert.Equal(client.PeerId, secureServer.RemotePeer);
            Assert.Equal(server.PeerId, secureClient.RemotePeer);
            await secureClient.DisposeAsync();
            await secureServer.DisposeAsync();
        }

        // The server verified one signature when the client reused its key, two when it made one per handshake;
        // the client saw the server's one key twice.
        Assert.Equal(signaturesVerified, serverCaches.VerifiedPayloads.Count);
        Assert.Equal(1, clientCaches.VerifiedPayloads.Count);
    }
}
