using System.Globalization;
using System.Text.RegularExpressions;
using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Ipns.Pb;

namespace P2PStack.Protocols.Kademlia.Validation;

/// <summary>
/// The <c>/ipns</c> namespace (specs.ipfs.tech/ipns/ipns-record), as go and js peers store IPNS names in the DHT: key
/// <c>/ipns/</c> + the binary multihash of the name's peer id, value a protobuf IpnsEntry of at most
/// <see cref="MaxRecordSize"/> bytes. A record is valid when signatureV2 verifies over "ipns-signature:" + data with
/// the key the name designates (inlined in the peer id, or the record's pubKey when it matches the peer id), data
/// holds the five signed fields, every V1 field present equals its signed counterpart, and the EOL has not passed.
/// The best record has the highest sequence, then the latest EOL.
/// </summary>
public sealed partial class IpnsRecordValidator(TimeProvider? time = null) : IRecordValidator
{
    public const string Namespace = "ipns";

    /// <summary>Largest record accepted (the spec's 10 KiB).</summary>
    public const int MaxRecordSize = 10 * 1024;

    private static readonly byte[] SignaturePrefix = "ipns-signature:"u8.ToArray();

    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var name = NameOf(key);
        if (value.Length > MaxRecordSize) throw new InvalidRecordException($"an IPNS record is at most {MaxRecordSize} bytes, not {value.Length}");
        var (entry, data) = Open(value);
        var publicKey = PublicKeyOf(name, entry);
        byte[] signed = [.. SignaturePrefix, .. entry.Data.Span];
        bool verified;
        try
        {
            verified = publicKey.Verify(signed, entry.SignatureV2.Span);
        }
        catch (Exception e) when (e is KeyFormatException or ArgumentException or System.Security.Cryptography.CryptographicException)
        {
            verified = false;
        }
        if (!verified) throw new InvalidRecordException("the IPNS record's signature does not verify");
        if (data.ValidityType != (ulong)IpnsEntry.Types.ValidityType.Eol)
            throw new InvalidRecordException($"IPNS validity type {data.ValidityType} is not supported (only EOL)");
        if (ParseTime(data.Validity) <= _time.GetUtcNow()) throw new InvalidRecordException("the IPNS record has expired");
    }

    public int Select(ReadOnlySpan<byte> key, IReadOnlyList<ReadOnlyMemory<byte>> values)
    {
        if (values.Count == 0) throw new ArgumentException("no values to select from", nameof(values));
        int best = 0;
        (ulong Sequence, DateTimeOffset End) bestRank = default;
        for (int i = 0; i < values.Count; i++)
        {
            (ulong, DateTimeOffset) rank;
            try
            {
                var (_, data) = Open(values[i].Span);
                rank = (data.Sequence, data.ValidityType == 0 ? ParseTime(data.Validity) : DateTimeOffset.MinValue);
            }
            catch (InvalidRecordException)
            {
                continue;
            }
            if (i == 0 || rank.CompareTo(bestRank) > 0)
            {
                best = i;
                bestRank = rank;
            }
        }
        return best;
    }

    /// <summary>The peer id an IPNS key names.</summary>
    public static PeerId NameOf(ReadOnlySpan<byte> key)
    {
        var (ns, rest) = NamespacedValidator.SplitKey(key);
        if (ns != Namespace) throw new InvalidRecordException($"namespace '{ns}' is not '{Namespace}'");
        try
        {
            return PeerId.FromBytes(rest.Span);
        }
        catch (P2PFormatException e)
        {
            throw new InvalidRecordException($"an IPNS key holds no peer id: {e.Message}", e);
        }
    }

    private static (IpnsEntry Entry, IpnsData Data) Open(ReadOnlySpan<byte> value)
    {
        IpnsEntry entry;
        try
        {
            entry = IpnsEntry.Parser.ParseFrom(value);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidRecordException($"the IPNS record is not an IpnsEntry: {e.Message}", e);
        }
        if (!entry.HasSignatureV2 || entry.SignatureV2.IsEmpty) throw new InvalidRecordException("the IPNS record has no signatureV2");
        if (!entry.HasData || entry.Data.IsEmpty) throw new InvalidRecordException("the IPNS record has no data");
        var data = IpnsData.Parse(entry.Data.Span);
        // V1 fields are not covered by signatureV2: when a record carries them they must say what the signed data says.
        if ((entry.HasValue && !entry.Value.Span.SequenceEqual(data.Value))
            || (entry.HasValidity && !entry.Validity.Span.SequenceEqual(data.Validity))
            || (entry.HasValidityType && (ulong)entry.ValidityType != data.ValidityType)
            || (entry.HasSequence && entry.Sequence != data.Sequence)
            || (entry.HasTtl && entry.Ttl != data.Ttl))
            throw new InvalidRecordException("the IPNS record's V1 fields differ from its signed data");
        return (entry, data);
    }

    private static PublicKey PublicKeyOf(PeerId name, IpnsEntry entry)
    {
        if (entry.HasPubKey && !entry.PubKey.IsEmpty)
        {
            PublicKey embedded;
            try
            {
                embedded = PublicKey.FromProtobuf(entry.PubKey.Span);
            }
            catch (KeyFormatException e)
            {
                throw new InvalidRecordException($"the IPNS record's public key is invalid: {e.Message}", e);
            }
            return name.Matches(embedded) ? embedded : throw new InvalidRecordException("the IPNS record's public key is not the name's");
        }
        return name.TryGetPublicKey() ?? throw new InvalidRecordException("the IPNS record carries no public key and the name does not inline one");
    }

    /// <summary>An RFC 3339 time with up to nanosecond fractions (kept to .NET's 100 ns).</summary>
    internal static DateTimeOffset ParseTime(byte[] text)
    {
        var match = Rfc3339().Match(System.Text.Encoding.ASCII.GetString(text));
        if (!match.Success) throw new InvalidRecordException("the IPNS validity is not an RFC 3339 time");
        int Int(string group) => int.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture);
        try
        {
            var offset = match.Groups["zone"].Value is "Z" or "z"
                ? TimeSpan.Zero
                : TimeSpan.ParseExact(match.Groups["zone"].Value[1..], @"hh\:mm", CultureInfo.InvariantCulture) * (match.Groups["zone"].Value[0] == '-' ? -1 : 1);
            var time = new DateTimeOffset(Int("y"), Int("mo"), Int("d"), Int("h"), Int("mi"), Math.Min(Int("s"), 59), offset);
            string fraction = match.Groups["f"].Value;
            if (fraction.Length > 0) time = time.AddTicks(long.Parse(fraction.PadRight(7, '0')[..7], CultureInfo.InvariantCulture));
            return time;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            throw new InvalidRecordException("the IPNS validity is not a valid time", e);
        }
    }

    [GeneratedRegex(@"^(?<y>\d{4})-(?<mo>\d{2})-(?<d>\d{2})[Tt](?<h>\d{2}):(?<mi>\d{2}):(?<s>\d{2})(\.(?<f>\d{1,9}))?(?<zone>[Zz]|[+-]\d{2}:\d{2})$")]
    private static partial Regex Rfc3339();
}
