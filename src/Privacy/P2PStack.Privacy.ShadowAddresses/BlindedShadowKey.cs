using System.Buffers.Binary;
using System.Security.Cryptography;
using Org.BouncyCastle.Math;
using ECPoint = Org.BouncyCastle.Math.EC.ECPoint;

namespace P2PStack.Privacy.ShadowAddresses;

/// <summary>
/// Key blinding (the construction of Tor's rend-spec-v3 on P-256): for address key <c>A = a·G</c> and period
/// <c>p</c>, <c>h = SHA-256("synaptic-shadow-blind-v1" || A || length || number) mod n</c>, the blinded public key
/// <c>A' = h·A</c> and the blinded private key <c>a' = h·a mod n</c>. Anyone who knows <c>A</c> computes <c>A'</c> for
/// any period; without <c>A</c>, the keys of two periods look unrelated, and <c>A'</c> reveals nothing of <c>A</c>.
/// </summary>
public sealed class BlindedShadowKey
{
    private static readonly byte[] Label = "synaptic-shadow-blind-v1"u8.ToArray();
    private readonly BigInteger? _privateScalar;

    private BlindedShadowKey(ECPoint point, BigInteger? privateScalar, ShadowPeriod period)
    {
        Point = point;
        _privateScalar = privateScalar;
        Period = period;
        PublicKey = ShadowCurve.Encode(point);
    }

    /// <summary>The blinded public key <c>A'</c>, compressed (33 bytes).</summary>
    public byte[] PublicKey { get; }

    public ShadowPeriod Period { get; }

    internal ECPoint Point { get; }

    /// <summary>Whether this side can sign (it holds the address's private key).</summary>
    public bool CanSign => _privateScalar is not null;

    /// <summary><c>A'</c> for <paramref name="period"/>, from the public address: what a client computes.</summary>
    public static BlindedShadowKey FromAddress(ShadowAddress address, ShadowPeriod period)
    {
        ArgumentNullException.ThrowIfNull(address);
        var h = Factor(address.PublicKey, period);
        return new BlindedShadowKey(ShadowCurve.Multiply(address.Point, h), null, period);
    }

    internal static BlindedShadowKey FromKey(ShadowKey key, ShadowPeriod period)
    {
        var h = Factor(key.Address.PublicKey, period);
        var blinded = key.Scalar.Multiply(h).Mod(ShadowCurve.Order);
        return new BlindedShadowKey(ShadowCurve.Multiply(ShadowCurve.BasePoint, blinded), blinded, period);
    }

    /// <summary>A blinded public key read from outside (a DHT record): validated, cannot sign.</summary>
    internal static BlindedShadowKey FromPublic(ReadOnlySpan<byte> compressed, ShadowPeriod period) =>
        new(ShadowCurve.DecodePoint(compressed), null, period);

    internal byte[] Sign(ReadOnlySpan<byte> data) =>
        ShadowCurve.Sign(_privateScalar ?? throw new InvalidOperationException("a blinded public key cannot sign"), Point, data);

    internal bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature) => ShadowCurve.Verify(Point, data, signature);

    private static BigInteger Factor(ReadOnlySpan<byte> addressKey, ShadowPeriod period)
    {
        Span<byte> input = stackalloc byte[24 + ShadowCurve.PointSize + 16];
        Label.CopyTo(input);
        addressKey.CopyTo(input[24..]);
        BinaryPrimitives.WriteUInt64BigEndian(input[(24 + ShadowCurve.PointSize)..], period.LengthSeconds);
        BinaryPrimitives.WriteUInt64BigEndian(input[(32 + ShadowCurve.PointSize)..], period.Number);
        var h = ShadowCurve.Scalar(SHA256.HashData(input)).Mod(ShadowCurve.Order);
        // h = 0 happens with probability 2^-256; refuse rather than publish under the point at infinity.
        if (h.SignValue == 0) throw new CryptographicException("blinding factor is zero");
        return h;
    }
}
