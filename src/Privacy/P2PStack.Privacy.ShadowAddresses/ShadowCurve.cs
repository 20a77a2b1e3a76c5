using System.Security.Cryptography;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Math;
using ECPoint = Org.BouncyCastle.Math.EC.ECPoint;

namespace P2PStack.Privacy.ShadowAddresses;

/// <summary>
/// NIST P-256 arithmetic for shadow keys: point decoding with full validation and scalar multiplication
/// (BouncyCastle), ECDSA with IEEE P1363 signatures (System.Security.Cryptography). Points travel compressed (33 bytes),
/// scalars as 32 big-endian bytes.
/// </summary>
internal static class ShadowCurve
{
    public const int PointSize = 33;
    public const int ScalarSize = 32;
    public const int SignatureSize = 64;

    private static readonly X9ECParameters Parameters = ECNamedCurveTable.GetByName("P-256");

    public static BigInteger Order => Parameters.N;

    /// <summary>Decodes a compressed point; throws <see cref="ShadowFormatException"/> unless it is a valid point of
    /// P-256 other than infinity.</summary>
    public static ECPoint DecodePoint(ReadOnlySpan<byte> encoded)
    {
        if (encoded.Length != PointSize || (encoded[0] != 2 && encoded[0] != 3))
            throw new ShadowFormatException($"a shadow key is a compressed P-256 point of {PointSize} bytes");
        try
        {
            var point = Parameters.Curve.DecodePoint(encoded.ToArray());
            if (point.IsInfinity || !point.IsValid()) throw new ShadowFormatException("a shadow key is not a valid P-256 point");
            return point;
        }
        catch (ArgumentException ex)
        {
            throw new ShadowFormatException("a shadow key is not a point of P-256", ex);
        }
    }

    public static byte[] Encode(ECPoint point) => point.Normalize().GetEncoded(true);

    public static ECPoint BasePoint => Parameters.G;

    public static ECPoint Multiply(ECPoint point, BigInteger scalar) => point.Multiply(scalar).Normalize();

    public static BigInteger Scalar(ReadOnlySpan<byte> bigEndian) => new(1, bigEndian.ToArray());

    public static byte[] ScalarBytes(BigInteger scalar) => scalar.ToByteArrayUnsigned() is var raw && raw.Length == ScalarSize
        ? raw
        : [.. new byte[ScalarSize - raw.Length], .. raw];

    /// <summary>A uniformly random scalar in [1, n).</summary>
    public static BigInteger RandomScalar()
    {
        Span<byte> bytes = stackalloc byte[ScalarSize];
        while (true)
        {
            RandomNumberGenerator.Fill(bytes);
            var k = Scalar(bytes);
            if (k.SignValue > 0 && k.CompareTo(Order) < 0) return k;
        }
    }

    /// <summary>ECDSA P-256 with SHA-256 over <paramref name="data"/>, as r || s (64 bytes).</summary>
    public static byte[] Sign(BigInteger privateScalar, ECPoint publicPoint, ReadOnlySpan<byte> data)
    {
        using var ecdsa = ECDsa.Create(Parameters_(privateScalar, publicPoint));
        return ecdsa.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    public static bool Verify(ECPoint publicPoint, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (signature.Length != SignatureSize) return false;
        using var ecdsa = ECDsa.Create(Parameters_(null, publicPoint));
        return ecdsa.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    private static ECParameters Parameters_(BigInteger? privateScalar, ECPoint publicPoint)
    {
        var normal = publicPoint.Normalize();
        return new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            Q = new System.Security.Cryptography.ECPoint
            {
                X = normal.AffineXCoord.GetEncoded(),
                Y = normal.AffineYCoord.GetEncoded(),
            },
            D = privateScalar is null ? null : ScalarBytes(privateScalar),
        };
    }
}
