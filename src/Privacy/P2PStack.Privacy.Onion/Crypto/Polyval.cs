using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace P2PStack.Privacy.Onion.Crypto;

/// <summary>
/// POLYVAL (RFC 8452, section 3): the universal hash of AES-GCM-SIV over GF(2^128) with p(x) = x^128 + x^127 + x^126
/// + x^121 + 1, elements as 16 little-endian bytes, dot(a, b) = a * b * x^-128. .NET has no GHASH or POLYVAL, so it is
/// here: on PCLMULQDQ with powers of H precomputed, a cell-sized message in one pass (each block times its power of H,
/// four blocks per instruction with VPCLMULQDQ and three products per block (Karatsuba), one Montgomery reduction for
/// the whole message, the partial last block read in place) and longer input four
/// blocks at a time (one reduction per four blocks, as in Gueron's GCM-SIV code); elsewhere a constant-time bit-serial
/// multiplication.
/// </summary>
internal sealed class Polyval
{
    public const int KeySize = 16;
    public const int BlockSize = 16;

    private static readonly UInt128 LowPoly = (UInt128.One << 127) | (UInt128.One << 126) | (UInt128.One << 121) | UInt128.One;

    // H, H^2, H^3, H^4 (in POLYVAL's dot sense: H^2 = dot(H, H) * x^128... i.e. the values that make the aggregated
    // sum equal to the block-by-block Horner evaluation).
    private readonly Vector128<ulong> _h1, _h2, _h3, _h4;
    private readonly UInt128 _soft;
    private readonly bool _hardware;

    /// <summary>Messages of up to this many blocks (a cell body of up to 736 bytes) are hashed in one pass: every block
    /// times its own power of H, one reduction at the end.</summary>
    internal const int MaxAggregatedBlocks = 48;

    // H^48, H^47, ..., H^1: block i of an s-block message is multiplied by H^(s-i), entry 48 - s + i.
    private readonly Vector128<ulong>[]? _descending;

    // The same powers with their two halves XORed (in both lanes): Karatsuba's middle product for the one-pass hash.
    private readonly Vector128<ulong>[]? _descendingFolded;

    public Polyval(ReadOnlySpan<byte> key, bool forcePortable = false)
    {
        if (key.Length != KeySize) throw new ArgumentException($"a POLYVAL key is {KeySize} bytes", nameof(key));
        _hardware = HardwareAccelerated && !forcePortable;
        _soft = BinaryPrimitives.ReadUInt128LittleEndian(key);
        if (!_hardware) return;
        _h1 = Vector128.Create(key).AsUInt64();
        _h2 = Mul(_h1, _h1);
        _h3 = Mul(_h2, _h1);
        _h4 = Mul(_h3, _h1);
        _descending = new Vector128<ulong>[MaxAggregatedBlocks];
        _descendingFolded = new Vector128<ulong>[MaxAggregatedBlocks];
        var power = _h1;
        for (int k = 1; k <= MaxAggregatedBlocks; k++)
        {
            _descending[MaxAggregatedBlocks - k] = power;
            _descendingFolded![MaxAggregatedBlocks - k] = power ^ Sse2.Shuffle(power.AsUInt32(), 0x4E).AsUInt64();
            power = Mul(power, _h1);
        }
    }

    /// <summary>Whether four blocks are multiplied at once (VPCLMULQDQ on 512-bit vectors).</summary>
    public static bool Wide => Pclmulqdq.V512.IsSupported;

    public static bool HardwareAccelerated => Pclmulqdq.IsSupported && Sse2.IsSupported && Ssse3.IsSupported;

    /// <summary>POLYVAL(H, X_1..X_s) of whole blocks (for the RFC's test vectors).</summary>
    public void Compute(ReadOnlySpan<byte> blocks, Span<byte> result)
    {
        if (blocks.Length % BlockSize != 0) throw new ArgumentException("whole 16-byte blocks only", nameof(blocks));
        if (_hardware)
        {
            Absorb(Vector128<ulong>.Zero, blocks).AsByte().CopyTo(result);
            return;
        }
        BinaryPrimitives.WriteUInt128LittleEndian(result, AbsorbSoft(UInt128.Zero, blocks));
    }

    /// <summary>
    /// The layer hash of a cell: POLYVAL over <paramref name="data"/> zero-padded to whole blocks, then one block of
    /// LE64(<paramref name="tweak"/>) || LE64(8 × data length).
    /// </summary>
    public Vector128<byte> Hash(ReadOnlySpan<byte> data, ulong tweak) =>
        _hardware && data.Length >= BlockSize && (uint)(data.Length + 2 * BlockSize - 1) / BlockSize <= MaxAggregatedBlocks
            ? HashCell(data, tweak).AsByte()
            : HashPadded(data, tweak);

    // Any other length, or without PCLMULQDQ: the padding and length blocks written into a buffer. A method of its own,
    // so that the cell's path has no buffer to clear and no stack cookie.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private Vector128<byte> HashPadded(ReadOnlySpan<byte> data, ulong tweak)
    {
        int whole = data.Length & ~(BlockSize - 1);
        Span<byte> tail = stackalloc byte[2 * BlockSize];
        tail.Clear();
        int rest = data.Length - whole;
        data[whole..].CopyTo(tail);
        int tailLength = rest == 0 ? BlockSize : 2 * BlockSize;
        var final = tail.Slice(tailLength - BlockSize, BlockSize);
        BinaryPrimitives.WriteUInt64LittleEndian(final, tweak);
        BinaryPrimitives.WriteUInt64LittleEndian(final[8..], (ulong)data.Length * 8);
        if (_hardware)
        {
            int blocks = (whole + tailLength) / BlockSize;
            if (blocks <= MaxAggregatedBlocks) return Aggregate(data[..whole], tail[..tailLength], blocks).AsByte();
            var state = Absorb(Vector128<ulong>.Zero, data[..whole]);
            return Absorb(state, tail[..tailLength]).AsByte();
        }
        var soft = AbsorbSoft(UInt128.Zero, data[..whole]);
        soft = AbsorbSoft(soft, tail[..tailLength]);
        Span<byte> bytes = stackalloc byte[BlockSize];
        BinaryPrimitives.WriteUInt128LittleEndian(bytes, soft);
        return Vector128.Create((ReadOnlySpan<byte>)bytes);
    }

    // Indices for PSHUFB that move the last r bytes of a 16-byte load to its start and zero the rest: the 16 bytes
    // from offset 16 - r (0x80 zeroes a byte).
    private static ReadOnlySpan<byte> TailShift =>
    [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
        0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
    ];

    // The cell hash in one pass over the data (at least one block, at most MaxAggregatedBlocks with the padding and
    // length blocks): the partial last block is read as the data's last 16 bytes shifted down (no copy into a padded
    // buffer), the length block built in a register, every block times its power of H, one reduction.
    private Vector128<ulong> HashCell(ReadOnlySpan<byte> data, ulong tweak)
    {
        ref byte start = ref MemoryMarshal.GetReference(data);
        int count = data.Length / BlockSize;
        int rest = data.Length - count * BlockSize;
        // Block i of the message is multiplied by H^(blocks - i), its entry in _descending.
        ref Vector128<ulong> power = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_descending!),
            MaxAggregatedBlocks - (count + (rest == 0 ? 1 : 2)));
        var lo = Vector128<ulong>.Zero;
        var mid = Vector128<ulong>.Zero;
        var hi = Vector128<ulong>.Zero;
        int i = 0;
        if (Pclmulqdq.V512.IsSupported && Avx512F.IsSupported && count >= 4)
        {
            // Karatsuba: three products per block, (x_lo ^ x_hi)(h_lo ^ h_hi) ^ lo ^ hi being the two cross products.
            ref Vector128<ulong> folded = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_descendingFolded!),
                MaxAggregatedBlocks - (count + (rest == 0 ? 1 : 2)));
            var lo4 = Vector512<ulong>.Zero;
            var mid4 = Vector512<ulong>.Zero;
            var hi4 = Vector512<ulong>.Zero;
            for (; i + 4 <= count; i += 4)
            {
                var x = Vector512.LoadUnsafe(ref start, (nuint)(i * BlockSize)).AsUInt64();
                var h = Vector512.LoadUnsafe(ref Unsafe.As<Vector128<ulong>, ulong>(ref Unsafe.Add(ref power, i)));
                var hf = Vector512.LoadUnsafe(ref Unsafe.As<Vector128<ulong>, ulong>(ref Unsafe.Add(ref folded, i)));
                var xf = x ^ Avx512F.Shuffle(x.AsUInt32(), 0x4E).AsUInt64();
                lo4 ^= Pclmulqdq.V512.CarrylessMultiply(x, h, 0x00);
                hi4 ^= Pclmulqdq.V512.CarrylessMultiply(x, h, 0x11);
                mid4 ^= Pclmulqdq.V512.CarrylessMultiply(xf, hf, 0x00);
            }
            lo = Fold(lo4);
            hi = Fold(hi4);
            mid = Fold(mid4) ^ lo ^ hi;
        }
        for (; i < count; i++)
            Accumulate(Vector128.LoadUnsafe(ref start, (nuint)(i * BlockSize)).AsUInt64(), Unsafe.Add(ref power, i), ref lo, ref mid, ref hi);
        if (rest != 0)
        {
            var last = Vector128.LoadUnsafe(ref start, (nuint)(data.Length - BlockSize));
            var shift = Vector128.LoadUnsafe(ref MemoryMarshal.GetReference(TailShift), (nuint)(BlockSize - rest));
            Accumulate(Ssse3.Shuffle(last, shift).AsUInt64(), Unsafe.Add(ref power, count), ref lo, ref mid, ref hi);
        }
        Accumulate(Vector128.Create(tweak, (ulong)data.Length * 8), Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_descending!),
            MaxAggregatedBlocks - 1), ref lo, ref mid, ref hi);
        return Reduce(lo, mid, hi);
    }

    // POLYVAL of whole blocks then tail blocks (blocks in all, at most MaxAggregatedBlocks): the sum of each block's
    // carry-less product with its power of H, reduced once.
    private Vector128<ulong> Aggregate(ReadOnlySpan<byte> whole, ReadOnlySpan<byte> tail, int blocks)
    {
        ref ulong powers = ref Unsafe.As<Vector128<ulong>, ulong>(ref MemoryMarshal.GetArrayDataReference(_descending!));
        int first = MaxAggregatedBlocks - blocks;
        ref byte data = ref MemoryMarshal.GetReference(whole);
        int count = whole.Length / BlockSize;
        var lo = Vector128<ulong>.Zero;
        var mid = Vector128<ulong>.Zero;
        var hi = Vector128<ulong>.Zero;
        int i = 0;
        if (Pclmulqdq.V512.IsSupported && count >= 4)
        {
            var lo4 = Vector512<ulong>.Zero;
            var mid4 = Vector512<ulong>.Zero;
            var hi4 = Vector512<ulong>.Zero;
            for (; i + 4 <= count; i += 4)
            {
                var x = Vector512.LoadUnsafe(ref data, (nuint)(i * BlockSize)).AsUInt64();
                var h = Vector512.LoadUnsafe(ref powers, (nuint)((first + i) * 2));
                lo4 ^= Pclmulqdq.V512.CarrylessMultiply(x, h, 0x00);
                hi4 ^= Pclmulqdq.V512.CarrylessMultiply(x, h, 0x11);
                mid4 ^= Pclmulqdq.V512.CarrylessMultiply(x, h, 0x10) ^ Pclmulqdq.V512.CarrylessMultiply(x, h, 0x01);
            }
            lo = Fold(lo4);
            mid = Fold(mid4);
            hi = Fold(hi4);
        }
        for (; i < count; i++)
            Accumulate(Vector128.LoadUnsafe(ref data, (nuint)(i * BlockSize)).AsUInt64(),
                Vector128.LoadUnsafe(ref powers, (nuint)((first + i) * 2)), ref lo, ref mid, ref hi);
        ref byte rest = ref MemoryMarshal.GetReference(tail);
        for (int t = 0; t < tail.Length / BlockSize; t++)
            Accumulate(Vector128.LoadUnsafe(ref rest, (nuint)(t * BlockSize)).AsUInt64(),
                Vector128.LoadUnsafe(ref powers, (nuint)((first + count + t) * 2)), ref lo, ref mid, ref hi);
        return Reduce(lo, mid, hi);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Fold(Vector512<ulong> lanes) =>
        lanes.GetLower().GetLower() ^ lanes.GetLower().GetUpper() ^ lanes.GetUpper().GetLower() ^ lanes.GetUpper().GetUpper();

    private Vector128<ulong> Absorb(Vector128<ulong> state, ReadOnlySpan<byte> blocks)
    {
        ref byte start = ref MemoryMarshal.GetReference(blocks);
        int offset = 0;
        for (; offset + 4 * BlockSize <= blocks.Length; offset += 4 * BlockSize)
        {
            var x1 = state ^ Unsafe.ReadUnaligned<Vector128<ulong>>(ref Unsafe.Add(ref start, offset));
            var x2 = Unsafe.ReadUnaligned<Vector128<ulong>>(ref Unsafe.Add(ref start, offset + 16));
            var x3 = Unsafe.ReadUnaligned<Vector128<ulong>>(ref Unsafe.Add(ref start, offset + 32));
            var x4 = Unsafe.ReadUnaligned<Vector128<ulong>>(ref Unsafe.Add(ref start, offset + 48));
            Product(x1, _h4, out var lo, out var mid, out var hi);
            Accumulate(x2, _h3, ref lo, ref mid, ref hi);
            Accumulate(x3, _h2, ref lo, ref mid, ref hi);
            Accumulate(x4, _h1, ref lo, ref mid, ref hi);
            state = Reduce(lo, mid, hi);
        }
        for (; offset < blocks.Length; offset += BlockSize)
            state = Mul(state ^ Unsafe.ReadUnaligned<Vector128<ulong>>(ref Unsafe.Add(ref start, offset)), _h1);
        return state;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Product(Vector128<ulong> a, Vector128<ulong> b, out Vector128<ulong> lo, out Vector128<ulong> mid,
        out Vector128<ulong> hi)
    {
        lo = Pclmulqdq.CarrylessMultiply(a, b, 0x00);
        hi = Pclmulqdq.CarrylessMultiply(a, b, 0x11);
        mid = Pclmulqdq.CarrylessMultiply(a, b, 0x10) ^ Pclmulqdq.CarrylessMultiply(a, b, 0x01);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate(Vector128<ulong> a, Vector128<ulong> b, ref Vector128<ulong> lo, ref Vector128<ulong> mid,
        ref Vector128<ulong> hi)
    {
        lo ^= Pclmulqdq.CarrylessMultiply(a, b, 0x00);
        hi ^= Pclmulqdq.CarrylessMultiply(a, b, 0x11);
        mid ^= Pclmulqdq.CarrylessMultiply(a, b, 0x10) ^ Pclmulqdq.CarrylessMultiply(a, b, 0x01);
    }

    // The 256-bit product hi:mid:lo times x^-128 modulo p(x): two folds by the low half (Montgomery reduction with
    // 0xC2 << 56, the bit-reflected p), as RFC 8452's reference code does with PCLMULQDQ.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<ulong> Reduce(Vector128<ulong> lo, Vector128<ulong> mid, Vector128<ulong> hi)
    {
        lo ^= Sse2.ShiftLeftLogical128BitLane(mid.AsByte(), 8).AsUInt64();
        hi ^= Sse2.ShiftRightLogical128BitLane(mid.AsByte(), 8).AsUInt64();
        var poly = Vector128.Create(1UL, 0xC200000000000000UL);
        var fold = Pclmulqdq.CarrylessMultiply(lo, poly, 0x10);
        lo = Sse2.Shuffle(lo.AsUInt32(), 0x4E).AsUInt64() ^ fold;
        fold = Pclmulqdq.CarrylessMultiply(lo, poly, 0x10);
        lo = Sse2.Shuffle(lo.AsUInt32(), 0x4E).AsUInt64() ^ fold;
        return lo ^ hi;
    }

    private static Vector128<ulong> Mul(Vector128<ulong> a, Vector128<ulong> b)
    {
        Product(a, b, out var lo, out var mid, out var hi);
        return Reduce(lo, mid, hi);
    }

    private UInt128 AbsorbSoft(UInt128 state, ReadOnlySpan<byte> blocks)
    {
        for (int offset = 0; offset < blocks.Length; offset += BlockSize)
            state = SoftDot(state ^ BinaryPrimitives.ReadUInt128LittleEndian(blocks.Slice(offset, BlockSize)), _soft);
        return state;
    }

    /// <summary>dot(a, b) = a * b * x^-128 by Montgomery bit-serial multiplication, without secret-dependent branches.</summary>
    internal static UInt128 SoftDot(UInt128 a, UInt128 b)
    {
        UInt128 r = UInt128.Zero;
        for (int i = 0; i < 128; i++)
        {
            UInt128 take = UInt128.Zero - ((b >> i) & UInt128.One);
            r ^= a & take;
            UInt128 odd = UInt128.Zero - (r & UInt128.One);
            r = ((r ^ (LowPoly & odd)) >> 1) | ((odd & UInt128.One) << 127);
        }
        return r;
    }
}
