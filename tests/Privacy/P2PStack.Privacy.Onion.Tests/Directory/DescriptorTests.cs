using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Privacy.Onion.Directory;
using P2PStack.Protocols.Kademlia;

namespace P2PStack.Privacy.Onion.Tests.Directory;

/// <summary>Relay descriptors: a relay's own verifies; forged, re-signed, expired, future, malformed and wrong-network
/// descriptors are dropped and counted by reason, and the DHT refuses to store them.</summary>
public class DescriptorTests
{
    [Fact]
    public async Task Descriptors_verify_and_bad_ones_are_dropped_and_counted()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 1, clients: 1);
        var relay = network.Relays[0];
        var directory = network.Client.Client.Directory;
        var metrics = network.Client.Get<OnionMetrics>();
        var good = relay.Relay.SignedDescriptor();
        var info = directory.TryAdd(good);
        Assert.NotNull(info);
        Assert.Equal(relay.PeerId, info.Peer);
        Assert.True(info.IsExit);
        Assert.Equal(relay.Relay.Keys.Current.PublicKey, info.OnionKey);
        Assert.NotEmpty(info.Addresses);

        // A flipped byte anywhere breaks the signature (or the encoding).
        var random = new Random(3);
        for (int i = 0; i < 30; i++)
        {
            var bad = (byte[])good.Clone();
            bad[random.Next(bad.Length)] ^= (byte)(1 << random.Next(8));
            Assert.Null(directory.TryAdd(bad));
        }
        Assert.Equal(30, metrics.DescriptorsRejected);
        long before = metrics.DescriptorsRejected;
        // Signed by another key for this relay's peer id.
        using var other = PrivateKey.Generate(KeyType.Ed25519);
        var forged = RelayDescriptors.Seal(relay.Relay.BuildDescriptor(), other);
        Assert.Null(directory.TryAdd(forged));
        // Expired, and published in the future.
        var expired = relay.Relay.BuildDescriptor();
        expired.PublishedAt -= 100_000;
        expired.ExpiresAt = expired.PublishedAt + 60;
        Assert.Null(directory.TryAdd(RelayDescriptors.Seal(expired, relay.Relay.Identity.PrivateKey)));
        var future = relay.Relay.BuildDescriptor();
        future.PublishedAt += 100_000;
        future.ExpiresAt += 100_000;
        Assert.Null(directory.TryAdd(RelayDescriptors.Seal(future, relay.Relay.Identity.PrivateKey)));
        // Malformed: an onion key of the wrong size; another network's cell size.
        var malformed = relay.Relay.BuildDescriptor();
        malformed.OnionKeys[0].PublicKey = ByteString.CopyFrom(new byte[10]);
        Assert.Null(directory.TryAdd(RelayDescriptors.Seal(malformed, relay.Relay.Identity.PrivateKey)));
        var otherNetwork = relay.Relay.BuildDescriptor();
        otherNetwork.CellSize = 1024;
        Assert.Null(directory.TryAdd(RelayDescriptors.Seal(otherNetwork, relay.Relay.Identity.PrivateKey)));
        Assert.Equal(before + 5, metrics.DescriptorsRejected);
        Assert.Single(directory.Relays);

        // The DHT's validator refuses the same, and a descriptor stored under another relay's key.
        var validator = new RelayDescriptorValidator();
        validator.Validate(RelayDescriptors.KeyFor(relay.PeerId), good);
        Assert.Throws<InvalidRecordException>(() => validator.Validate(RelayDescriptors.KeyFor(relay.PeerId), forged));
        Assert.Throws<InvalidRecordException>(() => validator.Validate(RelayDescriptors.KeyFor(network.Client.PeerId), good));
        // The newest of two valid descriptors wins.
        var newer = relay.Relay.BuildDescriptor();
        newer.PublishedAt += 5;
        var newerBytes = RelayDescriptors.Seal(newer, relay.Relay.Identity.PrivateKey);
        Assert.Equal(1, validator.Select(RelayDescriptors.KeyFor(relay.PeerId), [good, newerBytes]));
    }
}
