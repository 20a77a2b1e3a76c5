using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Crypto.MLKem;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Privacy.Onion;
using P2PStack.Privacy.Onion.Directory;
using P2PStack.Privacy.ShadowAddresses.Service;

namespace P2PStack.Privacy.ShadowAddresses.Tests;

/// <summary>Introduction points are diverse by the onion path-diversity rules (shadow.md section 5): no two in one IPv4
/// /16, no two in one IPv6 /32, no two of one family; all of them apply only while the onion client's diversity is on.</summary>
public class OnionIntroductionSourceTests
{
    private const int Wanted = 3;

    [Theory]
    [InlineData("ipv4 /16")]
    [InlineData("ipv6 /32")]
    [InlineData("family")]
    public async Task Related_relays_give_one_point_and_unrelated_ones_as_many_as_wanted(string rule)
    {
        // Four relays related only by the rule under test: one point with the rule, three without it.
        var related = Enumerable.Range(0, 4).Select(i => rule switch
        {
            "ipv4 /16" => Descriptor($"/ip4/10.1.{i}.{i + 1}/tcp/4001"),
            "ipv6 /32" => Descriptor($"/ip6/2001:db8:{i + 1}::1/tcp/4001"),
            _ => Descriptor($"/ip4/{20 + i}.1.0.1/tcp/4001", family: "operator"),
        }).ToList();
        var points = await ChooseAsync(related, diversity: true);
        Assert.Single(points);
        Assert.Equal(Wanted, (await ChooseAsync(related, diversity: false)).Count);

        // Relays just outside the rule (a neighbouring /16 or /32, distinct families) are all usable.
        var unrelated = Enumerable.Range(0, 4).Select(i => rule switch
        {
            "ipv4 /16" => Descriptor($"/ip4/10.{i + 1}.0.1/tcp/4001"),
            "ipv6 /32" => Descriptor($"/ip6/2001:db{i}::1/tcp/4001"),
            _ => Descriptor($"/ip4/{20 + i}.1.0.1/tcp/4001", family: $"operator-{i}"),
        }).ToList();
        Assert.Equal(Wanted, (await ChooseAsync(unrelated, diversity: true)).Count);
    }

    [Fact]
    public async Task Every_choice_among_mixed_relays_is_pairwise_unrelated()
    {
        // Two in 10.1/16, two of family "op" (in distinct /16s), one alone: every greedy order yields three points, one
        // from each group.
        var relays = new[]
        {
            Descriptor("/ip4/10.1.0.1/tcp/4001"), Descriptor("/ip4/10.1.200.9/tcp/4001"),
            Descriptor("/ip4/20.1.0.1/tcp/4001", family: "op"), Descriptor("/ip4/30.1.0.1/tcp/4001", family: "op"),
            Descriptor("/ip4/40.1.0.1/tcp/4001"),
        };
        var (source, directory) = Source(relays, diversity: true);
        var address = ShadowKey.Generate().Address;
        for (int round = 0; round < 30; round++)
        {
            var points = (await source.GetAsync(address, CancellationToken.None)).IntroductionPoints;
            Assert.Equal(Wanted, points.Count);
            var chosen = points.Select(p => directory.Get(p.Relay)!).ToList();
            Assert.Single(chosen, r => r.Addresses[0].ToString().StartsWith("/ip4/10.1.", StringComparison.Ordinal));
            Assert.Single(chosen, r => r.Family is not null);
            Assert.Single(chosen, r => r.Addresses[0].ToString().StartsWith("/ip4/40.1.", StringComparison.Ordinal));
            source.Forget(address);
        }
    }

    private static async Task<IReadOnlyList<IntroductionPoint>> ChooseAsync(IEnumerable<byte[]> relays, bool diversity)
    {
        var (source, _) = Source(relays, diversity);
        return (await source.GetAsync(ShadowKey.Generate().Address, CancellationToken.None)).IntroductionPoints;
    }

    private static (OnionIntroductionSource Source, RelayDirectory Directory) Source(IEnumerable<byte[]> relays, bool diversity)
    {
        var onion = new OnionOptions();
        onion.Client.Diversity.Enabled = diversity;
        var directory = new RelayDirectory(Options.Create(onion), new OnionMetrics(null), NullLogger<RelayDirectory>.Instance);
        foreach (var relay in relays) Assert.NotNull(directory.TryAdd(relay));
        var self = new LocalIdentity(PrivateKey.Generate(KeyType.Ed25519));
        var source = new OnionIntroductionSource(directory, Options.Create(onion),
            Options.Create(new ShadowPublisherOptions { IntroductionPoints = Wanted }), self);
        return (source, directory);
    }

    // A relay's signed descriptor as the directory receives it (valid for a day, this network's cell size and protocol).
    private static byte[] Descriptor(string address, string? family = null)
    {
        var defaults = new OnionOptions();
        using var key = PrivateKey.Generate(KeyType.Ed25519);
        var now = DateTimeOffset.UtcNow;
        var descriptor = new Onion.Pb.RelayDescriptor
        {
            PeerId = ByteString.CopyFrom(PeerId.FromPublicKey(key.PublicKey).Bytes.Span),
            Bandwidth = 1 << 20,
            MaxCircuits = 16,
            PublishedAt = (ulong)now.ToUnixTimeSeconds(),
            ExpiresAt = (ulong)now.AddDays(1).ToUnixTimeSeconds(),
            CellSize = (uint)defaults.CellSize,
            Protocol = defaults.ProtocolId,
            ExitPolicy = new Onion.Pb.ExitPolicy(),
        };
        descriptor.Addresses.Add(ByteString.CopyFrom(Multiaddr.Parse(address).Bytes.Span));
        descriptor.OnionKeys.Add(new Onion.Pb.OnionKey
        {
            PublicKey = ByteString.CopyFrom(new byte[XWingKem.PublicKeySize]),
            ValidUntil = (ulong)now.AddDays(1).ToUnixTimeSeconds(),
        });
        if (family is not null) descriptor.Family = ByteString.CopyFrom(System.Text.Encoding.UTF8.GetBytes(family));
        return RelayDescriptors.Seal(descriptor, key);
    }
}
