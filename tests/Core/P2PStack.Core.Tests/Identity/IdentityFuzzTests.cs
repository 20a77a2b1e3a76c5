using FsCheck;
using FsCheck.Fluent;
using P2PStack.Identity;

namespace P2PStack.Tests.Identity;

/// <summary>Decoders of keys and peer ids: any input either decodes or throws their typed exception, nothing else.</summary>
public class IdentityFuzzTests
{
    private static readonly string[] ValidKeyEncodings =
    [
        KeyVectors.SpecEd25519Public, KeyVectors.SpecSecp256k1Public, KeyVectors.SpecEcdsaPublic, KeyVectors.SpecRsaPublic,
    ];

    private static readonly string[] ValidPrivateEncodings =
    [
        KeyVectors.SpecEd25519Private, KeyVectors.SpecSecp256k1Private, KeyVectors.SpecEcdsaPrivate, KeyVectors.SpecRsaPrivate,
    ];

    private static void OnlyTyped<TException>(Action action) where TException : P2PFormatException
    {
        try { action(); }
        catch (TException) { }
    }

    [Fact]
    public void RandomBytes_PublicAndPrivateKeyDecoders()
    {
        Prop.ForAll<byte[]>(bytes =>
        {
            OnlyTyped<KeyFormatException>(() => PublicKey.FromProtobuf(bytes));
            OnlyTyped<KeyFormatException>(() => PrivateKey.FromProtobuf(bytes)?.Dispose());
            foreach (KeyType type in Enum.GetValues<KeyType>())
            {
                OnlyTyped<KeyFormatException>(() => PublicKey.FromRaw(type, bytes));
                OnlyTyped<KeyFormatException>(() => PrivateKey.FromRaw(type, bytes)?.Dispose());
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void RandomSignatures_NeverThrowFromVerify()
    {
        var keys = ValidKeyEncodings.Select(h => PublicKey.FromProtobuf(Convert.FromHexString(h))).ToArray();
        Prop.ForAll<byte[], byte[]>((data, signature) =>
        {
            foreach (var key in keys) Assert.False(key.Verify(data ?? [], signature ?? []));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void MutatedAndTruncatedKeyEncodings()
    {
        var random = new Random(20240501);
        foreach (string hex in ValidKeyEncodings.Concat(ValidPrivateEncodings))
        {
            byte[] valid = Convert.FromHexString(hex);
            bool isPrivate = ValidPrivateEncodings.Contains(hex);
            for (int length = 0; length < valid.Length; length += Math.Max(1, valid.Length / 64))
                Decode(valid[..length], isPrivate);
            for (int round = 0; round < 60; round++)
            {
                byte[] mutated = (byte[])valid.Clone();
                int flips = random.Next(1, 4);
                for (int f = 0; f < flips; f++) mutated[random.Next(mutated.Length)] ^= (byte)(1 << random.Next(8));
                Decode(mutated, isPrivate);
            }
        }

        static void Decode(byte[] bytes, bool isPrivate)
        {
            if (isPrivate) OnlyTyped<KeyFormatException>(() => PrivateKey.FromProtobuf(bytes).Dispose());
            else OnlyTyped<KeyFormatException>(() => PublicKey.FromProtobuf(bytes));
        }
    }

    [Fact]
    public void RandomBytes_PeerIdFromBytes()
    {
        Prop.ForAll<byte[]>(bytes => OnlyTyped<PeerIdException>(() => PeerId.FromBytes(bytes))).QuickCheckThrowOnFailure();
        // Mostly-valid prefixes reach deeper: identity and sha2-256 headers with random bodies.
        var random = new Random(99);
        for (int i = 0; i < 2000; i++)
        {
            byte[] bytes = new byte[random.Next(0, 50)];
            random.NextBytes(bytes);
            if (bytes.Length >= 2) { bytes[0] = (byte)(i % 2 == 0 ? 0x00 : 0x12); bytes[1] = (byte)(bytes.Length - 2); }
            if (bytes.Length >= 4 && i % 4 == 0) { bytes[2] = 0x08; bytes[3] = (byte)(i % 5); }
            OnlyTyped<PeerIdException>(() => PeerId.FromBytes(bytes));
        }
    }

    [Fact]
    public void RandomStrings_PeerIdParse()
    {
        Prop.ForAll<string>(text =>
        {
            if (text is null) return;
            OnlyTyped<PeerIdException>(() => PeerId.Parse(text));
            OnlyTyped<PeerIdException>(() => PeerId.Parse("Qm" + text));
            OnlyTyped<PeerIdException>(() => PeerId.Parse("1" + text));
            OnlyTyped<PeerIdException>(() => PeerId.Parse("b" + text));
            OnlyTyped<PeerIdException>(() => PeerId.Parse("z" + text));
            PeerId.TryParse(text, out _);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void MutatedAndTruncatedPeerIdStrings()
    {
        string[] valid =
        [
            "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
            "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
            "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY",
            "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe",
            PeerId.Parse("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA").ToCidString(P2PStack.Encoding.MultibaseEncoding.Base36),
        ];
        const string alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0OIl!/ ";
        var random = new Random(5);
        foreach (string text in valid)
        {
            for (int length = 0; length < text.Length; length++)
                OnlyTyped<PeerIdException>(() => PeerId.Parse(text[..length]));
            for (int round = 0; round < 300; round++)
            {
                char[] chars = text.ToCharArray();
                chars[random.Next(chars.Length)] = alphabet[random.Next(alphabet.Length)];
                var mutated = new string(chars);
                OnlyTyped<PeerIdException>(() => PeerId.Parse(mutated));
            }
        }
    }
}
