using P2PStack.Encoding;

namespace P2PStack.Core.Tests.Encoding;

public class Base32Tests
{
    // RFC 4648 §10.
    [Theory]
    [InlineData("", "", "")]
    [InlineData("f", "MY======", "CO======")]
    [InlineData("fo", "MZXQ====", "CPNG====")]
    [InlineData("foo", "MZXW6===", "CPNMU===")]
    [InlineData("foob", "MZXW6YQ=", "CPNMUOG=")]
    [InlineData("fooba", "MZXW6YTB", "CPNMUOJ1")]
    [InlineData("foobar", "MZXW6YTBOI======", "CPNMUOJ1E8======")]
    public void Matches_rfc4648_vectors(string text, string base32, string base32Hex)
    {
        byte[] data = System.Text.Encoding.ASCII.GetBytes(text);
        Assert.Equal(base32, Base32.EncodeUpper(data, pad: true));
        Assert.Equal(base32.TrimEnd('='), Base32.EncodeUpper(data));
        Assert.Equal(base32.TrimEnd('=').ToLowerInvariant(), Base32.EncodeLower(data));
        Assert.Equal(base32Hex, Base32.EncodeHexUpper(data, pad: true));
        Assert.Equal(data, Base32.Decode(base32, LetterCase.Upper, padded: true));
        Assert.Equal(data, Base32.Decode(base32.TrimEnd('='), LetterCase.Upper));
        Assert.Equal(data, Base32.Decode(base32.TrimEnd('=').ToLowerInvariant()));
        Assert.Equal(data, Base32.DecodeHex(base32Hex, LetterCase.Upper, padded: true));
        Assert.Equal(data, Base32.DecodeHex(base32Hex.ToLowerInvariant().TrimEnd('='), LetterCase.Lower));
    }

    [Theory]
    [InlineData("MY")] // wrong case for the default (lowercase) decoder
    [InlineData("my======")] // padding where none is allowed
    [InlineData("m")] // 1, 3 and 6 characters are lengths no encoding produces
    [InlineData("mzx")]
    [InlineData("mzxw6y")]
    [InlineData("mz")] // "f" is "my": 'z' leaves nonzero trailing bits
    [InlineData("mzxr")] // "fo" is "mzxq"
    [InlineData("my1")]
    [InlineData("m8")]
    [InlineData("my=")]
    public void Default_decoder_rejects_invalid_text(string text)
    {
        Assert.Throws<MultibaseException>(() => Base32.Decode(text));
    }

    [Theory]
    [InlineData("my")] // unpadded where padding is required
    [InlineData("my=====")]
    [InlineData("my=======")]
    [InlineData("my======my======")]
    [InlineData("m=y=====")]
    [InlineData("========")]
    [InlineData("mzxw6yq=========")]
    [InlineData("mzx=====")]
    public void Padded_decoder_rejects_wrong_padding(string text)
    {
        Assert.Throws<MultibaseException>(() => Base32.Decode(text, LetterCase.Lower, padded: true));
    }

    [Fact]
    public void Case_is_accepted_only_as_asked()
    {
        Assert.Equal("f"u8.ToArray(), Base32.Decode("mY", LetterCase.Insensitive));
        Assert.Throws<MultibaseException>(() => Base32.Decode("mY", LetterCase.Lower));
        Assert.Throws<MultibaseException>(() => Base32.Decode("mY", LetterCase.Upper));
    }

    [Fact]
    public void Round_trips_random_data()
    {
        var random = new Random(32);
        for (int i = 0; i < 500; i++)
        {
            byte[] data = new byte[random.Next(0, 70)];
            random.NextBytes(data);
            Assert.Equal(data, Base32.Decode(Base32.EncodeLower(data)));
            Assert.Equal(data, Base32.Decode(Base32.EncodeUpper(data, pad: true), LetterCase.Upper, padded: true));
            Assert.Equal(data, Base32.DecodeHex(Base32.EncodeHexLower(data), LetterCase.Lower));
        }
    }
}
