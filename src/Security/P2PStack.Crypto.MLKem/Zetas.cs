namespace P2PStack.Crypto.MLKem;

/// <summary>Powers of zeta = 17 (a primitive 256th root of unity mod q) in bit-reversed order, Montgomery form.</summary>
internal static class Zetas
{
    /// <summary>Zetas[i] = 17^BitRev7(i) * 2^16 mod q, centered in (-q/2, q/2].</summary>
    public static readonly short[] Table = Build();

    private static short[] Build()
    {
        var table = new short[128];
        for (int i = 0; i < 128; i++)
        {
            int rev = 0;
            for (int bit = 0; bit < 7; bit++) rev |= ((i >> bit) & 1) << (6 - bit);
            long value = 1;
            for (int e = 0; e < rev; e++) value = value * 17 % Fq.Q;
            value = (value << 16) % Fq.Q;
            if (value > Fq.Q / 2) value -= Fq.Q;
            table[i] = (short)value;
        }
        return table;
    }
}
