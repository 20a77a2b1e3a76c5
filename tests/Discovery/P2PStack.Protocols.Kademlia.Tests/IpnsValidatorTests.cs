using System.Text.Json;
using P2PStack.Protocols.Kademlia.Validation;

namespace P2PStack.Protocols.Kademlia.Tests;

/// <summary>
/// The /ipns validator against records made by js-ipns 10.1.6 (TestData/ipns-records.json, from TestData/ipns-gen.mjs):
/// V1+V2 and V2-only records with Ed25519, RSA (key embedded) and secp256k1 keys are accepted as js accepts them; an
/// expired record, one whose V1 value differs from its signed data and one signed by another key are refused.
/// </summary>
public sealed class IpnsValidatorTests
{
    private static readonly JsonElement Vectors =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", "ipns-records.json"))).RootElement;

    public static TheoryData<string> Names => [.. Vectors.GetProperty("records").EnumerateArray().Select(r => r.GetProperty("name").GetString()!)];

    private static (byte[] Key, byte[] Record, bool Valid, ulong Sequence) Vector(string name)
    {
        var record = Vectors.GetProperty("records").EnumerateArray().Single(r => r.GetProperty("name").GetString() == name);
        return (Convert.FromHexString(record.GetProperty("keyHex").GetString()!), Convert.FromHexString(record.GetProperty("recordHex").GetString()!),
            record.GetProperty("valid").GetBoolean(), ulong.Parse(record.GetProperty("sequence").GetString()!));
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void AcceptsWhatJsAcceptsAndRefusesWhatItRefuses(string name)
    {
        var (key, record, valid, _) = Vector(name);
        var validator = new IpnsRecordValidator();
        if (valid) validator.Validate(key, record);
        else Assert.Throws<InvalidRecordException>(() => validator.Validate(key, record));
    }

    [Fact]
    public void RefusesRecordsPastTheirEndOfLife()
    {
        var (key, record, _, _) = Vector("ed25519 v2-only");
        new IpnsRecordValidator(new FixedClock(DateTimeOffset.UtcNow)).Validate(key, record);
        var later = new IpnsRecordValidator(new FixedClock(new DateTimeOffset(2200, 1, 1, 0, 0, 0, TimeSpan.Zero)));
        Assert.Contains("expired", Assert.Throws<InvalidRecordException>(() => later.Validate(key, record)).Message);
    }

    [Fact]
    public void SelectsTheHighestSequenceThenTheLatestEndOfLife()
    {
        var (key, v1v2, _, _) = Vector("ed25519 v1+v2");           // sequence 5
        var (_, v2, _, _) = Vector("ed25519 v2-only");             // sequence 6, 100 years
        var (_, shorter, _, _) = Vector("ed25519 v2-only same seq, shorter life"); // sequence 6, 50 years
        var validator = new IpnsRecordValidator();
        Assert.Equal(1, validator.Select(key, [v1v2, v2, shorter]));
        Assert.Equal(0, validator.Select(key, [v2, shorter, v1v2]));
        Assert.Equal(2, validator.Select(key, [shorter, v1v2, v2]));
    }

    [Fact]
    public void TamperedOrOversizedOrGarbageRecordsAreInvalidRecordsNeverCrashes()
    {
        var (key, record, _, _) = Vector("ed25519 v2-only");
        var validator = new IpnsRecordValidator();
        var random = new Random(3);
        for (int i = 0; i < 2000; i++)
        {
            byte[] mutated = (byte[])record.Clone();
            mutated[random.Next(mutated.Length)] ^= (byte)(1 << random.Next(8));
            if (i % 3 == 0) mutated = mutated[..random.Next(mutated.Length)];
            try
            {
                validator.Validate(key, mutated);
            }
            catch (InvalidRecordException)
            {
            }
        }
        Assert.Throws<InvalidRecordException>(() => validator.Validate(key, new byte[IpnsRecordValidator.MaxRecordSize + 1]));
        Assert.Throws<InvalidRecordException>(() => validator.Validate("/ipns/notamultihash"u8, record));
        Assert.Throws<InvalidRecordException>(() => validator.Validate("/pk/x"u8, record));
    }

    [Theory]
    [InlineData("2126-11-12T03:47:36.241012345Z", 2126, 241_0123)]
    [InlineData("2030-01-02T03:04:05Z", 2030, 0)]
    [InlineData("2030-01-02T03:04:05.5+02:00", 2030, 500_0000)]
    public void ParsesRfc3339WithNanoseconds(string text, int year, long fractionTicks)
    {
        var time = IpnsRecordValidator.ParseTime(System.Text.Encoding.ASCII.GetBytes(text));
        Assert.Equal(year, time.Year);
        Assert.Equal(fractionTicks, time.Ticks % TimeSpan.TicksPerSecond);
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
