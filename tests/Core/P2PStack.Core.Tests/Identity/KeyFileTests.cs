using P2PStack.Identity;

namespace P2PStack.Tests.Identity;

public sealed class KeyFileTests : IDisposable
{
    // Cheap parameters keep the tests fast; the defaults are covered once below.
    private static readonly KeyFileOptions Cheap = new() { ScryptLogN = 4, ScryptR = 1, ScryptP = 1 };
    private readonly string _directory = Directory.CreateTempSubdirectory("p2pkeyfile").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData(KeyType.Ed25519)]
    [InlineData(KeyType.Secp256k1)]
    [InlineData(KeyType.Ecdsa)]
    [InlineData(KeyType.Rsa)]
    public void EncryptedFile_RoundTrips(KeyType type)
    {
        using var key = PrivateKey.Generate(type);
        byte[] file = KeyFile.Encrypt(key, "correct horse", Cheap);
        Assert.True(KeyFile.IsEncrypted(file));
        using var loaded = KeyFile.Decode(file, "correct horse");
        Assert.Equal(key.ToProtobuf(), loaded.ToProtobuf());
    }

    [Fact]
    public void EncryptedFile_DoesNotContainThePlaintextKey()
    {
        using var key = PrivateKey.Generate();
        byte[] secret = key.ToProtobuf()[4..36];
        byte[] file = KeyFile.Encrypt(key, "pw", Cheap);
        Assert.Equal(-1, file.AsSpan().IndexOf(secret));
    }

    [Fact]
    public void EachFileHasAFreshSaltAndNonce()
    {
        using var key = PrivateKey.Generate();
        Assert.NotEqual(KeyFile.Encrypt(key, "pw", Cheap), KeyFile.Encrypt(key, "pw", Cheap));
    }

    /// <summary>Attack path 9: new files use scrypt N = 2^17, r = 8 (today's guidance for interactive logins, OWASP
    /// 2023; the old default 2^15 is below it).</summary>
    [Fact]
    public void DefaultParameters_AreStrongAndWork()
    {
        var defaults = new KeyFileOptions();
        Assert.True(defaults.ScryptLogN >= 17 && defaults.ScryptR >= 8);
        using var key = PrivateKey.Generate();
        byte[] file = KeyFile.Encrypt(key, "pw");
        Assert.Equal(17, file[10]);
        using var loaded = KeyFile.Decode(file, "pw");
        Assert.Equal(key.PublicKey, loaded.PublicKey);
    }

    [Fact]
    public void FilesWrittenWithTheOldCostStillLoad()
    {
        using var key = PrivateKey.Generate();
        byte[] file = KeyFile.Encrypt(key, "pw", new KeyFileOptions { ScryptLogN = 15 });
        Assert.Equal(15, file[10]);
        using var loaded = KeyFile.Decode(file, "pw");
        Assert.Equal(key.PublicKey, loaded.PublicKey);
    }

    [Fact]
    public void WrongPassphrase_SaysSo()
    {
        using var key = PrivateKey.Generate();
        byte[] file = KeyFile.Encrypt(key, "right", Cheap);
        var error = Assert.Throws<KeyFileException>(() => KeyFile.Decode(file, "wrong"));
        Assert.Contains("wrong passphrase", error.Message);
        Assert.Contains("passphrase is required", Assert.Throws<KeyFileException>(() => KeyFile.Decode(file, null)).Message);
    }

    [Fact]
    public void PassphraseIsUnicodeNormalized()
    {
        using var key = PrivateKey.Generate();
        byte[] file = KeyFile.Encrypt(key, "caf\u00e9", Cheap);           // precomposed é
        using var loaded = KeyFile.Decode(file, "cafe\u0301");            // e + combining acute
        Assert.Equal(key.PublicKey, loaded.PublicKey);
    }

    [Fact]
    public void EveryFlippedBitInAnEncryptedFileIsDetected()
    {
        using var key = PrivateKey.Generate();
        byte[] file = KeyFile.Encrypt(key, "pw", Cheap);
        for (int i = 0; i < file.Length; i++)
        {
            byte[] tampered = (byte[])file.Clone();
            tampered[i] ^= 0x04;
            Assert.Throws<KeyFileException>(() => KeyFile.Decode(tampered, "pw"));
        }
    }

    [Fact]
    public void EveryFlippedBitInAnUnencryptedFileIsDetected()
    {
        using var key = PrivateKey.Generate();
        byte[] file = KeyFile.EncodeUnencrypted(key);
        Assert.False(KeyFile.IsEncrypted(file));
        using (var loaded = KeyFile.Decode(file, null)) Assert.Equal(key.PublicKey, loaded.PublicKey);
        for (int i = 0; i < file.Length; i++)
        {
            byte[] tampered = (byte[])file.Clone();
            tampered[i] ^= 0x01;
            Assert.ThrowsAny<P2PFormatException>(() => KeyFile.Decode(tampered, null));
        }
    }

    [Fact]
    public void TruncatedFilesAreRejected()
    {
        using var key = PrivateKey.Generate();
        foreach (byte[] file in new[] { KeyFile.Encrypt(key, "pw", Cheap), KeyFile.EncodeUnencrypted(key) })
            for (int length = 0; length < file.Length; length++)
                Assert.Throws<KeyFileException>(() => KeyFile.Decode(file.AsSpan(0, length), "pw"));
    }

    [Fact]
    public void UnknownVersionIsReported()
    {
        using var key = PrivateKey.Generate();
        byte[] file = KeyFile.EncodeUnencrypted(key);
        file[8] = 2;
        Assert.Contains("unsupported key file version 2", Assert.Throws<KeyFileException>(() => KeyFile.Decode(file, null)).Message);
    }

    [Fact]
    public void HostileScryptParametersAreRefusedBeforeAnyWork()
    {
        using var key = PrivateKey.Generate();
        byte[] file = KeyFile.Encrypt(key, "pw", Cheap);
        byte[] hugeN = (byte[])file.Clone();
        hugeN[10] = 30; // N = 2^30 would need 1 TiB at r = 8
        Assert.Contains("scrypt memory", Assert.Throws<KeyFileException>(() => KeyFile.Decode(hugeN, "pw")).Message);
        byte[] hugeP = (byte[])file.Clone();
        hugeP[15..19].AsSpan().Clear();
        hugeP[18] = 64;
        hugeP[10] = 18;
        Assert.Throws<KeyFileException>(() => KeyFile.Decode(hugeP, "pw", new KeyFileOptions { MaxScryptWork = 1 << 20 }));
        byte[] zeroR = (byte[])file.Clone();
        zeroR[14] = 0;
        Assert.Contains("scrypt r", Assert.Throws<KeyFileException>(() => KeyFile.Decode(zeroR, "pw")).Message);
    }

    [Fact]
    public void RandomGarbageOnlyThrowsTypedExceptions()
    {
        var random = new Random(7);
        for (int i = 0; i < 300; i++)
        {
            byte[] garbage = new byte[random.Next(0, 200)];
            random.NextBytes(garbage);
            if (garbage.Length > 10 && i % 2 == 0) new byte[] { 0x89, 0x50, 0x32, 0x50, 0x4b, 0x45, 0x59, 0x0a, 1, (byte)(i % 4 == 0 ? 0 : 1) }.CopyTo(garbage, 0);
            if (garbage.Length > 10 && i % 4 == 2) garbage[10] = 4; // keep scrypt cheap
            Assert.ThrowsAny<P2PFormatException>(() => KeyFile.Decode(garbage, "pw"));
        }
    }

    [Fact]
    public void SaveAndLoad_AtomicOwnerOnlyFile()
    {
        using var key = PrivateKey.Generate(KeyType.Secp256k1);
        string path = Path.Combine(_directory, "identity.key");
        KeyFile.Save(path, key, "pw", Cheap);
        KeyFile.Save(path, key, "pw", Cheap); // overwrite works
        using (var loaded = KeyFile.Load(path, "pw")) Assert.Equal(key.PublicKey, loaded.PublicKey);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Single(Directory.GetFiles(_directory)); // no temporary left behind

        string plainPath = Path.Combine(_directory, "plain.key");
        KeyFile.SaveUnencrypted(plainPath, key);
        using (var loaded = KeyFile.Load(plainPath, null)) Assert.Equal(key.PublicKey, loaded.PublicKey);
    }

    [Fact]
    public void EmptyPassphraseIsRefusedForEncryption()
    {
        using var key = PrivateKey.Generate();
        Assert.Throws<ArgumentException>(() => KeyFile.Encrypt(key, "", Cheap));
    }
}
