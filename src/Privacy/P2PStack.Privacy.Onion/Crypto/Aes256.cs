using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;
using X86Aes = System.Runtime.Intrinsics.X86.Aes;

namespace P2PStack.Privacy.Onion.Crypto;

/// <summary>
/// AES-256 for the cell layers: single blocks both ways and counter-mode keystream. .NET offers AES only as ECB/CBC/
/// CFB one-shots (each call goes through OpenSSL with its own context set-up) and no counter mode, so on x86 with
/// AES-NI the rounds run here on the hardware instructions (key schedule with AESKEYGENASSIST, constant time, no table
/// look-ups); elsewhere every operation goes through <see cref="System.Security.Cryptography.Aes"/> in ECB mode.
/// Not thread-safe: one instance belongs to one circuit layer, used under that circuit's lock.
/// </summary>
internal sealed class Aes256 : IDisposable
{
    public const int KeySize = 32;
    public const int BlockSize = 16;
    private const int Rounds = 14;

    // Counter blocks produced per batch on the portable path.
    private const int PortableBatchBlocks = 32;

    // Round keys inline in the object (no array: no bounds checks, no length loads, fixed offsets from `this`).
    private RoundKeys _encryptKeys;
    private RoundKeys _decryptKeys;
    private readonly bool _hardware;
    private readonly bool _canDecrypt;
    private readonly System.Security.Cryptography.Aes? _portable;
    private readonly byte[]? _scratch;

    /// <param name="key">32 bytes.</param>
    /// <param name="decryption">Also prepares the inverse cipher (<see cref="DecryptBlock(ReadOnlySpan{byte}, Span{byte})"/>).</param>
    /// <param name="forcePortable">Use the .NET ECB path even where AES-NI exists (tests compare the two).</param>
    public Aes256(ReadOnlySpan<byte> key, bool decryption, bool forcePortable = false)
    {
        if (key.Length != KeySize) throw new ArgumentException($"an AES-256 key is {KeySize} bytes, got {key.Length}", nameof(key));
        _canDecrypt = decryption;
        if (HardwareAccelerated && !forcePortable)
        {
            _hardware = true;
            ExpandKey(key, ref _encryptKeys);
            if (decryption) InvertKeys(in _encryptKeys, ref _decryptKeys);
            return;
        }
        _portable = System.Security.Cryptography.Aes.Create();
        _portable.Key = key.ToArray();
        _scratch = new byte[PortableBatchBlocks * BlockSize];
    }

    /// <summary>True when the rounds run on AES-NI (the counter increments with SSSE3's byte shuffle).</summary>
    public static bool HardwareAccelerated => X86Aes.IsSupported && Sse2.IsSupported && Ssse3.IsSupported;

    public void EncryptBlock(ReadOnlySpan<byte> input, Span<byte> output) =>
        EncryptBlock(Vector128.Create(input[..BlockSize])).CopyTo(output);

    public void DecryptBlock(ReadOnlySpan<byte> input, Span<byte> output) =>
        DecryptBlock(Vector128.Create(input[..BlockSize])).CopyTo(output);

    // Inlined into the layer: the block stays in a register between the hash, the rounds and the counter mode.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<byte> EncryptBlock(Vector128<byte> block) => _hardware ? Encrypt(block, in _encryptKeys) : EncryptBlockPortable(block);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector128<byte> DecryptBlock(Vector128<byte> block) =>
        _hardware && _canDecrypt ? Decrypt(block, in _decryptKeys) : DecryptBlockPortable(block);

    /// <summary>Two independent blocks through the inverse cipher, their rounds interleaved: each round's latency
    /// (15 dependent rounds per block) is paid once for both.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public (Vector128<byte> First, Vector128<byte> Second) DecryptBlocks(Vector128<byte> first, Vector128<byte> second) =>
        _hardware && _canDecrypt ? Decrypt2(first, second, in _decryptKeys) : (DecryptBlockPortable(first), DecryptBlockPortable(second));

    private Vector128<byte> EncryptBlockPortable(Vector128<byte> block)
    {
        Span<byte> bytes = stackalloc byte[BlockSize];
        block.CopyTo(bytes);
        _portable!.EncryptEcb(bytes, bytes, PaddingMode.None);
        return Vector128.Create((ReadOnlySpan<byte>)bytes);
    }

    private Vector128<byte> DecryptBlockPortable(Vector128<byte> block)
    {
        if (!_canDecrypt) throw new InvalidOperationException("this AES instance was made for encryption only");
        Span<byte> bytes = stackalloc byte[BlockSize];
        block.CopyTo(bytes);
        _portable!.DecryptEcb(bytes, bytes, PaddingMode.None);
        return Vector128.Create((ReadOnlySpan<byte>)bytes);
    }

    /// <summary>
    /// XORs the counter-mode keystream into <paramref name="data"/>: block i of the keystream is AES(iv with its last
    /// four bytes, read as a big-endian number, increased by i modulo 2^32), as in GCM's inc32.
    /// </summary>
    public void XorKeystream(ReadOnlySpan<byte> iv, Span<byte> data)
    {
        if (iv.Length != BlockSize) throw new ArgumentException("the counter block is 16 bytes", nameof(iv));
        XorKeystream(Vector128.Create(iv), data);
    }

    /// <inheritdoc cref="XorKeystream(ReadOnlySpan{byte}, Span{byte})"/>
    public void XorKeystream(Vector128<byte> iv, Span<byte> data)
    {
        if (_hardware)
        {
            XorKeystreamNi(iv, data, in _encryptKeys);
            return;
        }
        XorKeystreamPortable(iv, data);
    }

    public void Dispose()
    {
        _encryptKeys = default;
        _decryptKeys = default;
        if (_scratch is not null) CryptographicOperations.ZeroMemory(_scratch);
        _portable?.Dispose();
    }

    // The counter block with its last four bytes reversed, so that a 32-bit vector add is GCM's inc32; the same
    // shuffle turns it back into the block to encrypt.
    private static Vector128<byte> CounterSwap => Vector128.Create((byte)0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15, 14, 13, 12);

    // Never inlined: compiled as a root of its own it keeps the eight blocks in registers; inlined into its caller at
    // tier 1 it kept them on the stack, a load and a store around every round instruction (16 KiB: 7.2 us, not 2.1).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void XorKeystreamNi(Vector128<byte> iv, Span<byte> data, ref readonly RoundKeys keys)
    {
        var swap = CounterSwap;
        var counter = Ssse3.Shuffle(iv, swap).AsUInt32();
        ref byte start = ref MemoryMarshal.GetReference(data);
        nuint length = (nuint)data.Length;
        nuint offset = 0;
        // Eight blocks in flight: an AES round has a latency of 4 cycles and two issue per cycle.
        Vector128<byte> b0, b1, b2, b3, b4, b5, b6, b7;
        for (; length - offset >= 8 * BlockSize; offset += 8 * BlockSize)
        {
            Counters8(ref counter, swap, out b0, out b1, out b2, out b3, out b4, out b5, out b6, out b7);
            Encrypt8(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7, in keys);
            ref byte at = ref Unsafe.Add(ref start, offset);
            Xor(ref at, 0, b0);
            Xor(ref at, 1, b1);
            Xor(ref at, 2, b2);
            Xor(ref at, 3, b3);
            Xor(ref at, 4, b4);
            Xor(ref at, 5, b5);
            Xor(ref at, 6, b6);
            Xor(ref at, 7, b7);
        }
        if (offset == length) return;
        // The rest (1-127 bytes): one more group of eight. With fewer than eight blocks the rounds are bound by their
        // latency, so the unused blocks cost nothing, and one group avoids a chain of single-block encryptions.
        Counters8(ref counter, swap, out b0, out b1, out b2, out b3, out b4, out b5, out b6, out b7);
        Encrypt8(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7, in keys);
        Blocks8 stream = default;
        stream[0] = b0;
        stream[1] = b1;
        stream[2] = b2;
        stream[3] = b3;
        stream[4] = b4;
        stream[5] = b5;
        stream[6] = b6;
        stream[7] = b7;
        Bytes.Xor(data[(int)offset..], MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<Blocks8, byte>(ref stream), 8 * BlockSize));
        stream = default;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Xor(ref byte at, int block, Vector128<byte> stream)
    {
        ref byte target = ref Unsafe.Add(ref at, block * BlockSize);
        Unsafe.WriteUnaligned(ref target, Unsafe.ReadUnaligned<Vector128<byte>>(ref target) ^ stream);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Counters8(ref Vector128<uint> counter, Vector128<byte> swap, out Vector128<byte> b0, out Vector128<byte> b1,
        out Vector128<byte> b2, out Vector128<byte> b3, out Vector128<byte> b4, out Vector128<byte> b5, out Vector128<byte> b6,
        out Vector128<byte> b7)
    {
        var c = counter;
        b0 = Ssse3.Shuffle(c.AsByte(), swap);
        b1 = Ssse3.Shuffle((c + Vector128.Create(0u, 0u, 0u, 1u)).AsByte(), swap);
        b2 = Ssse3.Shuffle((c + Vector128.Create(0u, 0u, 0u, 2u)).AsByte(), swap);
        b3 = Ssse3.Shuffle((c + Vector128.Create(0u, 0u, 0u, 3u)).AsByte(), swap);
        b4 = Ssse3.Shuffle((c + Vector128.Create(0u, 0u, 0u, 4u)).AsByte(), swap);
        b5 = Ssse3.Shuffle((c + Vector128.Create(0u, 0u, 0u, 5u)).AsByte(), swap);
        b6 = Ssse3.Shuffle((c + Vector128.Create(0u, 0u, 0u, 6u)).AsByte(), swap);
        b7 = Ssse3.Shuffle((c + Vector128.Create(0u, 0u, 0u, 7u)).AsByte(), swap);
        counter = c + Vector128.Create(0u, 0u, 0u, 8u);
    }

    private void XorKeystreamPortable(Vector128<byte> iv, Span<byte> data)
    {
        Span<byte> ivBytes = stackalloc byte[BlockSize];
        iv.CopyTo(ivBytes);
        uint counter = BinaryPrimitives.ReadUInt32BigEndian(ivBytes[12..]);
        var scratch = _scratch!;
        int offset = 0;
        while (offset < data.Length)
        {
            int blocks = Math.Min(PortableBatchBlocks, (data.Length - offset + BlockSize - 1) / BlockSize);
            var counters = scratch.AsSpan(0, blocks * BlockSize);
            for (int i = 0; i < blocks; i++)
            {
                ivBytes[..12].CopyTo(counters[(i * BlockSize)..]);
                BinaryPrimitives.WriteUInt32BigEndian(counters[(i * BlockSize + 12)..], counter++);
            }
            _portable!.EncryptEcb(counters, counters, PaddingMode.None);
            int n = Math.Min(counters.Length, data.Length - offset);
            Bytes.Xor(data.Slice(offset, n), counters[..n]);
            offset += n;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Encrypt(Vector128<byte> b, ref readonly RoundKeys k)
    {
        b ^= k[0];
        b = X86Aes.Encrypt(b, k[1]);
        b = X86Aes.Encrypt(b, k[2]);
        b = X86Aes.Encrypt(b, k[3]);
        b = X86Aes.Encrypt(b, k[4]);
        b = X86Aes.Encrypt(b, k[5]);
        b = X86Aes.Encrypt(b, k[6]);
        b = X86Aes.Encrypt(b, k[7]);
        b = X86Aes.Encrypt(b, k[8]);
        b = X86Aes.Encrypt(b, k[9]);
        b = X86Aes.Encrypt(b, k[10]);
        b = X86Aes.Encrypt(b, k[11]);
        b = X86Aes.Encrypt(b, k[12]);
        b = X86Aes.Encrypt(b, k[13]);
        return X86Aes.EncryptLast(b, k[14]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Decrypt(Vector128<byte> b, ref readonly RoundKeys k)
    {
        b ^= k[0];
        b = X86Aes.Decrypt(b, k[1]);
        b = X86Aes.Decrypt(b, k[2]);
        b = X86Aes.Decrypt(b, k[3]);
        b = X86Aes.Decrypt(b, k[4]);
        b = X86Aes.Decrypt(b, k[5]);
        b = X86Aes.Decrypt(b, k[6]);
        b = X86Aes.Decrypt(b, k[7]);
        b = X86Aes.Decrypt(b, k[8]);
        b = X86Aes.Decrypt(b, k[9]);
        b = X86Aes.Decrypt(b, k[10]);
        b = X86Aes.Decrypt(b, k[11]);
        b = X86Aes.Decrypt(b, k[12]);
        b = X86Aes.Decrypt(b, k[13]);
        return X86Aes.DecryptLast(b, k[14]);
    }

    // Unrolled as Decrypt (fixed offsets into the inline round keys, no bounds checks), the blocks in locals that are
    // never passed by reference (so they stay in registers when inlined).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector128<byte>, Vector128<byte>) Decrypt2(Vector128<byte> a, Vector128<byte> b, ref readonly RoundKeys k)
    {
        var key = k[0];
        var x = a ^ key;
        var y = b ^ key;
        key = k[1];
        x = X86Aes.Decrypt(x, key);
        y = X86Aes.Decrypt(y, key);
        key = k[2];
        x = X86Aes.Decrypt(x, key);
        y = X86Aes.Decrypt(y, key);
        key = k[3];
        x = X86Aes.Decrypt(x, key);
        y = X86Aes.Decrypt(y, key);
        key = k[4];
        x = X86Aes.Decrypt(x, key);
        y = X86Aes.Decrypt(y, key);
        key = k[5];
        x = X86Aes.Decrypt(x, key);
        y = X86Aes.Decrypt(y, key);
        key = k[6];
        x = X86Aes.Decrypt(x, key);
        y = X86Aes.Decrypt(y, key);
        key = k[7];
        x = X86Aes.Decrypt(x, key);
        y = X86Aes.Decrypt(y, key);
        key = k[8];
        x = X86Aes.Decrypt(x, key);
        y = X86Aes.Decrypt(y, key);
        key = k[9];
        x = X86Aes.Decrypt(x, key);
        y = X86Aes.Decrypt(y, key);
        key = k[10];
        x = X86Aes.Decrypt(x, key);
        y = X86Aes.Decrypt(y, key);
        key = k[11];
        x = X86Aes.Decrypt(x, key);
        y = X86Aes.Decrypt(y, key);
        key = k[12];
        x = X86Aes.Decrypt(x, key);
        y = X86Aes.Decrypt(y, key);
        key = k[13];
        x = X86Aes.Decrypt(x, key);
        y = X86Aes.Decrypt(y, key);
        key = k[Rounds];
        return (X86Aes.DecryptLast(x, key), X86Aes.DecryptLast(y, key));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Encrypt8(ref Vector128<byte> b0, ref Vector128<byte> b1, ref Vector128<byte> b2, ref Vector128<byte> b3,
        ref Vector128<byte> b4, ref Vector128<byte> b5, ref Vector128<byte> b6, ref Vector128<byte> b7, ref readonly RoundKeys k)
    {
        var key = k[0];
        b0 ^= key;
        b1 ^= key;
        b2 ^= key;
        b3 ^= key;
        b4 ^= key;
        b5 ^= key;
        b6 ^= key;
        b7 ^= key;
        Round8(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7, k[1]);
        Round8(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7, k[2]);
        Round8(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7, k[3]);
        Round8(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7, k[4]);
        Round8(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7, k[5]);
        Round8(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7, k[6]);
        Round8(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7, k[7]);
        Round8(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7, k[8]);
        Round8(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7, k[9]);
        Round8(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7, k[10]);
        Round8(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7, k[11]);
        Round8(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7, k[12]);
        Round8(ref b0, ref b1, ref b2, ref b3, ref b4, ref b5, ref b6, ref b7, k[13]);
        key = k[14];
        b0 = X86Aes.EncryptLast(b0, key);
        b1 = X86Aes.EncryptLast(b1, key);
        b2 = X86Aes.EncryptLast(b2, key);
        b3 = X86Aes.EncryptLast(b3, key);
        b4 = X86Aes.EncryptLast(b4, key);
        b5 = X86Aes.EncryptLast(b5, key);
        b6 = X86Aes.EncryptLast(b6, key);
        b7 = X86Aes.EncryptLast(b7, key);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Round8(ref Vector128<byte> b0, ref Vector128<byte> b1, ref Vector128<byte> b2, ref Vector128<byte> b3,
        ref Vector128<byte> b4, ref Vector128<byte> b5, ref Vector128<byte> b6, ref Vector128<byte> b7, Vector128<byte> key)
    {
        b0 = X86Aes.Encrypt(b0, key);
        b1 = X86Aes.Encrypt(b1, key);
        b2 = X86Aes.Encrypt(b2, key);
        b3 = X86Aes.Encrypt(b3, key);
        b4 = X86Aes.Encrypt(b4, key);
        b5 = X86Aes.Encrypt(b5, key);
        b6 = X86Aes.Encrypt(b6, key);
        b7 = X86Aes.Encrypt(b7, key);
    }

    // FIPS 197 key expansion for 256-bit keys with AESKEYGENASSIST (Intel's AES-NI white paper, figure 28).
    private static void ExpandKey(ReadOnlySpan<byte> key, ref RoundKeys keys)
    {
        var t1 = Vector128.Create(key[..16]);
        var t3 = Vector128.Create(key[16..32]);
        keys[0] = t1;
        keys[1] = t3;
        // The round constant must be an immediate, hence one line per round.
        t1 = NextEven(t1, X86Aes.KeygenAssist(t3, 0x01)); keys[2] = t1; t3 = NextOdd(t1, t3); keys[3] = t3;
        t1 = NextEven(t1, X86Aes.KeygenAssist(t3, 0x02)); keys[4] = t1; t3 = NextOdd(t1, t3); keys[5] = t3;
        t1 = NextEven(t1, X86Aes.KeygenAssist(t3, 0x04)); keys[6] = t1; t3 = NextOdd(t1, t3); keys[7] = t3;
        t1 = NextEven(t1, X86Aes.KeygenAssist(t3, 0x08)); keys[8] = t1; t3 = NextOdd(t1, t3); keys[9] = t3;
        t1 = NextEven(t1, X86Aes.KeygenAssist(t3, 0x10)); keys[10] = t1; t3 = NextOdd(t1, t3); keys[11] = t3;
        t1 = NextEven(t1, X86Aes.KeygenAssist(t3, 0x20)); keys[12] = t1; t3 = NextOdd(t1, t3); keys[13] = t3;
        keys[Rounds] = NextEven(t1, X86Aes.KeygenAssist(t3, 0x40));
    }

    private static Vector128<byte> NextEven(Vector128<byte> previous, Vector128<byte> assist)
    {
        var rotated = Sse2.Shuffle(assist.AsInt32(), 0xFF).AsByte();
        return Spread(previous) ^ rotated;
    }

    private static Vector128<byte> NextOdd(Vector128<byte> even, Vector128<byte> previous)
    {
        var substituted = Sse2.Shuffle(X86Aes.KeygenAssist(even, 0x00).AsInt32(), 0xAA).AsByte();
        return Spread(previous) ^ substituted;
    }

    // w0, w0^w1, w0^w1^w2, w0^w1^w2^w3: each word XORed with the words before it.
    private static Vector128<byte> Spread(Vector128<byte> value)
    {
        var shifted = Sse2.ShiftLeftLogical128BitLane(value, 4);
        value ^= shifted;
        shifted = Sse2.ShiftLeftLogical128BitLane(shifted, 4);
        value ^= shifted;
        shifted = Sse2.ShiftLeftLogical128BitLane(shifted, 4);
        return value ^ shifted;
    }

    // The equivalent inverse cipher: round keys reversed, the inner ones through InvMixColumns.
    private static void InvertKeys(ref readonly RoundKeys keys, ref RoundKeys inverse)
    {
        inverse[0] = keys[Rounds];
        for (int i = 1; i < Rounds; i++) inverse[i] = X86Aes.InverseMixColumns(keys[Rounds - i]);
        inverse[Rounds] = keys[0];
    }

    /// <summary>The 15 round keys of AES-256.</summary>
    [InlineArray(Rounds + 1)]
    private struct RoundKeys
    {
        private Vector128<byte> _key;
    }

    /// <summary>Eight keystream blocks, for the last, partial group.</summary>
    [InlineArray(8)]
    private struct Blocks8
    {
        private Vector128<byte> _block;
    }
}
