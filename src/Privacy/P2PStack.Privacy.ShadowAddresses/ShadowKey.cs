using System.Security.Cryptography;
using Org.BouncyCastle.Math;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Privacy.ShadowAddresses;

/// <summary>The private half of a shadow address: a P-256 scalar, unrelated to the node's identity key.</summary>
public sealed class ShadowKey
{
    private readonly BigInteger _scalar;

    private ShadowKey(BigInteger scalar)
    {
        _scalar = scalar;
        Address = ShadowAddress.FromPublicKey(ShadowCurve.Encode(ShadowCurve.Multiply(ShadowCurve.BasePoint, scalar)));
    }

    /// <summary>The public address of this key.</summary>
    public ShadowAddress Address { get; }

    internal BigInteger Scalar => _scalar;

    /// <summary>A new random key.</summary>
    public static ShadowKey Generate() => new(ShadowCurve.RandomScalar());

    /// <summary>A key from its 32-byte big-endian scalar (as <see cref="Export"/> writes it).</summary>
    public static ShadowKey Import(ReadOnlySpan<byte> scalar)
    {
        if (scalar.Length != ShadowCurve.ScalarSize) throw new ShadowFormatException($"a shadow private key has {ShadowCurve.ScalarSize} bytes");
        var k = ShadowCurve.Scalar(scalar);
        if (k.SignValue <= 0 || k.CompareTo(ShadowCurve.Order) >= 0) throw new ShadowFormatException("a shadow private key is out of range");
        return new ShadowKey(k);
    }

    /// <summary>The 32-byte big-endian scalar; keep it secret.</summary>
    public byte[] Export() => ShadowCurve.ScalarBytes(_scalar);

    /// <summary>
    /// The identity the service authenticates as on this address's connections (docs/specs/shadow.md, section 7): an
    /// Ed25519 key whose seed is <c>HKDF-SHA256(ikm = scalar, salt = "", info = "synaptic-shadow-service-identity-v1")</c>.
    /// Derived, so it survives restarts; tied to this address only, so it says nothing of the node or its other addresses.
    /// </summary>
    public ILocalIdentity ServiceIdentity => _serviceIdentity ??= DeriveServiceIdentity();

    private ILocalIdentity? _serviceIdentity;

    private ILocalIdentity DeriveServiceIdentity()
    {
        byte[] seed = HKDF.DeriveKey(HashAlgorithmName.SHA256, Export(), 32, [], System.Text.Encoding.ASCII.GetBytes("synaptic-shadow-service-identity-v1"));
        try
        {
            return new ServiceIdentityKey(Ed25519PrivateKey.FromSeed(seed));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    private sealed class ServiceIdentityKey(PrivateKey key) : ILocalIdentity
    {
        public PrivateKey PrivateKey { get; } = key;

        public PeerId PeerId { get; } = PeerId.FromPublicKey(key.PublicKey);
    }

    /// <summary>The blinded signing key for <paramref name="period"/>.</summary>
    public BlindedShadowKey Blind(ShadowPeriod period) => BlindedShadowKey.FromKey(this, period);
}
