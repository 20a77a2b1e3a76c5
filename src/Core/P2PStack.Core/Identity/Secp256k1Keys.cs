using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Digests;
using Org.BouncyCastle.Crypto.EC;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;
using Org.BouncyCastle.Math;
using ECPoint = Org.BouncyCastle.Math.EC.ECPoint;

namespace P2PStack.Identity;

/// <summary>Shared secp256k1 domain parameters.</summary>
internal static class Secp256k1Curve
{
    public static readonly ECDomainParameters Domain = CreateDomain();
    public static readonly BigInteger HalfOrder = Domain.N.ShiftRight(1);

    private static ECDomainParameters CreateDomain()
    {
        var parameters = CustomNamedCurves.GetByName("secp256k1");
        return new ECDomainParameters(parameters.Curve, parameters.G, parameters.N, parameters.H, parameters.GetSeed());
    }
}

/// <summary>
/// secp256k1 public key: Data is the 33-byte compressed SEC1 point. Decoding also accepts the 65-byte uncompressed
/// form (as go-libp2p does) and re-encodes it compressed. Signatures are strict-DER ECDSA over SHA-256.
/// </summary>
public sealed class Secp256k1PublicKey : PublicKey
{
    public const int CompressedSize = 33;
    private const int UncompressedSize = 65;

    private readonly ECPublicKeyParameters _parameters;

    private Secp256k1PublicKey(ECPoint point) : base(point.GetEncoded(true)) =>
        _parameters = new ECPublicKeyParameters(point, Secp256k1Curve.Domain);

    public override KeyType Type => KeyType.Secp256k1;

    internal static Secp256k1PublicKey FromPoint(ECPoint point) => new(point.Normalize());

    internal static Secp256k1PublicKey FromRaw(ReadOnlySpan<byte> data)
    {
        bool compressed = data.Length == CompressedSize && (data[0] == 0x02 || data[0] == 0x03);
        bool uncompressed = data.Length == UncompressedSize && data[0] == 0x04;
        if (!compressed && !uncompressed)
            throw new KeyFormatException($"secp256k1 public key must be a 33-byte compressed or 65-byte uncompressed point, got {data.Length} bytes");
        ECPoint point;
        try { point = Secp256k1Curve.Domain.Curve.DecodePoint(data.ToArray()); }
        catch (ArgumentException e) { throw new KeyFormatException("secp256k1 public key is not a point on the curve", e); }
        if (point.IsInfinity || !point.IsValid()) throw new KeyFormatException("secp256k1 public key is not a valid curve point");
        return new Secp256k1PublicKey(point.Normalize());
    }

    public override bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (!EcdsaDer.TryDecode(signature, 32, out var r, out var s)) return false;
        var rValue = new BigInteger(1, r.ToArray());
        var sValue = new BigInteger(1, s.ToArray());
        var n = Secp256k1Curve.Domain.N;
        if (rValue.SignValue == 0 || sValue.SignValue == 0 || rValue.CompareTo(n) >= 0 || sValue.CompareTo(n) >= 0) return false;
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(data, hash);
        try
        {
            var verifier = new ECDsaSigner();
            verifier.Init(false, _parameters);
            // High-S signatures verify, as in go-libp2p; our own signatures are always low-S.
            return verifier.VerifySignature(hash.ToArray(), rValue, sValue);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or ArithmeticException)
        {
            return false;
        }
    }
}

/// <summary>secp256k1 private key: Data is the 32-byte big-endian scalar. Signs deterministically (RFC 6979) with low S.</summary>
public sealed class Secp256k1PrivateKey : PrivateKey
{
    private const int ScalarSize = 32;
    private readonly byte[] _scalar;
    private readonly Secp256k1PublicKey _publicKey;

    private Secp256k1PrivateKey(byte[] scalar)
    {
        _scalar = scalar;
        var d = new BigInteger(1, scalar);
        _publicKey = Secp256k1PublicKey.FromPoint(Secp256k1Curve.Domain.G.Multiply(d));
    }

    public override KeyType Type => KeyType.Secp256k1;
    public override PublicKey PublicKey => _publicKey;

    public static Secp256k1PrivateKey Generate()
    {
        var scalar = new byte[ScalarSize];
        while (true)
        {
            RandomNumberGenerator.Fill(scalar);
            if (IsValidScalar(scalar)) return new Secp256k1PrivateKey(scalar);
        }
    }

    internal static Secp256k1PrivateKey FromRaw(ReadOnlySpan<byte> data)
    {
        if (data.Length != ScalarSize) throw new KeyFormatException($"secp256k1 private key must be {ScalarSize} bytes, got {data.Length}");
        byte[] scalar = data.ToArray();
        if (!IsValidScalar(scalar))
        {
            CryptographicOperations.ZeroMemory(scalar);
            throw new KeyFormatException("secp256k1 private key is zero or not below the group order");
        }
        return new Secp256k1PrivateKey(scalar);
    }

    private static bool IsValidScalar(byte[] scalar)
    {
        var d = new BigInteger(1, scalar);
        return d.SignValue > 0 && d.CompareTo(Secp256k1Curve.Domain.N) < 0;
    }

    public override byte[] Sign(ReadOnlySpan<byte> data)
    {
        ThrowIfDisposed();
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(data, hash);
        var signer = new ECDsaSigner(new HMacDsaKCalculator(new Sha256Digest()));
        signer.Init(true, new ECPrivateKeyParameters(new BigInteger(1, _scalar), Secp256k1Curve.Domain));
        BigInteger[] rs = signer.GenerateSignature(hash.ToArray());
        BigInteger s = rs[1];
        if (s.CompareTo(Secp256k1Curve.HalfOrder) > 0) s = Secp256k1Curve.Domain.N.Subtract(s);
        return EcdsaDer.Encode(rs[0].ToByteArrayUnsigned(), s.ToByteArrayUnsigned());
    }

    protected override byte[] ExportRaw() => (byte[])_scalar.Clone();

    protected override void DisposeSecrets() => CryptographicOperations.ZeroMemory(_scalar);
}
