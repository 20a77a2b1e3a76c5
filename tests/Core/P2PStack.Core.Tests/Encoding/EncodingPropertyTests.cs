using FsCheck;
using FsCheck.Fluent;
using P2PStack.Encoding;

namespace P2PStack.Core.Tests.Encoding;

/// <summary>
/// Seeded random round trips and fuzzing: valid values survive encode/decode, and random, truncated or mutated input
/// only ever raises the decoder's own typed exception.
/// </summary>
public class EncodingPropertyTests
{
    private static readonly MultibaseEncoding[] AllEncodings = Enum.GetValues<MultibaseEncoding>();
    private static readonly bool[] CaseInsensitive = BuildCaseInsensitive();

    private static bool[] BuildCaseInsensitive()
    {
        var flags = new bool[128];
        foreach (char c in "fFvVtTbBcCkK") flags[c] = true;
        return flags;
    }

    private static byte[] RandomBytes(Random random, int maxLength)
    {
        var data = new byte[random.Next(0, maxLength + 1)];
        random.NextBytes(data);
        if (data.Length > 0 && random.Next(4) == 0) data.AsSpan(0, random.Next(1, Math.Min(4, data.Length) + 1)).Clear();
        return data;
    }

    /// <summary>Runs <paramref name="decode"/> and fails on any exception other than <typeparamref name="T"/>.</summary>
    private static bool DecodesOrThrows<T>(Action decode) where T : Exception
    {
        try
        {
            decode();
            return true;
        }
        catch (T)
        {
            return false;
        }
    }

    private static string Mutate(Random random, string text)
    {
        const string Noise = "0189aAzZ=+/-_lIO\u00e9 \0\ud83d";
        var chars = new List<char>(text);
        switch (random.Next(4))
        {
            case 0 when chars.Count > 0: chars[random.Next(chars.Count)] = Noise[random.Next(Noise.Length)]; break;
            case 1 when chars.Count > 0: chars.RemoveAt(random.Next(chars.Count)); break;
            case 2: chars.Insert(random.Next(chars.Count + 1), Noise[random.Next(Noise.Length)]); break;
            default:
                int at = random.Next(chars.Count + 1);
                chars.RemoveRange(at, chars.Count - at);
                break;
        }
        return new string([.. chars]);
    }

    private static byte[] MutateBytes(Random random, byte[] bytes)
    {
        byte[] copy = (byte[])bytes.Clone();
        switch (random.Next(3))
        {
            case 0 when copy.Length > 0: copy[random.Next(copy.Length)] ^= (byte)(1 << random.Next(8)); return copy;
            case 1: return copy[..random.Next(copy.Length + 1)];
            default: return [.. copy, (byte)random.Next(256)];
        }
    }

    [Fact]
    public void Varint_round_trips_every_value_width()
    {
        Prop.ForAll(ArbMap.Default.ArbFor<ulong>(), v =>
        {
            ulong value = v & Varint.MaxValue;
            byte[] encoded = Varint.Encode(value);
            return Varint.Read(encoded, out int read) == value && read == encoded.Length && encoded.Length == Varint.SizeOf(value);
        }).QuickCheckThrowOnFailure();

        var random = new Random(1);
        for (int bits = 0; bits <= 63; bits++)
        {
            ulong value = bits == 0 ? 0 : (1UL << (bits - 1)) | ((ulong)random.NextInt64() & ((1UL << (bits - 1)) - 1));
            Assert.Equal(value, Varint.Read(Varint.Encode(value), out _));
        }
    }

    [Fact]
    public void Varint_random_bytes_only_throw_VarintException()
    {
        var random = new Random(2);
        for (int i = 0; i < 5000; i++)
        {
            byte[] data = new byte[random.Next(0, 12)];
            random.NextBytes(data);
            if (DecodesOrThrows<VarintException>(() => Varint.Read(data, out _)))
            {
                // Whatever decodes is the unique minimal encoding of its value.
                ulong value = Varint.Read(data, out int read);
                Assert.Equal(Varint.Encode(value), data[..read]);
            }
            DecodesOrThrows<VarintException>(() => Varint.TryReadPrefix(data, out _, out _));
        }
    }

    [Fact]
    public void Every_multibase_round_trips_random_data()
    {
        var random = new Random(3);
        foreach (MultibaseEncoding encoding in AllEncodings)
        {
            for (int i = 0; i < 150; i++)
            {
                byte[] data = RandomBytes(random, 60);
                string text = Multibase.Encode(encoding, data);
                Assert.Equal(data, Multibase.Decode(text, out MultibaseEncoding decodedAs));
                Assert.Equal(encoding, decodedAs);
            }
        }
    }

    [Fact]
    public void Multibase_mutations_decode_canonically_or_throw_MultibaseException()
    {
        var random = new Random(4);
        foreach (MultibaseEncoding encoding in AllEncodings)
        {
            for (int i = 0; i < 300; i++)
            {
                string text = Mutate(random, Multibase.Encode(encoding, RandomBytes(random, 24)));
                byte[]? decoded = null;
                MultibaseEncoding actual = default;
                if (!DecodesOrThrows<MultibaseException>(() => decoded = Multibase.Decode(text, out actual))) continue;
                // Anything accepted is the one encoding of its bytes (up to letter case where multibase ignores it).
                string again = Multibase.Encode(actual, decoded!);
                var comparison = CaseInsensitive[(char)actual] ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
                Assert.True(string.Equals(text, again, comparison), $"{text} decoded but re-encodes as {again}");
            }
        }
    }

    [Fact]
    public void Random_strings_only_throw_MultibaseException()
    {
        var random = new Random(5);
        const string Pool = "0179fFvVtTbBcChkKzZmMuUQ/\0=+-_abcXYZ2345678lIO\u00e9\ud83d\ude80 ";
        for (int i = 0; i < 5000; i++)
        {
            var chars = new char[random.Next(0, 20)];
            for (int j = 0; j < chars.Length; j++) chars[j] = Pool[random.Next(Pool.Length)];
            string text = new(chars);
            DecodesOrThrows<MultibaseException>(() => Multibase.Decode(text));
            DecodesOrThrows<MultibaseException>(() => Base58.Decode(text));
            DecodesOrThrows<MultibaseException>(() => Base32.Decode(text));
            DecodesOrThrows<MultibaseException>(() => Base64.DecodeUrl(text, padded: random.Next(2) == 0));
            DecodesOrThrows<CidException>(() => Cid.Parse(text));
            DecodesOrThrows<MultihashException>(() => Multihash.Parse(text));
        }
    }

    private static readonly ulong[] ComputableCodes =
    [
        MultihashCode.Identity, MultihashCode.Sha1, MultihashCode.Sha2_256, MultihashCode.Sha2_384, MultihashCode.Sha2_512,
        MultihashCode.Sha3_224, MultihashCode.Sha3_256, MultihashCode.Sha3_384, MultihashCode.Sha3_512,
        MultihashCode.DoubleSha2_256, MultihashCode.Blake2b256, MultihashCode.Blake2b512, MultihashCode.Blake2b160,
        MultihashCode.Blake2s256,
    ];

    private static Multihash RandomMultihash(Random random)
    {
        byte[] data = RandomBytes(random, 50);
        if (random.Next(3) == 0)
        {
            // An unknown function code of any width, with a digest of any length.
            ulong code = (ulong)random.NextInt64(0x300000, long.MaxValue) >> random.Next(0, 40);
            if (MultihashCode.DigestLength(code) >= 0 || code == MultihashCode.Identity) code = 0x300000;
            return Multihash.Create(code, data);
        }
        ulong known = ComputableCodes[random.Next(ComputableCodes.Length)];
        return Multihash.Compute(known, data);
    }

    [Fact]
    public void Multihash_round_trips_and_fuzzes_cleanly()
    {
        var random = new Random(6);
        for (int i = 0; i < 1500; i++)
        {
            Multihash hash = RandomMultihash(random);
            byte[] bytes = hash.ToBytes();
            Assert.Equal(hash, Multihash.Decode(bytes));
            Assert.Equal(hash, Multihash.Parse(hash.ToString()));
            Assert.Equal(hash, Multihash.Read([.. bytes, .. RandomBytes(random, 5)], out int read));
            Assert.Equal(bytes.Length, read);

            Assert.Throws<MultihashException>(() => Multihash.Decode(bytes[..random.Next(bytes.Length)]));
            byte[] mutated = MutateBytes(random, bytes);
            if (DecodesOrThrows<MultihashException>(() => Multihash.Decode(mutated)))
                Assert.Equal(mutated, Multihash.Decode(mutated).ToBytes());
        }
        for (int i = 0; i < 3000; i++)
        {
            byte[] noise = RandomBytes(random, 40);
            DecodesOrThrows<MultihashException>(() => Multihash.Decode(noise));
        }
    }

    [Fact]
    public void Cid_round_trips_and_fuzzes_cleanly()
    {
        var random = new Random(7);
        ulong[] codecs = [Multicodec.Raw, Multicodec.DagPb, Multicodec.DagCbor, Multicodec.Libp2pKey, Multicodec.DagJson, 0x300001];
        for (int i = 0; i < 800; i++)
        {
            Multihash hash = RandomMultihash(random);
            Cid cid = Cid.V1(codecs[random.Next(codecs.Length)], hash);
            byte[] bytes = cid.ToBytes();
            Assert.Equal(cid, Cid.Decode(bytes));
            Assert.Equal(cid, Cid.Parse(cid.ToString()));
            MultibaseEncoding encoding = AllEncodings[random.Next(AllEncodings.Length)];
            string text = cid.ToString(encoding);
            Assert.Equal(cid, Cid.Parse(text));

            Assert.Throws<CidException>(() => Cid.Decode(bytes[..random.Next(bytes.Length)]));
            DecodesOrThrows<CidException>(() => Cid.Decode(MutateBytes(random, bytes)));
            DecodesOrThrows<CidException>(() => Cid.Parse(Mutate(random, text)));

            if (hash.Code == MultihashCode.Sha2_256 && hash.Digest.Length == 32)
            {
                Cid v0 = Cid.V0(hash);
                Assert.Equal(v0, Cid.Parse(v0.ToString()));
                Assert.Equal(v0, Cid.Decode(v0.ToBytes()));
                DecodesOrThrows<CidException>(() => Cid.Parse(Mutate(random, v0.ToString())));
            }
        }
        for (int i = 0; i < 3000; i++)
        {
            byte[] noise = RandomBytes(random, 40);
            if (random.Next(2) == 0 && noise.Length > 0) noise[0] = (byte)random.Next(0, 4);
            DecodesOrThrows<CidException>(() => Cid.Decode(noise));
        }
    }
}
