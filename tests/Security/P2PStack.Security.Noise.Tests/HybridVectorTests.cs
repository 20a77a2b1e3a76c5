using System.Security.Cryptography;
using System.Text.Json;
using P2PStack.Crypto.MLKem;
using P2PStack.Security.Noise.Protocol;

namespace P2PStack.Security.Noise.Tests;

/// <summary>
/// Noise_XXhfs_25519+MLKEM768_ChaChaPoly_SHA256 against ../shared/vectors/noise-xxhfs (byte for byte: every
/// message, the handshake hash and both transport keys). The vector file names the suite "MLKEM768", so the KEM
/// here carries that name, the same one the libp2p channel uses.
/// </summary>
public class HybridVectorTests
{
    private const string VectorFile = "noise-xxhfs/xxhfs-regenerated-vectors.json";

    public static TheoryData<int> VectorIndexes()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Load().Vectors.Count; i++)
        {
            data.Add(i);
        }

        return data;
    }

    [Fact]
    public void VectorFileIsPresentAndComplete()
    {
        var (protocol, vectors) = Load();
        Assert.Equal("Noise_XXhfs_25519+MLKEM768_ChaChaPoly_SHA256", protocol);
        Assert.Equal(MLKemNoiseKem.MLKem768.Name, new FixedEncapsulationKem([]).Name); // the channel uses this very name
        Assert.Equal(5, vectors.Count);
    }

    [Theory]
    [MemberData(nameof(VectorIndexes))]
    public void HandshakeMatchesVector(int index)
    {
        var (protocolName, vectors) = Load();
        var v = vectors[index];
        var kem = new FixedEncapsulationKem(Hex(v, "encap_m"));
        var protocol = new NoiseProtocol(HandshakePattern.XXhfs, kem);
        Assert.Equal(protocolName, protocol.Name);

        var seed = Hex(v, "kem_keygen_d").Concat(Hex(v, "kem_keygen_z")).ToArray();
        var kemKey = new MLKemNoiseKem.KeyPair(ManagedMLKem.ImportPrivateSeed(MLKemAlgorithm.MLKem768, seed));
        Assert.Equal(Hex(v, "ephemeral_kem_i_public"), kemKey.PublicKey.ToArray());

        using var initStatic = X25519KeyPair.FromPrivateKey(Hex(v, "static_i_private"));
        using var respStatic = X25519KeyPair.FromPrivateKey(Hex(v, "static_r_private"));
        Assert.Equal(Hex(v, "static_i_public"), initStatic.PublicKey.ToArray());
        Assert.Equal(Hex(v, "static_r_public"), respStatic.PublicKey.ToArray());
        var initEphemeral = X25519KeyPair.FromPrivateKey(Hex(v, "ephemeral_dh_i_private"));
        var respEphemeral = X25519KeyPair.FromPrivateKey(Hex(v, "ephemeral_dh_r_private"));
        Assert.Equal(Hex(v, "ephemeral_dh_i_public"), initEphemeral.PublicKey.ToArray());
        Assert.Equal(Hex(v, "ephemeral_dh_r_public"), respEphemeral.PublicKey.ToArray());

        var prologue = Hex(v, "prologue");
        using var initiator = new HandshakeState(protocol, true, prologue, initStatic, initEphemeral, kemKey);
        using var responder = new HandshakeState(protocol, false, prologue, respStatic, respEphemeral);

        string[] names = ["msg_a", "msg_b", "msg_c"];
        for (int m = 0; m < 3; m++)
        {
            var (writer, reader) = m % 2 == 0 ? (initiator, responder) : (responder, initiator);
            var expected = Hex(v, names[m]);
            Assert.Equal(expected.Length, writer.GetNextMessageLength(0));
            var message = new byte[expected.Length];
            Assert.Equal(expected.Length, writer.WriteMessage(default, message));
            Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(message));
            Assert.Equal(0, reader.ReadMessage(message, Span<byte>.Empty));
        }

        Assert.Equal(Hex(v, "kem_ciphertext"), kem.LastCiphertext);
        Assert.Equal(Hex(v, "kem_shared_secret"), kem.LastSharedSecret);
        Assert.Equal(Hex(v, "handshake_hash"), initiator.HandshakeHash.ToArray());
        Assert.Equal(Hex(v, "handshake_hash"), responder.HandshakeHash.ToArray());

        // cs1 encrypts initiator -> responder; compare keys through their output on a known nonce and plaintext.
        var (iSend, iRecv) = initiator.Split();
        var (rSend, rRecv) = responder.Split();
        using (iSend)
        using (iRecv)
        using (rSend)
        using (rRecv)
        {
            AssertCipherUsesKey(iSend, Hex(v, "cs1_k"));
            AssertCipherUsesKey(rRecv, Hex(v, "cs1_k"), decrypt: true);
            AssertCipherUsesKey(rSend, Hex(v, "cs2_k"));
            AssertCipherUsesKey(iRecv, Hex(v, "cs2_k"), decrypt: true);
        }
    }

    private static void AssertCipherUsesKey(CipherState cipher, byte[] key, bool decrypt = false)
    {
        byte[] plaintext = "transport key check"u8.ToArray();
        var reference = new byte[plaintext.Length + CipherState.TagSize];
        using (var aead = new ChaCha20Poly1305(key))
        {
            aead.Encrypt(new byte[12], plaintext, reference.AsSpan(0, plaintext.Length), reference.AsSpan(plaintext.Length));
        }

        if (decrypt)
        {
            var output = new byte[plaintext.Length];
            cipher.DecryptWithAd(default, reference, output);
            Assert.Equal(plaintext, output);
        }
        else
        {
            var output = new byte[reference.Length];
            cipher.EncryptWithAd(default, plaintext, output);
            Assert.Equal(reference, output);
        }
    }

    private static byte[] Hex(JsonElement v, string name) => Convert.FromHexString(v.GetProperty(name).GetString()!);

    private static (string Protocol, List<JsonElement> Vectors) Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(SharedVectors.PathOf(VectorFile)));
        return (doc.RootElement.GetProperty("protocol").GetString()!,
            doc.RootElement.GetProperty("vectors").EnumerateArray().Select(e => e.Clone()).ToList());
    }

    /// <summary>ML-KEM-768 with the vector's fixed encapsulation randomness, named as the vector file names it.</summary>
    private sealed class FixedEncapsulationKem(byte[] message) : INoiseKem
    {
        public string Name => "MLKEM768";

        public int PublicKeyLength => MLKemAlgorithm.MLKem768.EncapsulationKeySizeInBytes;

        public int CiphertextLength => MLKemAlgorithm.MLKem768.CiphertextSizeInBytes;

        public int SharedSecretLength => 32;

        public byte[]? LastCiphertext { get; private set; }

        public byte[]? LastSharedSecret { get; private set; }

        public INoiseKemKeyPair GenerateKeyPair() => throw new InvalidOperationException("vectors fix the KEM key");

        public void Encapsulate(ReadOnlySpan<byte> publicKey, Span<byte> ciphertext, Span<byte> sharedSecret)
        {
            using var key = ManagedMLKem.ImportEncapsulationKey(MLKemAlgorithm.MLKem768, publicKey);
            key.Encapsulate(message, ciphertext, sharedSecret);
            LastCiphertext = ciphertext.ToArray();
            LastSharedSecret = sharedSecret.ToArray();
        }
    }
}
