using System.Text;
using FsCheck;
using FsCheck.Fluent;
using P2PStack.Addressing;

namespace P2PStack.Core.Tests.Addressing;

/// <summary>Seeded random round trips and fuzzing: decoders only ever throw <see cref="MultiaddrException"/>.</summary>
public class MultiaddrPropertyTests
{
    private const string NameChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%:+@ éü中";

    private static MultiaddrComponent RandomComponent(Random random, MultiaddrProtocol protocol)
    {
        if (!protocol.HasValue) return MultiaddrComponent.FromRawValue(protocol, default);
        byte[] value = protocol.Name switch
        {
            "ip6zone" or "dns" or "dns4" or "dns6" or "dnsaddr" or "sni" => System.Text.Encoding.UTF8.GetBytes(RandomName(random, 1)),
            "unix" => System.Text.Encoding.UTF8.GetBytes("/" + string.Join('/', Enumerable.Range(0, random.Next(1, 4)).Select(_ => RandomName(random, 1)))),
            "p2p" => random.Next(2) == 0 ? [0x12, 0x20, .. Bytes(random, 32)] : Identity(Bytes(random, random.Next(1, 43))),
            "certhash" => random.Next(2) == 0 ? [0x12, 0x20, .. Bytes(random, 32)] : Identity(Bytes(random, random.Next(0, 60))),
            "onion" => [.. Bytes(random, 10), (byte)random.Next(256), (byte)random.Next(1, 256)],
            "onion3" => [.. Bytes(random, 35), (byte)random.Next(1, 256), (byte)random.Next(256)],
            "garlic64" => Bytes(random, random.Next(386, 420)),
            "garlic32" => Bytes(random, random.Next(2) == 0 ? 32 : random.Next(35, 60)),
            "http-path" => Bytes(random, random.Next(1, 20)),
            _ => Bytes(random, protocol.FixedByteLength),
        };
        return MultiaddrComponent.FromRawValue(protocol, value);
    }

    private static byte[] Identity(byte[] digest) => [0x00, (byte)digest.Length, .. digest];

    private static byte[] Bytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    private static string RandomName(Random random, int minLength)
    {
        int length = random.Next(minLength, 12);
        var builder = new StringBuilder();
        for (int i = 0; i < length; i++) builder.Append(NameChars[random.Next(NameChars.Length)]);
        return builder.ToString();
    }

    private static Multiaddr RandomMultiaddr(Random random)
    {
        var protocols = MultiaddrProtocols.BuiltIn; // not All: other tests register protocols meanwhile
        var components = new List<MultiaddrComponent>();
        int count = random.Next(1, 6);
        for (int i = 0; i < count; i++)
        {
            MultiaddrProtocol protocol = protocols[random.Next(protocols.Count)];
            if (protocol.IsPath && i != count - 1) protocol = MultiaddrProtocols.Tcp;
            MultiaddrComponent component = RandomComponent(random, protocol);
            if (components.Sum(c => c.Bytes.Length) + component.Bytes.Length > Multiaddr.MaxEncodedLength) break;
            components.Add(component);
        }
        return Multiaddr.FromComponents(components);
    }

    [Fact]
    public void Random_valid_multiaddrs_round_trip_text_and_binary()
    {
        var random = new Random(20240611);
        for (int i = 0; i < 3000; i++)
        {
            Multiaddr m = RandomMultiaddr(random);
            Multiaddr fromBytes = Multiaddr.Decode(m.Bytes.Span);
            Assert.Equal(m, fromBytes);
            string text = m.ToString();
            Multiaddr fromText = Multiaddr.Parse(text);
            Assert.True(m == fromText, $"text round trip failed for {text}");
            Assert.Equal(text, fromText.ToString());
            Assert.Equal(m.Components.Count, fromText.Components.Count);
            for (int c = 0; c < m.Components.Count; c++)
            {
                Assert.Equal(m.Components[c], fromText.Components[c]);
                Assert.Equal(m.Components[c].Value, fromText.Components[c].Value);
            }
        }
    }

    [Fact]
    public void FsCheck_random_ports_and_addresses_round_trip()
    {
        FsCheck.Fluent.Prop.ForAll<uint, ushort>((ip, port) =>
        {
            string text = $"/ip4/{ip >> 24}.{(ip >> 16) & 0xff}.{(ip >> 8) & 0xff}.{ip & 0xff}/tcp/{port}";
            Multiaddr m = Multiaddr.Parse(text);
            return m.ToString() == text && Multiaddr.Decode(m.Bytes.Span) == m && m.Components[1].ToPort() == port;
        }).QuickCheckThrowOnFailure();
    }

    private static void DecodeOnlyThrowsMultiaddrException(byte[] input)
    {
        Multiaddr m;
        try
        {
            m = Multiaddr.Decode(input);
        }
        catch (MultiaddrException)
        {
            return;
        }
        catch (Exception e)
        {
            Assert.Fail($"{Convert.ToHexString(input)} threw {e.GetType().Name}: {e.Message}");
            return;
        }
        // Whatever decodes must be canonical and print/parse back to itself.
        Assert.Equal(input, m.ToBytes());
        Assert.Equal(m, Multiaddr.Parse(m.ToString()));
    }

    [Fact]
    public void Random_bytes_only_throw_MultiaddrException()
    {
        var random = new Random(99);
        for (int i = 0; i < 20000; i++)
        {
            byte[] input = Bytes(random, random.Next(0, 48));
            // Often start with a real code so decoding gets past the first varint.
            MultiaddrProtocol p = MultiaddrProtocols.BuiltIn[random.Next(MultiaddrProtocols.BuiltIn.Count)];
            if (input.Length >= p.EncodedCode.Length && random.Next(2) == 0) p.EncodedCode.CopyTo(input);
            DecodeOnlyThrowsMultiaddrException(input);
        }
    }

    [Fact]
    public void Mutated_and_truncated_encodings_only_throw_MultiaddrException()
    {
        var random = new Random(1234);
        for (int i = 0; i < 4000; i++)
        {
            byte[] valid = RandomMultiaddr(random).ToBytes();
            for (int cut = 0; cut < valid.Length; cut += 1 + valid.Length / 16)
                DecodeOnlyThrowsMultiaddrException(valid[..cut]);

            byte[] flipped = (byte[])valid.Clone();
            flipped[random.Next(flipped.Length)] ^= (byte)(1 << random.Next(8));
            DecodeOnlyThrowsMultiaddrException(flipped);

            byte[] replaced = (byte[])valid.Clone();
            replaced[random.Next(replaced.Length)] = (byte)random.Next(256);
            DecodeOnlyThrowsMultiaddrException(replaced);

            int at = random.Next(valid.Length + 1);
            DecodeOnlyThrowsMultiaddrException([.. valid[..at], (byte)random.Next(256), .. valid[at..]]);
            if (valid.Length > 1)
            {
                at = random.Next(valid.Length);
                DecodeOnlyThrowsMultiaddrException([.. valid[..at], .. valid[(at + 1)..]]);
            }
        }
    }

    [Fact]
    public void Mutated_text_only_throws_MultiaddrException()
    {
        const string noise = "/:%.0123456789abcdefxyzQm1 +-~=\u00e9\ud800";
        var random = new Random(4321);
        for (int i = 0; i < 5000; i++)
        {
            var text = new StringBuilder(RandomMultiaddr(random).ToString());
            int edits = random.Next(1, 4);
            for (int e = 0; e < edits && text.Length > 0; e++)
            {
                int at = random.Next(text.Length);
                switch (random.Next(3))
                {
                    case 0: text[at] = noise[random.Next(noise.Length)]; break;
                    case 1: text.Insert(at, noise[random.Next(noise.Length)]); break;
                    default: text.Remove(at, 1); break;
                }
            }
            string input = text.ToString();
            try
            {
                Multiaddr m = Multiaddr.Parse(input);
                Assert.Equal(m, Multiaddr.Parse(m.ToString()));
                Assert.Equal(m, Multiaddr.Decode(m.Bytes.Span));
            }
            catch (MultiaddrException)
            {
            }
            catch (Exception e)
            {
                Assert.Fail($"\"{input}\" threw {e.GetType().Name}: {e.Message}");
            }
        }
    }
}
