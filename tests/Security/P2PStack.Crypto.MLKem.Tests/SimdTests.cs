using System.Security.Cryptography;

namespace P2PStack.Crypto.MLKem.Tests;

[CollectionDefinition(nameof(SimdSwitchCollection), DisableParallelization = true)]
public sealed class SimdSwitchCollection;

/// <summary>The AVX2 and scalar paths must give identical results, primitive by primitive and end to end.</summary>
[Collection(nameof(SimdSwitchCollection))]
public class SimdTests
{
    private static short[] RandomPoly(Random random, int bound)
    {
        var p = new short[Poly.N];
        for (int i = 0; i < p.Length; i++) p[i] = (short)random.Next(-bound + 1, bound);
        return p;
    }

    [Fact]
    public void Avx2PrimitivesMatchScalar()
    {
        Assert.True(SimdSwitch.Avx2Available, "this machine is expected to have AVX2; the SIMD path would go untested");
        var random = new Random(7);
        for (int round = 0; round < 300; round++)
        {
            short[] a = RandomPoly(random, Fq.Q), b = RandomPoly(random, Fq.Q);
            short[] s = (short[])a.Clone(), v = (short[])a.Clone();
            NttScalar.Forward(s);
            NttAvx2.Forward(v);
            Assert.Equal(s, v);

            s = (short[])a.Clone();
            v = (short[])a.Clone();
            NttScalar.InverseToMont(s);
            NttAvx2.InverseToMont(v);
            Assert.Equal(s, v);

            short[] rs = new short[Poly.N], rv = new short[Poly.N];
            SimdSwitch.ForceScalar = true;
            try
            {
                Poly.BaseMul(rs, a, b);
            }
            finally
            {
                SimdSwitch.ForceScalar = false;
            }
            PolyAvx2.BaseMul(rv, a, b);
            Assert.Equal(rs, rv);
        }
    }

    [Fact]
    public void ReductionsMatchScalarOverAllInputs()
    {
        var all = new short[65536];
        for (int i = 0; i < all.Length; i++) all[i] = (short)(i - 32768);
        for (int chunk = 0; chunk < all.Length; chunk += Poly.N)
        {
            short[] s = all[chunk..(chunk + Poly.N)], v = (short[])s.Clone();
            for (int i = 0; i < s.Length; i++) s[i] = Fq.Barrett(s[i]);
            PolyAvx2.Reduce(v);
            Assert.Equal(s, v);
            s = all[chunk..(chunk + Poly.N)];
            v = (short[])s.Clone();
            for (int i = 0; i < s.Length; i++) s[i] = Fq.Mul(s[i], Fq.MontSquared);
            PolyAvx2.ToMont(v);
            Assert.Equal(s, v);
        }
    }

    [Fact]
    public void EndToEndScalarAndAvx2Agree()
    {
        var random = new Random(11);
        foreach (MLKemAlgorithm alg in new[] { MLKemAlgorithm.MLKem512, MLKemAlgorithm.MLKem768, MLKemAlgorithm.MLKem1024 })
        {
            for (int i = 0; i < 10; i++)
            {
                byte[] seed = new byte[64], m = new byte[32];
                random.NextBytes(seed);
                random.NextBytes(m);
                (byte[] ek, byte[] dk, byte[] c, byte[] k, byte[] rejected) Run()
                {
                    using ManagedMLKem key = ManagedMLKem.ImportPrivateSeed(alg, seed);
                    byte[] c = new byte[alg.CiphertextSizeInBytes], k = new byte[32];
                    key.Encapsulate(m, c, k);
                    Assert.Equal(k, key.Decapsulate(c));
                    byte[] bad = (byte[])c.Clone();
                    bad[^1] ^= 0x80;
                    return (key.ExportEncapsulationKey(), key.ExportDecapsulationKey(), c, k, key.Decapsulate(bad));
                }
                var vector = Run();
                SimdSwitch.ForceScalar = true;
                try
                {
                    var scalar = Run();
                    Assert.Equal(scalar.ek, vector.ek);
                    Assert.Equal(scalar.dk, vector.dk);
                    Assert.Equal(scalar.c, vector.c);
                    Assert.Equal(scalar.k, vector.k);
                    Assert.Equal(scalar.rejected, vector.rejected);
                }
                finally
                {
                    SimdSwitch.ForceScalar = false;
                }
            }
        }
    }

    [Fact]
    public void VectorsPassOnScalarPath()
    {
        SimdSwitch.ForceScalar = true;
        try
        {
            new AcvpTests().KeyGen_AllCases();
            new AcvpTests().EncapDecap_AllCases();
            new XWingTests().ReproducesEveryDraftVector();
        }
        finally
        {
            SimdSwitch.ForceScalar = false;
        }
    }
}
