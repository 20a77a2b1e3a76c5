using Org.BouncyCastle.Math;

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

    /// <summary>The blinded signing key for <paramref name="period"/>.</summary>
    public BlindedShadowKey Blind(ShadowPeriod period) => BlindedShadowKey.FromKey(this, period);
}
