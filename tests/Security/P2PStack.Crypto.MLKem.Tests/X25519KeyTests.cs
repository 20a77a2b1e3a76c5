using System.Security.Cryptography;
using BcX25519 = Org.BouncyCastle.Math.EC.Rfc7748.X25519;

namespace P2PStack.Crypto.MLKem.Tests;

/// <summary>
/// X25519 through both implementations (OpenSSL's libcrypto and BouncyCastle): RFC 7748's vectors, a randomized
/// cross-check against BouncyCastle's reference, and the all-zero (low-order) semantics callers rely on.
/// </summary>
public class X25519KeyTests
{
    public static TheoryData<X25519Implementation> Implementations => [X25519Implementation.BouncyCastle, X25519Implementation.OpenSsl];

    [SkippableFact]
    public void OpenSslIsUsedOnLinux()
    {
        // .NET on Linux needs libcrypto; if it stops loading, the fast path would be lost silently.
        Skip.IfNot(OperatingSystem.IsLinux(), "not Linux: OpenSSL's X25519 is optional here");
        Assert.True(X25519Key.OpenSslAvailable);
        if (Environment.GetEnvironmentVariable(X25519Key.ImplementationVariable) is null)
        {
            Assert.Equal(X25519Implementation.OpenSsl, X25519Key.Default);
            using var key = X25519Key.Generate();
            Assert.Equal(X25519Implementation.OpenSsl, key.Implementation);
        }
    }

    // RFC 7748 section 5.2 (the second vector's u has its top bit set, which must be ignored).
    [SkippableTheory]
    [InlineData("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")]
    [InlineData("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957")]
    public void Rfc7748ScalarMultiplicationVectors(string scalar, string u, string expected)
    {
        foreach (var implementation in new[] { X25519Implementation.BouncyCastle, X25519Implementation.OpenSsl })
        {
            if (!Usable(implementation)) continue;
            using var key = X25519Key.Import(Convert.FromHexString(scalar), implementation);
            Assert.Equal(implementation, key.Implementation);
            var shared = new byte[32];
            Assert.True(key.Agree(Convert.FromHexString(u), shared));
            Assert.Equal(expected, Convert.ToHexStringLower(shared));

            var publicKey = new byte[32];
            Array.Clear(shared);
            Assert.True(X25519Key.ScalarMultBaseAndAgree(Convert.FromHexString(scalar), Convert.FromHexString(u), publicKey, shared, implementation));
            Assert.Equal(expected, Convert.ToHexStringLower(shared));
            Assert.Equal(key.PublicKey.ToArray(), publicKey);
        }

        SkipUnlessUsable(X25519Implementation.OpenSsl); // BouncyCastle checked; the OpenSSL half did not run
    }

    // RFC 7748 section 5.2, iterated: k = u = 9; k, u = X25519(k, u), k.
    [SkippableTheory]
    [MemberData(nameof(Implementations))]
    public void Rfc7748IteratedVector(X25519Implementation implementation)
    {
        SkipUnlessUsable(implementation);
        byte[] k = new byte[32], u = new byte[32], next = new byte[32], publicKey = new byte[32];
        k[0] = 9;
        u[0] = 9;
        for (int i = 1; i <= 1000; i++)
        {
            Assert.True(X25519Key.ScalarMultBaseAndAgree(k, u, publicKey, next, implementation));
            k.CopyTo(u);
            next.CopyTo(k);
            if (i == 1) Assert.Equal("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079", Convert.ToHexStringLower(k));
        }

        Assert.Equal("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51", Convert.ToHexStringLower(k));
    }

    // RFC 7748 section 6.1: both key pairs and the shared secret.
    [SkippableTheory]
    [MemberData(nameof(Implementations))]
    public void Rfc7748DiffieHellmanVector(X25519Implementation implementation)
    {
        SkipUnlessUsable(implementation);
        using var alice = X25519Key.Import(Convert.FromHexString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"), implementation);
        using var bob = X25519Key.Import(Convert.FromHexString("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"), implementation);
        Assert.Equal("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", Convert.ToHexStringLower(alice.PublicKey));
        Assert.Equal("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", Convert.ToHexStringLower(bob.PublicKey));
        byte[] a = new byte[32], b = new byte[32];
        Assert.True(alice.Agree(bob.PublicKey, a));
        Assert.True(bob.Agree(alice.PublicKey, b));
        Assert.Equal("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", Convert.ToHexStringLower(a));
        Assert.Equal(a, b);
    }

    [SkippableFact]
    public void OpenSslAgreesWithBouncyCastleOnRandomScalarsAndArbitraryPoints()
    {
        SkipUnlessUsable(X25519Implementation.OpenSsl);
        byte[] scalar = new byte[32], u = new byte[32], expected = new byte[32], actual = new byte[32], expectedPublic = new byte[32], actualPublic = new byte[32];
        for (int i = 0; i < 300; i++)
        {
            RandomNumberGenerator.Fill(scalar);
            RandomNumberGenerator.Fill(u);   // any 32 bytes: top bit set, values >= p, points on the twist
            if (i % 3 == 1) u[31] |= 0x80;
            if (i % 3 == 2) { u.AsSpan().Fill(0xff); u[0] = (byte)(0xed + i % 19); }   // near 2^255 - 1: non-canonical

            bool expectedOk = BcX25519.CalculateAgreement(scalar, u, expected);
            BcX25519.ScalarMultBase(scalar, expectedPublic);
            using var key = X25519Key.Import(scalar, X25519Implementation.OpenSsl);
            Assert.Equal(expectedPublic, key.PublicKey.ToArray());
            Assert.Equal(expectedOk, key.Agree(u, actual));
            Assert.Equal(expected, actual);

            Assert.Equal(expectedOk, X25519Key.ScalarMultBaseAndAgree(scalar, u, actualPublic, actual, X25519Implementation.OpenSsl));
            Assert.Equal(expected, actual);
            Assert.Equal(expectedPublic, actualPublic);
        }
    }

    [SkippableFact]
    public void KeysGeneratedInsideOpenSslAgreeWithBouncyCastleKeys()
    {
        SkipUnlessUsable(X25519Implementation.OpenSsl);
        using var openssl = X25519Key.Generate(X25519Implementation.OpenSsl);
        byte[] a = new byte[32], b = new byte[32];
        for (int i = 0; i < 50; i++)
        {
            using var managed = X25519Key.Generate(X25519Implementation.BouncyCastle);
            Assert.True(openssl.Agree(managed.PublicKey, a));   // the same key, its kept derive context reused
            Assert.True(managed.Agree(openssl.PublicKey, b));
            Assert.Equal(b, a);
        }
    }

    // u = 0, 1, p - 1, the two points of order 8, and p, p + 1 (non-canonical encodings of 0 and 1).
    public static TheoryData<string> LowOrderKeys => new()
    {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    };

    [SkippableTheory]
    [MemberData(nameof(LowOrderKeys))]
    public void LowOrderPointsGiveZerosAndFalseInBoth(string lowOrder)
    {
        byte[] u = Convert.FromHexString(lowOrder);
        foreach (var implementation in new[] { X25519Implementation.BouncyCastle, X25519Implementation.OpenSsl })
        {
            if (!Usable(implementation)) continue;
            using var key = X25519Key.Generate(implementation);
            byte[] shared = RandomNumberGenerator.GetBytes(32), publicKey = new byte[32];
            Assert.False(key.Agree(u, shared));
            Assert.All(shared, b => Assert.Equal(0, b));
            // The key stays usable after a refused agreement.
            using var other = X25519Key.Generate(X25519Implementation.BouncyCastle);
            Assert.True(key.Agree(other.PublicKey, shared));

            RandomNumberGenerator.Fill(shared);
            Assert.False(X25519Key.ScalarMultBaseAndAgree(RandomNumberGenerator.GetBytes(32), u, publicKey, shared, implementation));
            Assert.All(shared, b => Assert.Equal(0, b));
        }

        SkipUnlessUsable(X25519Implementation.OpenSsl); // BouncyCastle checked; the OpenSSL half did not run
    }

    // A remote sending a low-order key (top bit set or not) must not make an agreement take the key out of OpenSSL.
    [SkippableTheory]
    [MemberData(nameof(LowOrderKeys))]
    public void LowOrderPeerKeysAreRefusedWithoutExportingThePrivateKey(string lowOrder)
    {
        byte[] u = Convert.FromHexString(lowOrder);
        byte[] withTopBit = [.. u];
        withTopBit[31] |= 0x80;
        Assert.True(X25519Key.IsLowOrder(u));
        Assert.True(X25519Key.IsLowOrder(withTopBit));
        SkipUnlessUsable(X25519Implementation.OpenSsl);
        using var key = X25519Key.Generate(X25519Implementation.OpenSsl);
        byte[] shared = new byte[32];
        long before = X25519Key.PrivateKeyExports;
        Assert.False(key.Agree(u, shared));
        Assert.False(key.Agree(withTopBit, shared));
        Assert.Equal(before, X25519Key.PrivateKeyExports);
    }

    [Fact]
    public void OrdinaryKeysAreNotLowOrder()
    {
        for (int i = 0; i < 100; i++)
        {
            using var key = X25519Key.Generate(X25519Implementation.BouncyCastle);
            Assert.False(X25519Key.IsLowOrder(key.PublicKey));
        }
    }

    [SkippableFact]
    public void ConcurrentAgreementsOnOneKeyAreCorrect()
    {
        SkipUnlessUsable(X25519Implementation.OpenSsl);
        using var key = X25519Key.Generate(X25519Implementation.OpenSsl);
        var peers = Enumerable.Range(0, 64).Select(_ => X25519Key.Generate(X25519Implementation.BouncyCastle)).ToArray();
        try
        {
            Parallel.For(0, 2000, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
            {
                var peer = peers[i % peers.Length];
                Span<byte> a = stackalloc byte[32], b = stackalloc byte[32];
                Assert.True(key.Agree(peer.PublicKey, a));
                Assert.True(peer.Agree(key.PublicKey, b));
                Assert.True(a.SequenceEqual(b));
            });
        }
        finally
        {
            foreach (var peer in peers) peer.Dispose();
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Implementations))]
    public void ADisposedKeyRefusesWorkAndBadLengthsAreRefused(X25519Implementation implementation)
    {
        SkipUnlessUsable(implementation);
        var key = X25519Key.Generate(implementation);
        Assert.Throws<ArgumentException>(() => key.Agree(new byte[31], new byte[32]));
        Assert.Throws<ArgumentException>(() => key.Agree(new byte[32], new byte[31]));
        Assert.Throws<ArgumentException>(() => X25519Key.Import(new byte[33], implementation));
        key.Dispose();
        key.Dispose();
        Assert.Throws<ObjectDisposedException>(() => key.Agree(new byte[32], new byte[32]));
    }

    // A key disposed while agreements run on it (a Noise static key evicted mid-handshake): each agreement either
    // completes with the right secret or throws ObjectDisposedException; none crashes, computes with a freed handle
    // or a half-erased key, or hangs.
    [SkippableTheory]
    [MemberData(nameof(Implementations))]
    public void DisposingAKeyDuringConcurrentAgreementsEndsEachInTheRightSecretOrObjectDisposed(X25519Implementation implementation)
    {
        SkipUnlessUsable(implementation);
        using var peer = X25519Key.Generate(X25519Implementation.BouncyCastle);
        long completed = 0, refused = 0;
        for (int round = 0; round < 50; round++)
        {
            var key = X25519Key.Generate(implementation);
            byte[] expected = new byte[32];
            Assert.True(peer.Agree(key.PublicKey, expected));
            long before = Interlocked.Read(ref completed);
            var workers = Enumerable.Range(0, 3).Select(_ => Task.Factory.StartNew(() =>
            {
                Span<byte> shared = stackalloc byte[32];
                while (true)
                {
                    try
                    {
                        shared.Clear();
                        Assert.True(key.Agree(peer.PublicKey, shared));
                    }
                    catch (ObjectDisposedException)
                    {
                        Interlocked.Increment(ref refused);
                        return;
                    }

                    Assert.True(shared.SequenceEqual(expected), "an agreement completed with a wrong secret");
                    Interlocked.Increment(ref completed);
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();

            // Disposed once the workers are agreeing (or one has failed), at a varying point of their agreements.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (Interlocked.Read(ref completed) < before + 3 && !workers.Any(w => w.IsCompleted) && DateTime.UtcNow < deadline)
            {
                Thread.SpinWait(100);
            }

            Thread.SpinWait(Random.Shared.Next(1, 20_000));
            key.Dispose();
            Assert.True(Task.WaitAll(workers, TimeSpan.FromSeconds(30)), "an agreement did not end after Dispose");
        }

        Assert.Equal(150, refused); // every worker ended on ObjectDisposedException, none on a failure
        Assert.True(completed >= 150);
    }

    [Fact]
    public void XWingDecapsulationOfALowOrderX25519CiphertextUsesTheZeroSecret()
    {
        // X-Wing does not refuse an all-zero X25519 result: the combiner takes 32 zero bytes, whichever implementation.
        byte[] seed = RandomNumberGenerator.GetBytes(32);
        using var key = XWingKem.FromSeed(seed);
        using var sender = XWingKem.FromPublicKey(key.ExportPublicKey());
        byte[] ct = new byte[XWingKem.CiphertextSize], ss = new byte[32];
        sender.Encapsulate(ct, ss);
        ct.AsSpan(1088).Clear();   // X25519 part: u = 0

        byte[] expanded = new byte[96], ssM = new byte[32], input = new byte[134], expected = new byte[32];
        Hashing.Shake256(seed, default, default, expanded);
        using (var mlkem = ManagedMLKem.ImportPrivateSeed(MLKemAlgorithm.MLKem768, expanded.AsSpan(0, 64)))
        {
            mlkem.Decapsulate(ct.AsSpan(0, 1088), ssM);
        }

        ssM.CopyTo(input, 0);                                   // ss_M, then ss_X = 0 and ct_X = 0
        key.ExportPublicKey().AsSpan(1184).CopyTo(input.AsSpan(96));   // pk_X
        "\\.//^\\"u8.CopyTo(input.AsSpan(128));
        Hashing.H(input, expected);
        Assert.Equal(expected, key.Decapsulate(ct));
    }

    private static bool Usable(X25519Implementation implementation) =>
        implementation == X25519Implementation.BouncyCastle || X25519Key.OpenSslAvailable;

    /// <summary>Reports the test skipped (not passed) where OpenSSL's X25519 cannot be used.</summary>
    private static void SkipUnlessUsable(X25519Implementation implementation) =>
        Skip.IfNot(Usable(implementation), "OpenSSL's X25519 is not available here (libcrypto.so.3 or .so.1.1 with X25519)");
}
