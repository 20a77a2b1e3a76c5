using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Kems;
using Org.BouncyCastle.Crypto.Parameters;
using BcParameters = Org.BouncyCastle.Crypto.Parameters.MLKemParameters;
using Org.BouncyCastle.Security;

namespace P2PStack.Crypto.MLKem.Tests;

/// <summary>
/// BouncyCastle's ML-KEM (BouncyCastle.Cryptography 2.7, its own FIPS 203 code) as a third independent check besides
/// the official vectors and @noble/post-quantum: from the same seed and the same encapsulation message both give the
/// same keys, ciphertexts and secrets, each decapsulates what the other encapsulated, and implicit rejection of a
/// tampered ciphertext yields the same secret.
/// </summary>
public sealed class BouncyCastleCrossCheckTests
{
    public static TheoryData<string> Algorithms => new() { "ML-KEM-512", "ML-KEM-768", "ML-KEM-1024" };

    private const int Rounds = 40;

    private static BcParameters BouncyParameters(MLKemAlgorithm algorithm) =>
        algorithm == MLKemAlgorithm.MLKem512 ? BcParameters.ml_kem_512
        : algorithm == MLKemAlgorithm.MLKem768 ? BcParameters.ml_kem_768
        : BcParameters.ml_kem_1024;

    /// <summary>A "random" source that returns fixed bytes: BouncyCastle draws the encapsulation message m from it.</summary>
    private sealed class FixedRandom(byte[] bytes) : SecureRandom
    {
        private int _offset;

        public override void NextBytes(byte[] buf) => NextBytes(buf, 0, buf.Length);

        public override void NextBytes(byte[] buf, int off, int len) => NextBytes(buf.AsSpan(off, len));

        public override void NextBytes(Span<byte> buffer)
        {
            if (_offset + buffer.Length > bytes.Length) throw new InvalidOperationException("the fixed random bytes are used up");
            bytes.AsSpan(_offset, buffer.Length).CopyTo(buffer);
            _offset += buffer.Length;
        }
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void SameSeedGivesTheSameKeys(string name)
    {
        var algorithm = AcvpTests.AlgorithmOf(name);
        var bcParameters = BouncyParameters(algorithm);
        for (int i = 0; i < Rounds; i++)
        {
            byte[] seed = RandomNumberGenerator.GetBytes(64);
            using var ours = ManagedMLKem.ImportPrivateSeed(algorithm, seed);
            var theirs = MLKemPrivateKeyParameters.FromSeed(bcParameters, seed).WithPreferredFormat(MLKemPrivateKeyParameters.Format.EncodingOnly);
            Assert.Equal(theirs.GetPublicKeyEncoded(), ours.ExportEncapsulationKey());
            Assert.Equal(theirs.GetEncoded(), ours.ExportDecapsulationKey());
        }
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void SameMessageGivesTheSameCiphertextAndSecret(string name)
    {
        var algorithm = AcvpTests.AlgorithmOf(name);
        var bcParameters = BouncyParameters(algorithm);
        for (int i = 0; i < Rounds; i++)
        {
            using var key = ManagedMLKem.GenerateKey(algorithm);
            byte[] message = RandomNumberGenerator.GetBytes(32);
            byte[] ourCiphertext = new byte[bcParameters.ParameterSet.EncapsulationLength];
            byte[] ourSecret = new byte[32];
            key.Encapsulate(message, ourCiphertext, ourSecret);

            var encapsulator = new MLKemEncapsulator(bcParameters);
            encapsulator.Init(new ParametersWithRandom(
                MLKemPublicKeyParameters.FromEncoding(bcParameters, key.ExportEncapsulationKey()), new FixedRandom(message)));
            byte[] theirCiphertext = new byte[encapsulator.EncapsulationLength];
            byte[] theirSecret = new byte[encapsulator.SecretLength];
            encapsulator.Encapsulate(theirCiphertext, theirSecret);

            Assert.Equal(theirCiphertext, ourCiphertext);
            Assert.Equal(theirSecret, ourSecret);
        }
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void EachDecapsulatesTheOthersCiphertextsAndRejectsTamperingAlike(string name)
    {
        var algorithm = AcvpTests.AlgorithmOf(name);
        var bcParameters = BouncyParameters(algorithm);
        var random = new Random(name.Length);
        for (int i = 0; i < Rounds; i++)
        {
            byte[] seed = RandomNumberGenerator.GetBytes(64);
            using var ours = ManagedMLKem.ImportPrivateSeed(algorithm, seed);
            var theirs = MLKemPrivateKeyParameters.FromSeed(bcParameters, seed);
            var decapsulator = new MLKemDecapsulator(bcParameters);
            decapsulator.Init(theirs);

            // Theirs to ours.
            var encapsulator = new MLKemEncapsulator(bcParameters);
            encapsulator.Init(new ParametersWithRandom(theirs.GetPublicKey(), new SecureRandom()));
            byte[] ciphertext = new byte[encapsulator.EncapsulationLength];
            byte[] secret = new byte[encapsulator.SecretLength];
            encapsulator.Encapsulate(ciphertext, secret);
            Assert.Equal(secret, ours.Decapsulate(ciphertext));

            // Ours to theirs.
            ours.Encapsulate(out byte[] ourCiphertext, out byte[] ourSecret);
            byte[] decapsulated = new byte[decapsulator.SecretLength];
            decapsulator.Decapsulate(ourCiphertext, decapsulated);
            Assert.Equal(ourSecret, decapsulated);

            // A flipped bit: both reject implicitly, to the same pseudo-random secret.
            ourCiphertext[random.Next(ourCiphertext.Length)] ^= (byte)(1 << random.Next(8));
            decapsulator.Decapsulate(ourCiphertext, decapsulated);
            Assert.NotEqual(ourSecret, decapsulated);
            Assert.Equal(decapsulated, ours.Decapsulate(ourCiphertext));
        }
    }
}
