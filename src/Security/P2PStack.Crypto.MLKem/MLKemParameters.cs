using System.Security.Cryptography;

namespace P2PStack.Crypto.MLKem;

/// <summary>One FIPS 203 parameter set (Table 2) and the byte sizes derived from it.</summary>
internal sealed class MLKemParameters
{
    public static readonly MLKemParameters MLKem512 = new(MLKemAlgorithm.MLKem512, k: 2, eta1: 3, eta2: 2, du: 10, dv: 4);
    public static readonly MLKemParameters MLKem768 = new(MLKemAlgorithm.MLKem768, k: 3, eta1: 2, eta2: 2, du: 10, dv: 4);
    public static readonly MLKemParameters MLKem1024 = new(MLKemAlgorithm.MLKem1024, k: 4, eta1: 2, eta2: 2, du: 11, dv: 5);

    private MLKemParameters(MLKemAlgorithm algorithm, int k, int eta1, int eta2, int du, int dv)
    {
        Algorithm = algorithm;
        K = k;
        Eta1 = eta1;
        Eta2 = eta2;
        Du = du;
        Dv = dv;
    }

    public MLKemAlgorithm Algorithm { get; }
    public int K { get; }
    public int Eta1 { get; }
    public int Eta2 { get; }
    public int Du { get; }
    public int Dv { get; }

    /// <summary>ByteEncode12 of a vector of k polynomials.</summary>
    public int PolyVecBytes => 384 * K;
    public int EncapsulationKeyBytes => 384 * K + 32;
    public int DecapsulationKeyBytes => 768 * K + 96;
    public int CiphertextBytes => 32 * (Du * K + Dv);
    public int CompressedUBytes => 32 * Du * K;

    public static MLKemParameters For(MLKemAlgorithm algorithm)
    {
        ArgumentNullException.ThrowIfNull(algorithm);
        if (algorithm == MLKemAlgorithm.MLKem512) return MLKem512;
        if (algorithm == MLKemAlgorithm.MLKem768) return MLKem768;
        if (algorithm == MLKemAlgorithm.MLKem1024) return MLKem1024;
        throw new CryptographicException($"Unknown ML-KEM parameter set '{algorithm.Name}'.");
    }
}
