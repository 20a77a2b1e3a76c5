using P2PStack.Encoding;

namespace P2PStack.Core.Tests.Encoding;

public class Base58Tests
{
    [Theory]
    // draft-msporny-base58 and Bitcoin vectors.
    [InlineData("", "")]
    [InlineData("61", "2g")]
    [InlineData("626262", "a3gV")]
    [InlineData("636363", "aPEr")]
    [InlineData("00", "1")]
    [InlineData("0000", "11")]
    [InlineData("0000287fb4cd", "11233QC4")]
    [InlineData("00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L")]
    [InlineData("516b6fcd0f", "ABnLTmg")]
    [InlineData("bf4f89001e670274dd", "3SEo3LWLoPntC")]
    [InlineData("572e4794", "3EFU7m")]
    [InlineData("ecac89cad93923c02321", "EJDM8drfXA6uyA")]
    [InlineData("10c8511e", "Rt5zm")]
    [InlineData("00000000000000000000", "1111111111")]
    public void Encodes_and_decodes_known_vectors(string hex, string base58)
    {
        byte[] bytes = Convert.FromHexString(hex);
        Assert.Equal(base58, Base58.Encode(bytes));
        Assert.Equal(bytes, Base58.Decode(base58));
    }

    [Fact]
    public void Encodes_text_vectors_from_the_base58_draft()
    {
        Assert.Equal("2NEpo7TZRRrLZSi2U", Base58.Encode(System.Text.Encoding.ASCII.GetBytes("Hello World!")));
        Assert.Equal("USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z",
            Base58.Encode(System.Text.Encoding.ASCII.GetBytes("The quick brown fox jumps over the lazy dog.")));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("O")]
    [InlineData("I")]
    [InlineData("l")]
    [InlineData("abc+")]
    [InlineData(" 2g")]
    [InlineData("2g\n")]
    [InlineData("2\u00e9")]
    public void Rejects_characters_outside_the_alphabet(string text)
    {
        Assert.Throws<MultibaseException>(() => Base58.Decode(text));
    }

    [Fact]
    public void Round_trips_random_data_of_many_lengths()
    {
        var random = new Random(58);
        for (int i = 0; i < 500; i++)
        {
            byte[] data = new byte[random.Next(0, 80)];
            random.NextBytes(data);
            if (i % 5 == 0) data.AsSpan(0, Math.Min(data.Length, random.Next(0, 4))).Clear();
            string text = Base58.Encode(data);
            Assert.Equal(data, Base58.Decode(text));
            Assert.Equal(text, Base58.Encode(Base58.Decode(text)));
        }
    }

    [Fact]
    public void Handles_inputs_beyond_the_stack_buffer()
    {
        var random = new Random(1);
        byte[] data = new byte[700];
        random.NextBytes(data);
        Assert.Equal(data, Base58.Decode(Base58.Encode(data)));
    }
}
