using System.Globalization;
using P2PStack.Addressing;

namespace P2PStack.Core.Tests.Addressing;

/// <summary>Modules extend the multiaddr protocol table (later /shadow); each test uses its own private-use code.</summary>
public class MultiaddrRegistrationTests
{
    /// <summary>A 16-bit value printed in hexadecimal, standing for a module's own value format.</summary>
    private sealed class HexShortCodec : MultiaddrValueCodec
    {
        public override byte[] Parse(string text)
        {
            if (text.Length != 4 || !ushort.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ushort value))
                throw Error("not four hexadecimal digits");
            return [(byte)(value >> 8), (byte)value];
        }

        public override string Format(ReadOnlySpan<byte> value) => Convert.ToHexStringLower(value);

        public override void Validate(ReadOnlySpan<byte> value)
        {
            if (value.Length != 2) throw Error($"{value.Length} bytes, expected 2");
        }
    }

    [Fact]
    public void A_registered_protocol_parses_prints_and_decodes()
    {
        Assert.Throws<MultiaddrException>(() => Multiaddr.Parse("/ip4/127.0.0.1/x-test-hex/00ff"));
        var registered = MultiaddrProtocols.Register(new MultiaddrProtocol(0x3f0101, "x-test-hex", 16, new HexShortCodec()));

        var address = Multiaddr.Parse("/ip4/127.0.0.1/x-test-hex/00FF/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA");
        Assert.Equal("/ip4/127.0.0.1/x-test-hex/00ff/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA", address.ToString());
        Assert.Same(registered, address.Components[1].Protocol);
        Assert.Equal(address, Multiaddr.Decode(address.Bytes.Span));
        Assert.Same(registered, MultiaddrProtocols.Get("x-test-hex"));
        Assert.Same(registered, MultiaddrProtocols.Get(0x3f0101));
        Assert.Contains(registered, MultiaddrProtocols.All);

        // Bad values from text or the wire raise the typed error, naming the protocol.
        var error = Assert.Throws<MultiaddrException>(() => Multiaddr.Parse("/x-test-hex/zz"));
        Assert.Contains("x-test-hex", error.Message);
        byte[] truncated = [.. Multiaddr.Parse("/x-test-hex/0001").Bytes.Span[..^1]];
        Assert.Throws<MultiaddrException>(() => Multiaddr.Decode(truncated));
    }

    [Fact]
    public void Registering_the_same_definition_again_returns_the_first_instance()
    {
        var first = MultiaddrProtocols.Register(new MultiaddrProtocol(0x3f0102, "x-test-again", 0, null));
        var second = MultiaddrProtocols.Register(new MultiaddrProtocol(0x3f0102, "x-test-again", 0, null));
        Assert.Same(first, second);
        Assert.Same(first, Multiaddr.Parse("/x-test-again").Components[0].Protocol);
    }

    [Fact]
    public void A_taken_code_or_name_is_refused()
    {
        Assert.Throws<InvalidOperationException>(() => MultiaddrProtocols.Register(new MultiaddrProtocol(6, "x-not-tcp", 0, null)));
        Assert.Throws<InvalidOperationException>(() => MultiaddrProtocols.Register(new MultiaddrProtocol(0x3f0103, "tcp", 16, new HexShortCodec())));
        Assert.Throws<InvalidOperationException>(() => MultiaddrProtocols.Register(new MultiaddrProtocol(0x3f0104, "ipfs", 0, null)));
        Assert.Throws<ArgumentException>(() => new MultiaddrProtocol(0x3f0105, "Bad/Name", 0, null));
        Assert.Throws<ArgumentException>(() => new MultiaddrProtocol(0x3f0106, "x-no-codec", 16, null));
        Assert.False(MultiaddrProtocols.TryGet(0x3f0103, out _));
    }
}
