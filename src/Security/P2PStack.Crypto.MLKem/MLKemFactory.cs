using System.Security.Cryptography;
using PlatformMLKem = System.Security.Cryptography.MLKem;

namespace P2PStack.Crypto.MLKem;

/// <summary>
/// Hands out the platform ML-KEM when the operating system supports it, else <see cref="ManagedMLKem"/>.
/// Both give identical keys, ciphertexts and shared secrets for the same inputs.
/// </summary>
public static class MLKemFactory
{
    /// <summary>True when the platform implementation is used.</summary>
    public static bool UsesPlatform => PlatformMLKem.IsSupported;

    public static PlatformMLKem GenerateKey(MLKemAlgorithm algorithm) =>
        UsesPlatform ? PlatformMLKem.GenerateKey(algorithm) : ManagedMLKem.GenerateKey(algorithm);

    public static PlatformMLKem ImportPrivateSeed(MLKemAlgorithm algorithm, ReadOnlySpan<byte> seed) =>
        UsesPlatform ? PlatformMLKem.ImportPrivateSeed(algorithm, seed) : ManagedMLKem.ImportPrivateSeed(algorithm, seed);

    public static PlatformMLKem ImportEncapsulationKey(MLKemAlgorithm algorithm, ReadOnlySpan<byte> source) =>
        UsesPlatform ? PlatformMLKem.ImportEncapsulationKey(algorithm, source) : ManagedMLKem.ImportEncapsulationKey(algorithm, source);

    public static PlatformMLKem ImportDecapsulationKey(MLKemAlgorithm algorithm, ReadOnlySpan<byte> source) =>
        UsesPlatform ? PlatformMLKem.ImportDecapsulationKey(algorithm, source) : ManagedMLKem.ImportDecapsulationKey(algorithm, source);
}
