using FsCheck;
using FsCheck.Fluent;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia;

namespace P2PStack.Privacy.ShadowAddresses.Tests;

/// <summary>Descriptors: round trip, and everything a forger, a replayer or a DHT node with stale data can try.</summary>
public class ShadowDescriptorTests
{
    private static readonly TimeSpan PeriodLength = TimeSpan.FromHours(1);
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_790_000_000 + 600);
    private static readonly ShadowPeriod Period = ShadowPeriod.At(Now, PeriodLength);

    internal static ShadowDescriptorContent Content(int points = 3) => new(
        [.. Enumerable.Range(0, points).Select(i =>
        {
            using var relay = PrivateKey.Generate();
            return new IntroductionPoint(PeerId.FromPublicKey(relay.PublicKey),
                [Multiaddr.Parse($"/ip4/198.51.100.{i + 1}/tcp/4001")], System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        })]);

    private static ShadowDescriptor Create(ShadowKey key, ShadowPeriod? period = null, DateTimeOffset? expires = null, ulong revision = 1) =>
        ShadowDescriptor.Create(key, period ?? Period, revision, expires ?? (period ?? Period).End + TimeSpan.FromMinutes(15), Content());

    [Fact]
    public void A_descriptor_round_trips_for_those_who_know_the_address()
    {
        var key = ShadowKey.Generate();
        var content = Content(3);
        var descriptor = ShadowDescriptor.Create(key, Period, 7, Period.End, content);
        byte[] dhtKey = ShadowDescriptor.DhtKey(key.Address, Period);
        var verified = ShadowDescriptor.Verify(dhtKey, descriptor.Encoded, Now, PeriodLength);
        Assert.Equal(7UL, verified.Revision);
        Assert.Equal(Period, verified.Period);
        var decrypted = verified.Decrypt(key.Address);
        Assert.Equal(content.IntroductionPoints.Select(p => p.Relay), decrypted.IntroductionPoints.Select(p => p.Relay));
        Assert.Equal(content.IntroductionPoints.Select(p => p.Addresses[0]), decrypted.IntroductionPoints.Select(p => p.Addresses[0]));
        Assert.Equal(content.IntroductionPoints.Select(p => p.AuthKey.ToArray()), decrypted.IntroductionPoints.Select(p => p.AuthKey.ToArray()));

        // One introduction point or ten: the same record size (the body is padded).
        Assert.Equal(ShadowDescriptor.Create(key, Period, 1, Period.End, Content(1)).Encoded.Length, descriptor.Encoded.Length);
    }

    [Fact]
    public void Another_address_cannot_read_it()
    {
        var key = ShadowKey.Generate();
        var descriptor = ShadowDescriptor.Verify(ShadowDescriptor.DhtKey(key.Address, Period), Create(key).Encoded, Now, PeriodLength);
        Assert.Throws<ShadowFormatException>(() => descriptor.Decrypt(ShadowKey.Generate().Address));
    }

    [Fact]
    public void Forged_descriptors_are_refused()
    {
        var key = ShadowKey.Generate();
        byte[] dhtKey = ShadowDescriptor.DhtKey(key.Address, Period);
        byte[] good = Create(key).Encoded;
        // Any byte flipped after the magic: key, period, revision, expiry, body or signature.
        foreach (int offset in new[] { 10, 50, 56, 64, 80, good.Length - 100, good.Length - 1 })
        {
            var forged = (byte[])good.Clone();
            forged[offset] ^= 0x01;
            Assert.ThrowsAny<ShadowFormatException>(() => ShadowDescriptor.Verify(dhtKey, forged, Now, PeriodLength));
        }
        // Signed by another key, stored under this address's key.
        var other = Create(ShadowKey.Generate()).Encoded;
        Assert.Throws<ShadowFormatException>(() => ShadowDescriptor.Verify(dhtKey, other, Now, PeriodLength));
        // Truncated, extended.
        Assert.Throws<ShadowFormatException>(() => ShadowDescriptor.Verify(dhtKey, good[..^1], Now, PeriodLength));
        Assert.Throws<ShadowFormatException>(() => ShadowDescriptor.Verify(dhtKey, [.. good, 0], Now, PeriodLength));
        Assert.Throws<ShadowFormatException>(() => ShadowDescriptor.Verify(dhtKey, good[..20], Now, PeriodLength));
    }

    [Fact]
    public void Expired_and_wrong_period_descriptors_are_refused()
    {
        var key = ShadowKey.Generate();
        // Expired.
        var expired = Create(key, expires: Now - TimeSpan.FromSeconds(1)).Encoded;
        var error = Assert.Throws<ShadowFormatException>(() =>
            ShadowDescriptor.Verify(ShadowDescriptor.DhtKey(key.Address, Period), expired, Now, PeriodLength));
        Assert.Contains("expired", error.Message);
        // Two periods old (a replay), and far in the future.
        foreach (var period in new[] { Period.Previous.Previous, Period.Next.Next })
        {
            var stale = Create(key, period, expires: Now + TimeSpan.FromMinutes(5)).Encoded;
            error = Assert.Throws<ShadowFormatException>(() =>
                ShadowDescriptor.Verify(ShadowDescriptor.DhtKey(key.Address, period), stale, Now, PeriodLength));
            Assert.Contains("period", error.Message);
        }
        // Another period length than the network's.
        var odd = ShadowPeriod.At(Now, TimeSpan.FromMinutes(30));
        error = Assert.Throws<ShadowFormatException>(() =>
            ShadowDescriptor.Verify(ShadowDescriptor.DhtKey(key.Address, odd), Create(key, odd).Encoded, Now, PeriodLength));
        Assert.Contains("period length", error.Message);
        // Lives too long after its period.
        var tooLong = Create(key, expires: Period.End + PeriodLength + TimeSpan.FromSeconds(1)).Encoded;
        Assert.Throws<ShadowFormatException>(() => ShadowDescriptor.Verify(ShadowDescriptor.DhtKey(key.Address, Period), tooLong, Now, PeriodLength));
        // Published for this period, but stored under the key of the next: refused.
        Assert.Throws<ShadowFormatException>(() =>
            ShadowDescriptor.Verify(ShadowDescriptor.DhtKey(key.Address, Period.Next), Create(key).Encoded, Now, PeriodLength));
    }

    [Fact]
    public void Each_refusal_carries_the_reason_it_is_counted_under()
    {
        var key = ShadowKey.Generate();
        byte[] dhtKey = ShadowDescriptor.DhtKey(key.Address, Period);
        byte[] good = Create(key).Encoded;
        var signature = (byte[])good.Clone();
        signature[^1] ^= 1;
        var odd = ShadowPeriod.At(Now, TimeSpan.FromMinutes(30));
        foreach (var (reason, refuse) in new (string, Action)[]
        {
            ("malformed", () => ShadowDescriptor.Verify(dhtKey, good[..^1], Now, PeriodLength)),
            ("wrong_key", () => ShadowDescriptor.Verify(ShadowDescriptor.DhtKey(key.Address, Period.Next), good, Now, PeriodLength)),
            ("wrong_period", () => ShadowDescriptor.Verify(ShadowDescriptor.DhtKey(key.Address, Period.Next.Next),
                Create(key, Period.Next.Next, expires: Now + TimeSpan.FromMinutes(5)).Encoded, Now, PeriodLength)),
            ("wrong_period", () => ShadowDescriptor.Verify(ShadowDescriptor.DhtKey(key.Address, odd), Create(key, odd).Encoded, Now, PeriodLength)),
            ("expired", () => ShadowDescriptor.Verify(dhtKey, Create(key, expires: Now - TimeSpan.FromSeconds(1)).Encoded, Now, PeriodLength)),
            ("lifetime", () => ShadowDescriptor.Verify(dhtKey, Create(key, expires: Period.End + PeriodLength + TimeSpan.FromSeconds(1)).Encoded, Now, PeriodLength)),
            ("signature", () => ShadowDescriptor.Verify(dhtKey, signature, Now, PeriodLength)),
            ("wrong_address", () => ShadowDescriptor.Verify(dhtKey, good, Now, PeriodLength).Decrypt(ShadowKey.Generate().Address)),
        })
        {
            Assert.Equal(reason, Assert.Throws<ShadowFormatException>(refuse).Reason);
        }
    }

    [Fact]
    public void The_validator_wraps_refusals_counts_them_and_prefers_the_highest_revision()
    {
        var metrics = new ShadowMetrics(null);
        var time = new ManualTime(Now);
        var validator = new ShadowDescriptorValidator(PeriodLength, time, metrics);
        var key = ShadowKey.Generate();
        byte[] dhtKey = ShadowDescriptor.DhtKey(key.Address, Period);
        byte[] one = Create(key, revision: 1).Encoded;
        byte[] five = Create(key, revision: 5).Encoded;
        validator.Validate(dhtKey, one);
        validator.Validate(dhtKey, five);
        Assert.Equal(1, validator.Select(dhtKey, [one, five, one]));
        var forged = (byte[])one.Clone();
        forged[^1] ^= 1;
        Assert.Throws<InvalidRecordException>(() => validator.Validate(dhtKey, forged));
        Assert.Equal(1, metrics.DescriptorsRefused);
        // Once the clock passes the expiry, DHT nodes refuse the same record.
        time.Now = Period.End + TimeSpan.FromMinutes(16);
        Assert.Throws<InvalidRecordException>(() => validator.Validate(dhtKey, one));
        // Counted by reason.
        Assert.Equal(new Dictionary<string, long> { ["signature"] = 1, ["expired"] = 1 }, metrics.DescriptorsRefusedByReason);
    }

    [Fact]
    public void Random_records_only_raise_the_typed_error()
    {
        var key = ShadowKey.Generate();
        byte[] dhtKey = ShadowDescriptor.DhtKey(key.Address, Period);
        byte[] good = Create(key).Encoded;
        Prop.ForAll<byte[], int>((noise, position) =>
        {
            // Random bytes, and the good record with random bytes written over part of it.
            foreach (var candidate in new[] { noise, Overwrite(good, noise, position) })
            {
                try
                {
                    ShadowDescriptor.Verify(dhtKey, candidate, Now, PeriodLength).Decrypt(key.Address);
                }
                catch (ShadowFormatException)
                {
                }
            }
        }).QuickCheckThrowOnFailure();
    }

    private static byte[] Overwrite(byte[] good, byte[] noise, int position)
    {
        var copy = (byte[])good.Clone();
        int at = (int)((uint)position % (uint)copy.Length);
        noise.AsSpan(0, Math.Min(noise.Length, copy.Length - at)).CopyTo(copy.AsSpan(at));
        return copy;
    }
}

/// <summary>A clock the test sets.</summary>
public sealed class ManualTime(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;

    public override DateTimeOffset GetUtcNow() => Now;
}
