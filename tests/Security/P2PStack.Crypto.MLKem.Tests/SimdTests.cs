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
    public void Avx2SamplingMatchesScalar()
    {
        var random = new Random(13);
        for (int round = 0; round < 2000; round++)
        {
            // Any length (not only whole blocks), any starting count, and inputs heavy in rejected candidates.
            var bytes = new byte[random.Next(0, 700)];
            random.NextBytes(bytes);
            if (round % 3 == 0)
                for (int i = 0; i < bytes.Length; i++) bytes[i] |= (byte)(random.Next(2) == 0 ? 0xF0 : 0);
            int start = random.Next(0, Poly.N + 1);
            short[] s = new short[Poly.N], v = new short[Poly.N];
            random.NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(s.AsSpan()));
            s.CopyTo(v, 0);
            int cs = Sampling.RejectSampleScalar(s, start, bytes);
            int cv = SamplingAvx2.RejectSample(v, start, bytes);
            Assert.Equal(cs, cv);
            // Entries from the returned count on are scratch (the vector form stores whole groups there).
            Assert.Equal(s.AsSpan(0, cs).ToArray(), v.AsSpan(0, cv).ToArray());
        }
        foreach (int eta in new[] { 2, 3 })
        {
            for (int round = 0; round < 500; round++)
            {
                var bytes = new byte[64 * eta];
                random.NextBytes(bytes);
                if (round == 0) bytes.AsSpan().Fill(0xFF);
                if (round == 1) bytes.AsSpan().Clear();
                short[] s = new short[Poly.N], v = new short[Poly.N];
                SimdSwitch.ForceScalar = true;
                try
                {
                    Sampling.Cbd(bytes, eta, s);
                }
                finally
                {
                    SimdSwitch.ForceScalar = false;
                }
                if (eta == 2) SamplingAvx2.Cbd2(bytes, v);
                else SamplingAvx2.Cbd3(bytes, v);
                Assert.Equal(s, v);
            }
        }
    }

    [Fact]
    public void CodecsMatchBitByBitPacking()
    {
        var random = new Random(17);
        static byte[] Pack(short[] values, int d)
        {
            var bytes = new byte[32 * d];
            for (int i = 0; i < values.Length * d; i++)
                if ((values[i / d] >> (i % d) & 1) != 0) bytes[i / 8] |= (byte)(1 << (i % 8));
            return bytes;
        }
        foreach (int d in new[] { 1, 4, 5, 10, 11, 12 })
        {
            for (int round = 0; round < 50; round++)
            {
                var values = new short[Poly.N];
                for (int i = 0; i < values.Length; i++) values[i] = (short)random.Next(0, 1 << d);
                var expected = Pack(values, d);
                var encoded = new byte[32 * d];
                ByteCodec.Encode(values, d, encoded);
                Assert.Equal(expected, encoded);
                var decoded = new short[Poly.N];
                ByteCodec.Decode(expected, d, decoded);
                Assert.Equal(values, decoded);
            }
        }
        // Compress and Decompress fused with the packing (d = 10 and 4) against the per-coefficient definitions,
        // over every canonical coefficient and every d-bit value.
        foreach (int d in new[] { 4, 5, 10, 11 })
        {
            for (int start = 0; start < Fq.Q; start += Poly.N)
            {
                var poly = new short[Poly.N];
                for (int i = 0; i < poly.Length; i++) poly[i] = (short)((start + i) % Fq.Q - (i % 3 == 0 ? Fq.Q : 0));
                var compressed = new short[Poly.N];
                for (int i = 0; i < poly.Length; i++) compressed[i] = (short)Compression.Compress(Fq.Canonical(poly[i]), d);
                var encoded = new byte[32 * d];
                Compression.CompressAndEncode(poly, d, encoded);
                Assert.Equal(Pack(compressed, d), encoded);
                var decompressed = new short[Poly.N];
                Compression.DecodeAndDecompress(encoded, d, decompressed);
                for (int i = 0; i < poly.Length; i++) Assert.Equal(Compression.Decompress((uint)compressed[i], d), decompressed[i]);
            }
        }
        // ByteDecode12 with reduction and the modulus check: AVX2 against scalar, below and at or above q.
        for (int round = 0; round < 500; round++)
        {
            var bytes = new byte[384];
            random.NextBytes(bytes);
            if (round % 2 == 0)
            {
                var canonical = new short[Poly.N];
                for (int i = 0; i < canonical.Length; i++) canonical[i] = (short)random.Next(0, Fq.Q);
                ByteCodec.Encode(canonical, 12, bytes);
            }
            short[] s = new short[Poly.N], v = new short[Poly.N];
            bool okScalar;
            SimdSwitch.ForceScalar = true;
            try
            {
                okScalar = ByteCodec.DecodeReduced12(bytes, s);
            }
            finally
            {
                SimdSwitch.ForceScalar = false;
            }
            Assert.Equal(okScalar, SamplingAvx2.DecodeReduced12(bytes, v));
            Assert.Equal(round % 2 == 0, okScalar);
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
