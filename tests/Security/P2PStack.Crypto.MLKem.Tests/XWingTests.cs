using System.Text.Json;

namespace P2PStack.Crypto.MLKem.Tests;

public class XWingTests
{
    [Fact]
    public void ReproducesEveryDraftVector()
    {
        using JsonDocument doc = VectorFiles.Load("xwing", "test-vectors.json");
        int count = 0;
        foreach (JsonElement v in doc.RootElement.EnumerateArray())
        {
            using XWingKem key = XWingKem.FromSeed(v.Hex("seed"));
            Assert.Equal(v.Hex("sk"), key.ExportPrivateSeed());
            Assert.Equal(v.Hex("pk"), key.ExportPublicKey());
            using XWingKem sender = XWingKem.FromPublicKey(v.Hex("pk"));
            byte[] ct = new byte[XWingKem.CiphertextSize], ss = new byte[32];
            sender.Encapsulate(v.Hex("eseed"), ct, ss);
            Assert.Equal(v.Hex("ct"), ct);
            Assert.Equal(v.Hex("ss"), ss);
            Assert.Equal(v.Hex("ss"), key.Decapsulate(v.Hex("ct")));
            count++;
        }
        Assert.Equal(3, count);
    }

    [Fact]
    public void EncapsulatingWithAnX25519KeyGeneratedAheadReproducesTheDraftVectors()
    {
        using JsonDocument doc = VectorFiles.Load("xwing", "test-vectors.json");
        foreach (JsonElement v in doc.RootElement.EnumerateArray())
        {
            byte[] eseed = v.Hex("eseed");
            using XWingKem sender = XWingKem.FromPublicKey(v.Hex("pk"));
            using X25519Key ephemeral = X25519Key.Import(eseed.AsSpan(32));
            byte[] ct = new byte[XWingKem.CiphertextSize], ss = new byte[32];
            sender.Encapsulate(eseed.AsSpan(0, 32), ephemeral, ct, ss);
            Assert.Equal(v.Hex("ct"), ct);
            Assert.Equal(v.Hex("ss"), ss);
        }
        // With fresh randomness: the receiver decapsulates the same secret, and ct_X is the ephemeral's public key.
        using XWingKem key = XWingKem.GenerateKey();
        using XWingKem to = XWingKem.FromPublicKey(key.ExportPublicKey());
        using X25519Key fresh = X25519Key.Generate();
        byte[] ct2 = new byte[XWingKem.CiphertextSize], ss2 = new byte[32];
        to.Encapsulate(fresh, ct2, ss2);
        Assert.Equal(fresh.PublicKey.ToArray(), ct2.AsSpan(XWingKem.CiphertextSize - 32).ToArray());
        Assert.Equal(ss2, key.Decapsulate(ct2));
    }

    [Fact]
    public void RandomRoundTripsAndTampering()
    {
        for (int i = 0; i < 10; i++)
        {
            using XWingKem key = XWingKem.GenerateKey();
            using XWingKem sender = XWingKem.FromPublicKey(key.ExportPublicKey());
            byte[] ct = new byte[XWingKem.CiphertextSize], ss = new byte[32];
            sender.Encapsulate(ct, ss);
            Assert.Equal(ss, key.Decapsulate(ct));
            ct[i * 100] ^= 0x40;
            Assert.NotEqual(ss, key.Decapsulate(ct));
        }
        using XWingKem pub = XWingKem.FromPublicKey(XWingKem.GenerateKey().ExportPublicKey());
        Assert.Throws<System.Security.Cryptography.CryptographicException>(() => pub.Decapsulate(new byte[XWingKem.CiphertextSize]));
        Assert.Throws<ArgumentException>(() => XWingKem.FromSeed(new byte[31]));
    }
}
