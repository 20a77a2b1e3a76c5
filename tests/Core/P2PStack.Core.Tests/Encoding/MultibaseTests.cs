using P2PStack.Encoding;

namespace P2PStack.Core.Tests.Encoding;

public class MultibaseTests
{
    private static readonly (string Csv, byte[] Input, bool EncodeToo)[] Files =
    [
        (MultibaseSpecVectors.BasicCsv, "yes mani !"u8.ToArray(), true),
        (MultibaseSpecVectors.LeadingZeroCsv, "\0yes mani !"u8.ToArray(), true),
        (MultibaseSpecVectors.TwoLeadingZerosCsv, "\0\0yes mani !"u8.ToArray(), true),
        (MultibaseSpecVectors.CaseInsensitivityCsv, "hello world"u8.ToArray(), false),
    ];

    private static IEnumerable<(string Name, string Text, byte[] Input, bool EncodeToo)> Vectors()
    {
        foreach (var (csv, input, encodeToo) in Files)
        {
            string[] lines = csv.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            foreach (string line in lines[1..])
            {
                int comma = line.IndexOf(',');
                string name = line[..comma].Trim();
                string text = line[(comma + 1)..].Trim().Trim('"');
                yield return (name, text, input, encodeToo);
            }
        }
    }

    public static TheoryData<string, string, string, bool> SpecVectors()
    {
        var data = new TheoryData<string, string, string, bool>();
        foreach (var (name, text, input, encodeToo) in Vectors())
            data.Add(name, text, Convert.ToHexString(input), encodeToo);
        return data;
    }

    private static MultibaseEncoding? ByName(string name)
    {
        foreach (MultibaseEncoding e in Enum.GetValues<MultibaseEncoding>())
            if (e.ToString().Equals(name, StringComparison.OrdinalIgnoreCase)) return e;
        return null;
    }

    [Theory]
    [MemberData(nameof(SpecVectors))]
    public void Reproduces_the_spec_vectors(string name, string text, string inputHex, bool encodeToo)
    {
        byte[] input = Convert.FromHexString(inputHex);
        MultibaseEncoding? encoding = ByName(name);
        if (encoding is null)
        {
            // The one base left out: base256emoji. Its text must be refused with the typed exception.
            Assert.Equal("base256emoji", name);
            Assert.Throws<MultibaseException>(() => Multibase.Decode(text));
            return;
        }
        Assert.Equal(input, Multibase.Decode(text, out MultibaseEncoding decodedAs));
        Assert.Equal(encoding.Value, decodedAs);
        if (encodeToo) Assert.Equal(text, Multibase.Encode(encoding.Value, input));
    }

    [Fact]
    public void Covers_every_vector_of_the_spec_files()
    {
        var all = Vectors().ToList();
        Assert.Equal(23 * 3 + 12, all.Count);
        Assert.Equal(3, all.Count(v => v.Name == "base256emoji"));
        // Every supported encoding appears in the vectors.
        foreach (MultibaseEncoding e in Enum.GetValues<MultibaseEncoding>())
            Assert.Contains(all, v => ByName(v.Name) == e);
    }

    [Theory]
    [InlineData("")]
    [InlineData("\0abc")]
    [InlineData("x123")]
    [InlineData("\ud83d\ude80")]
    [InlineData("f0")] // odd hex
    [InlineData("fzz")]
    [InlineData("bmy======")] // padding on an unpadded base
    [InlineData("cmy")] // missing padding on a padded base
    [InlineData("bmz")] // nonzero trailing bits
    [InlineData("mZh")] // base64 "f" is "Zg": 'h' leaves a trailing bit
    [InlineData("MZg=")] // wrong padding amount
    [InlineData("mZg==")]
    [InlineData("mZ g")]
    [InlineData("uZm9v+")] // '+' is not base64url
    [InlineData("m-_")] // url chars are not base64
    [InlineData("z0OIl")]
    [InlineData("k!")]
    [InlineData("01")] // base2 needs whole bytes
    [InlineData("02")]
    [InlineData("7777")] // base8 "777" leaves a set fill bit
    [InlineData("9a")]
    [InlineData("hl")] // 'l' is not in z-base-32
    public void Rejects_invalid_text_with_the_typed_exception(string text)
    {
        Assert.Throws<MultibaseException>(() => Multibase.Decode(text));
    }

    [Fact]
    public void Bounds_the_decoded_length_when_asked()
    {
        string text = Multibase.Encode(MultibaseEncoding.Base58Btc, new byte[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 });
        Assert.Equal(10, Multibase.Decode(text, out _, 10).Length);
        Assert.Throws<MultibaseException>(() => Multibase.Decode(text, out _, 5));
        string big = "z" + new string('2', 100_000);
        Assert.Throws<MultibaseException>(() => Multibase.Decode(big, out _, 1024));
        Assert.Throws<MultibaseException>(() => Multibase.Decode("z" + new string('1', 12), out _, 10)); // 12 zero bytes
    }

    [Fact]
    public void Max_encoded_length_is_an_upper_bound()
    {
        var random = new Random(7);
        foreach (MultibaseEncoding e in Enum.GetValues<MultibaseEncoding>())
        {
            for (int n = 0; n < 70; n++)
            {
                byte[] data = new byte[n];
                random.NextBytes(data);
                if (n % 3 == 0) data[0..Math.Min(n, 2)].AsSpan().Clear();
                string text = Multibase.Encode(e, data);
                Assert.True(text.Length - 1 <= Multibase.GetMaxEncodedLength(e, n), $"{e} of {n} bytes");
                Assert.Equal(data, Multibase.Decode(text, out _, n));
            }
        }
    }

    [Fact]
    public void Base64_and_base16_match_the_rfc4648_vectors()
    {
        string[] inputs = ["", "f", "fo", "foo", "foob", "fooba", "foobar"];
        string[] base64 = ["", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"];
        string[] base16 = ["", "66", "666F", "666F6F", "666F6F62", "666F6F6261", "666F6F626172"];
        for (int i = 0; i < inputs.Length; i++)
        {
            byte[] data = System.Text.Encoding.ASCII.GetBytes(inputs[i]);
            Assert.Equal(base64[i], Base64.Encode(data, pad: true));
            Assert.Equal(base64[i].TrimEnd('='), Base64.Encode(data));
            Assert.Equal(data, Base64.Decode(base64[i], padded: true));
            Assert.Equal(data, Base64.Decode(base64[i].TrimEnd('=')));
            Assert.Equal(base16[i], Base16.EncodeUpper(data));
            Assert.Equal(data, Base16.Decode(base16[i], LetterCase.Upper));
            Assert.Equal(data, Base16.Decode(base16[i].ToLowerInvariant()));
        }
        Assert.Equal("-_8", Base64.EncodeUrl([0xfb, 0xff]));
        Assert.Equal(new byte[] { 0xfb, 0xff }, Base64.DecodeUrl("-_8"));
        Assert.Throws<MultibaseException>(() => Base16.Decode("6F", LetterCase.Lower));
    }

    [Fact]
    public void Base36_matches_the_libp2p_key_form_of_a_peer_id()
    {
        // A libp2p-key CIDv1 in base36, the form IPNS names use.
        Cid cid = Cid.Parse("k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8");
        Assert.Equal(Multicodec.Libp2pKey, cid.Codec);
        Assert.Equal("k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8", cid.ToString(MultibaseEncoding.Base36));
    }
}
