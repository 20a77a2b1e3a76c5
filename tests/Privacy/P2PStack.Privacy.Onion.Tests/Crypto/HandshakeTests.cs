using P2PStack.Privacy.Onion.Crypto;

namespace P2PStack.Privacy.Onion.Tests.Crypto;

/// <summary>HX1, the per-hop key agreement: both sides derive the same keys; the client refuses any relay that does not
/// hold the onion key, a changed CREATED, or a handshake bound to another relay's identity.</summary>
public class HandshakeTests
{
    private static readonly byte[] RelayId = [0x00, 0x24, 1, 2, 3, 4];

    [Fact]
    public void Client_and_relay_agree_on_the_keys_and_the_relay_is_confirmed()
    {
        using var ring = new OnionKeyRing(TimeProvider.System, TimeSpan.FromHours(1), TimeSpan.FromMinutes(10));
        using var client = new OnionHandshake.Client(RelayId, ring.Current.PublicKey);
        Assert.Equal(OnionHandshake.CreateSize, client.Create.Length);
        var created = OnionHandshake.Respond(client.Create, ring, RelayId, out var relayKeys);
        Assert.Equal(OnionHandshake.CreatedSize, created.Length);
        using var clientKeys = client.Complete(created);
        Assert.Equal(relayKeys.Material.ToArray(), clientKeys.Material.ToArray());
        Assert.NotEqual(new byte[OnionHandshake.KeyMaterialSize], clientKeys.Material.ToArray());
        relayKeys.Dispose();
    }

    [Fact]
    public void With_keys_generated_ahead_and_the_onion_key_imported_once_both_sides_agree()
    {
        using var ring = new OnionKeyRing(TimeProvider.System, TimeSpan.FromHours(1), TimeSpan.FromMinutes(10));
        var onionKey = ring.Current.PublicKey.ToArray();
        var imported = OnionPublicKey.For(onionKey);
        Assert.Same(imported, OnionPublicKey.For(onionKey));             // imported once per descriptor key
        Assert.NotSame(imported, OnionPublicKey.For([.. onionKey]));    // a new descriptor's array: imported again
        Assert.Equal(OnionHandshake.KeyId(onionKey), imported.KeyId);

        var ephemeral = OnionHandshake.ClientEphemeral.Generate();
        using var client = new OnionHandshake.Client(RelayId, imported, ephemeral);
        Assert.Throws<InvalidOperationException>(() => new OnionHandshake.Client(RelayId, imported, ephemeral)); // used once
        using var relayEphemeral = P2PStack.Crypto.MLKem.X25519Key.Generate();
        var created = OnionHandshake.Respond(client.Create, ring, RelayId, relayEphemeral, out var relayKeys);
        Assert.Throws<ObjectDisposedException>(() => relayEphemeral.Agree(new byte[32], new byte[32])); // erased after its use
        using var clientKeys = client.Complete(created);
        Assert.Equal(relayKeys.Material.ToArray(), clientKeys.Material.ToArray());
        relayKeys.Dispose();
    }

    [Fact]
    public void Each_handshake_gives_fresh_keys()
    {
        using var ring = new OnionKeyRing(TimeProvider.System, TimeSpan.FromHours(1), TimeSpan.FromMinutes(10));
        using var first = new OnionHandshake.Client(RelayId, ring.Current.PublicKey);
        using var second = new OnionHandshake.Client(RelayId, ring.Current.PublicKey);
        using var a = first.Complete(OnionHandshake.Respond(first.Create, ring, RelayId, out var ra));
        using var b = second.Complete(OnionHandshake.Respond(second.Create, ring, RelayId, out var rb));
        Assert.NotEqual(a.Material.ToArray(), b.Material.ToArray());
        ra.Dispose();
        rb.Dispose();
        // The same CREATE answered twice (a replay) gives different keys: the relay encapsulates afresh.
        using var third = new OnionHandshake.Client(RelayId, ring.Current.PublicKey);
        OnionHandshake.Respond(third.Create, ring, RelayId, out var once);
        OnionHandshake.Respond(third.Create, ring, RelayId, out var twice);
        Assert.NotEqual(once.Material.ToArray(), twice.Material.ToArray());
        once.Dispose();
        twice.Dispose();
    }

    [Fact]
    public void A_relay_without_the_onion_key_is_not_confirmed()
    {
        using var ring = new OnionKeyRing(TimeProvider.System, TimeSpan.FromHours(1), TimeSpan.FromMinutes(10));
        using var other = new OnionKeyRing(TimeProvider.System, TimeSpan.FromHours(1), TimeSpan.FromMinutes(10));
        using var client = new OnionHandshake.Client(RelayId, ring.Current.PublicKey);
        // The impostor does not hold the key the CREATE names.
        Assert.Throws<OnionHandshakeException>(() => OnionHandshake.Respond(client.Create, other, RelayId, out _));
    }

    [Fact]
    public void A_handshake_answered_under_another_identity_or_changed_on_the_way_fails()
    {
        using var ring = new OnionKeyRing(TimeProvider.System, TimeSpan.FromHours(1), TimeSpan.FromMinutes(10));
        using (var client = new OnionHandshake.Client(RelayId, ring.Current.PublicKey))
        {
            var created = OnionHandshake.Respond(client.Create, ring, [9, 9, 9], out var k);
            k.Dispose();
            Assert.Throws<OnionHandshakeException>(() => client.Complete(created));
        }
        var random = new Random(2);
        for (int i = 0; i < 20; i++)
        {
            using var client = new OnionHandshake.Client(RelayId, ring.Current.PublicKey);
            var created = OnionHandshake.Respond(client.Create, ring, RelayId, out var k);
            k.Dispose();
            created[1 + random.Next(created.Length - 1)] ^= (byte)(1 << random.Next(8));
            Assert.Throws<OnionHandshakeException>(() => client.Complete(created));
        }
    }

    [Fact]
    public void Malformed_handshake_messages_raise_the_typed_exception()
    {
        using var ring = new OnionKeyRing(TimeProvider.System, TimeSpan.FromHours(1), TimeSpan.FromMinutes(10));
        Assert.Throws<OnionHandshakeException>(() => OnionHandshake.Respond(new byte[10], ring, RelayId, out _));
        var wrongType = new byte[OnionHandshake.CreateSize];
        wrongType[0] = 7;
        Assert.Throws<OnionHandshakeException>(() => OnionHandshake.Respond(wrongType, ring, RelayId, out _));
        using var client = new OnionHandshake.Client(RelayId, ring.Current.PublicKey);
        Assert.Throws<OnionHandshakeException>(() => client.Complete(new byte[5]));
    }

    [Fact]
    public void The_previous_onion_key_is_answered_during_the_overlap_then_erased()
    {
        var clock = new ManualTime(DateTimeOffset.UnixEpoch + TimeSpan.FromDays(20000));
        using var ring = new OnionKeyRing(clock, TimeSpan.FromHours(1), TimeSpan.FromMinutes(10));
        var old = ring.Current;
        using var client = new OnionHandshake.Client(RelayId, old.PublicKey);
        clock.Advance(TimeSpan.FromMinutes(61));
        Assert.True(ring.RotateIfDue());
        Assert.NotSame(old, ring.Current);
        OnionHandshake.Respond(client.Create, ring, RelayId, out var keys); // still answered
        keys.Dispose();
        clock.Advance(TimeSpan.FromMinutes(10));
        ring.RotateIfDue();
        Assert.Throws<OnionHandshakeException>(() => OnionHandshake.Respond(client.Create, ring, RelayId, out _));
        Assert.Single(ring.Keys);
    }
}

/// <summary>A clock the test moves.</summary>
internal sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
