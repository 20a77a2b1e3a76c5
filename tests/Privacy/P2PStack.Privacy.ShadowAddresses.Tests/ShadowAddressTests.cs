using P2PStack.Addressing;

namespace P2PStack.Privacy.ShadowAddresses.Tests;

public class ShadowAddressTests
{
    [Fact]
    public void Text_form_and_multiaddr_round_trip()
    {
        var key = ShadowKey.Generate();
        var address = key.Address;
        string text = address.ToString();
        Assert.Equal(58, text.Length);
        Assert.Equal(text, text.ToLowerInvariant());
        Assert.Equal(address, ShadowAddress.Parse(text));
        Assert.Equal(address, ShadowAddress.Parse(address.ToUri()));
        Assert.StartsWith("shadow:", address.ToUri());

        var multiaddr = address.ToMultiaddr();
        Assert.Equal($"/shadow/{text}", multiaddr.ToString());
        Assert.Equal(address, ShadowAddress.FromMultiaddr(Multiaddr.Decode(multiaddr.ToBytes())));
        Assert.Equal(address, ShadowAddress.Parse(multiaddr.ToString()));
        Assert.Equal(multiaddr, Multiaddr.Parse(multiaddr.ToString()));
    }

    [Fact]
    public void Keys_export_and_import()
    {
        var key = ShadowKey.Generate();
        var again = ShadowKey.Import(key.Export());
        Assert.Equal(key.Address, again.Address);
        Assert.NotEqual(key.Address, ShadowKey.Generate().Address);
        Assert.Throws<ShadowFormatException>(() => ShadowKey.Import(new byte[32]));
        Assert.Throws<ShadowFormatException>(() => ShadowKey.Import(new byte[31]));
    }

    [Fact]
    public void Mistyped_or_forged_addresses_are_refused_with_the_typed_error()
    {
        string text = ShadowKey.Generate().Address.ToString();
        // One character changed: the checksum catches it (or the point is invalid).
        char swapped = text[10] == 'a' ? 'b' : 'a';
        string typo = text[..10] + swapped + text[11..];
        Assert.Throws<ShadowFormatException>(() => ShadowAddress.Parse(typo));
        Assert.Throws<ShadowFormatException>(() => ShadowAddress.Parse(text.ToUpperInvariant()));
        Assert.Throws<ShadowFormatException>(() => ShadowAddress.Parse(text[..^2]));
        Assert.Throws<ShadowFormatException>(() => ShadowAddress.Parse("shadow:"));
        Assert.Throws<MultiaddrException>(() => Multiaddr.Parse($"/shadow/{typo}"));

        // A well-formed encoding of something that is not a point of P-256.
        var notAPoint = new byte[33];
        notAPoint[0] = 2;
        Array.Fill(notAPoint, (byte)0xFF, 1, 32);
        Assert.Throws<ShadowFormatException>(() => ShadowAddress.FromPublicKey(notAPoint));
        Assert.Throws<ShadowFormatException>(() => ShadowAddress.FromPublicKey(new byte[33]));
    }

    [Fact]
    public void Blinded_keys_agree_between_service_and_client_and_differ_per_period()
    {
        var key = ShadowKey.Generate();
        var p1 = new ShadowPeriod(490_000, 3600);
        var p2 = p1.Next;
        var service1 = key.Blind(p1);
        var client1 = BlindedShadowKey.FromAddress(key.Address, p1);
        Assert.Equal(service1.PublicKey, client1.PublicKey);
        Assert.True(service1.CanSign);
        Assert.False(client1.CanSign);
        var client2 = BlindedShadowKey.FromAddress(key.Address, p2);
        Assert.NotEqual(client1.PublicKey, client2.PublicKey);
        Assert.NotEqual(key.Address.PublicKey.ToArray(), client1.PublicKey);
        // Another period length is another period.
        Assert.NotEqual(client1.PublicKey, BlindedShadowKey.FromAddress(key.Address, new ShadowPeriod(p1.Number, 1800)).PublicKey);
        // The blinded key signs; the address key does not verify it.
        byte[] signature = service1.Sign("data"u8);
        Assert.True(client1.Verify("data"u8, signature));
        Assert.False(client2.Verify("data"u8, signature));
        Assert.False(client1.Verify("other"u8, signature));
    }

    [Fact]
    public void Periods_follow_the_clock()
    {
        var period = ShadowPeriod.At(DateTimeOffset.FromUnixTimeSeconds(7200 * 10 + 5), TimeSpan.FromHours(2));
        Assert.Equal(10UL, period.Number);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(72_000), period.Start);
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(79_200), period.End);
    }
}
