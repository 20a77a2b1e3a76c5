using System.Runtime.Intrinsics.X86;

namespace P2PStack.Crypto.MLKem;

/// <summary>Chooses between the AVX2 and scalar code paths; tests force the scalar path to compare both.</summary>
internal static class SimdSwitch
{
    private static bool s_forceScalar;

    public static bool Avx2Available => Avx2.IsSupported;

    /// <summary>True when the vector paths run.</summary>
    public static bool UseAvx2 => Avx2.IsSupported && !s_forceScalar;

    /// <summary>Forces the scalar path (process-wide); for tests and measurements.</summary>
    public static bool ForceScalar
    {
        get => s_forceScalar;
        set => s_forceScalar = value;
    }
}
