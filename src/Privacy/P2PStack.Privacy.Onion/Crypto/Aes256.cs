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

    private readonly Vector128<byte>[]? _encryptKeys;
    private readonly Vector128<byte>[]? _decryptKeys;
    private readonly System.Security.Cryptography.Aes? _portable;
    private readonly byte[]? _scratch;

    /// <param name="key">32 bytes.</param>
    /// <param name="decryption">Also prepares the inverse cipher (<see cref="DecryptBlock"/>).</param>
    /// <param name="forcePortable">Use the .NET ECB path even where AES-NI exists (tests compare the two).</param>
    public Aes256(ReadOnlySpan<byte> key, bool decryption, bool forcePortable = false)
    {
        if (key.Length != KeySize) throw new ArgumentException($"an AES-256 key is {KeySize} bytes, got {key.Length}", nameof(key));
        if (HardwareAccelerated && !forcePortable)
        {
            _encryptKeys = ExpandKey(key);
            if (decryption) _decryptKeys = InvertKeys(_encryptKeys);
            return;
        }
        _portable = System.Security.Cryptography.Aes.Create();
        _portable.Key = key.ToArray();
        _scratch = new byte[PortableBatchBlocks * BlockSize];
    }

    /// <summary>True when the rounds run on AES-NI.</summary>
    public static bool HardwareAccelerated => X86Aes.IsSupported && Sse2.IsSupported;

    public void EncryptBlock(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (_encryptKeys is { } keys)
        {
            var block = Encrypt(Vector128.Create(input[..BlockSize]), keys);
            block.CopyTo(output);
            return;
        }
        _portable!.EncryptEcb(input[..BlockSize], output[..BlockSize], PaddingMode.None);
    }

    public void DecryptBlock(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (_encryptKeys is not null)
        {
            var keys = _decryptKeys ?? throw new InvalidOperationException("this AES instance was made for encryption only");
            Decrypt(Vector128.Create(input[..BlockSize]), keys).CopyTo(output);
            return;
        }
        _portable!.DecryptEcb(input[..BlockSize], output[..BlockSize], PaddingMode.None);
    }

    /// <summary>
    /// XORs the counter-mode keystream into <paramref name="data"/>: block i of the keystream is AES(iv with its last
    /// four bytes, read as a big-endian number, increased by i modulo 2^32), as in GCM's inc32.
    /// </summary>
    public void XorKeystream(ReadOnlySpan<byte> iv, Span<byte> data)
    {
        if (iv.Length != BlockSize) throw new ArgumentException("the counter block is 16 bytes", nameof(iv));
        if (_encryptKeys is { } keys)
        {
            XorKeystreamNi(iv, data, keys);
            return;
        }
        XorKeystreamPortable(iv, data);
    }

    public void Dispose()
    {
        if (_encryptKeys is not null) Array.Clear(_encryptKeys);
        if (_decryptKeys is not null) Array.Clear(_decryptKeys);
        if (_scratch is not null) CryptographicOperations.ZeroMemory(_scratch);
        _portable?.Dispose();
    }

    private static void XorKeystreamNi(ReadOnlySpan<byte> iv, Span<byte> data, Vector128<byte>[] keys)
    {
        uint counter = BinaryPrimitives.ReadUInt32BigEndian(iv[12..]);
        var prefix = Vector128.Create(iv);
        // The counter's four bytes replaced in each block: a byte-swapped dword inserted at lane 3.
        var mask = Vector128.Create(0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0u).AsByte();
        prefix &= mask;
        int offset = 0;
        // Eight blocks in flight: AES-NI rounds have a latency of several cycles and more than one issues per cycle.
        Span<Vector128<byte>> b = stackalloc Vector128<byte>[8];
        while (data.Length - offset >= 8 * BlockSize)
        {
            for (int i = 0; i < 8; i++) b[i] = prefix | CounterLane(counter + (uint)i);
            counter += 8;
            Encrypt8(b, keys);
            ref byte start = ref MemoryMarshal.GetReference(data.Slice(offset, 8 * BlockSize));
            for (int i = 0; i < 8; i++)
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref start, 16 * i), Unsafe.ReadUnaligned<Vector128<byte>>(ref Unsafe.Add(ref start, 16 * i)) ^ b[i]);
            offset += 8 * BlockSize;
        }
        while (data.Length - offset >= 4 * BlockSize)
        {
            var b0 = prefix | CounterLane(counter);
            var b1 = prefix | CounterLane(counter + 1);
            var b2 = prefix | CounterLane(counter + 2);
            var b3 = prefix | CounterLane(counter + 3);
            counter += 4;
            Encrypt4(ref b0, ref b1, ref b2, ref b3, keys);
            var chunk = data.Slice(offset, 4 * BlockSize);
            ref byte start = ref MemoryMarshal.GetReference(chunk);
            Unsafe.WriteUnaligned(ref start, Unsafe.ReadUnaligned<Vector128<byte>>(ref start) ^ b0);
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref start, 16), Unsafe.ReadUnaligned<Vector128<byte>>(ref Unsafe.Add(ref start, 16)) ^ b1);
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref start, 32), Unsafe.ReadUnaligned<Vector128<byte>>(ref Unsafe.Add(ref start, 32)) ^ b2);
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref start, 48), Unsafe.ReadUnaligned<Vector128<byte>>(ref Unsafe.Add(ref start, 48)) ^ b3);
            offset += 4 * BlockSize;
        }
        Span<byte> bytes = stackalloc byte[BlockSize];
        while (offset < data.Length)
        {
            var stream = Encrypt(prefix | CounterLane(counter++), keys);
            int n = Math.Min(BlockSize, data.Length - offset);
            var chunk = data.Slice(offset, n);
            if (n == BlockSize)
            {
                ref byte start = ref MemoryMarshal.GetReference(chunk);
                Unsafe.WriteUnaligned(ref start, Unsafe.ReadUnaligned<Vector128<byte>>(ref start) ^ stream);
            }
            else
            {
                stream.CopyTo(bytes);
                for (int i = 0; i < n; i++) chunk[i] ^= bytes[i];
            }
            offset += n;
        }
    }

    private void XorKeystreamPortable(ReadOnlySpan<byte> iv, Span<byte> data)
    {
        uint counter = BinaryPrimitives.ReadUInt32BigEndian(iv[12..]);
        var scratch = _scratch!;
        int offset = 0;
        while (offset < data.Length)
        {
            int blocks = Math.Min(PortableBatchBlocks, (data.Length - offset + BlockSize - 1) / BlockSize);
            var counters = scratch.AsSpan(0, blocks * BlockSize);
            for (int i = 0; i < blocks; i++)
            {
                iv[..12].CopyTo(counters[(i * BlockSize)..]);
                BinaryPrimitives.WriteUInt32BigEndian(counters[(i * BlockSize + 12)..], counter++);
            }
            _portable!.EncryptEcb(counters, counters, PaddingMode.None);
            int n = Math.Min(counters.Length, data.Length - offset);
            Bytes.Xor(data.Slice(offset, n), counters[..n]);
            offset += n;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> CounterLane(uint counter) =>
        Vector128.Create(0u, 0u, 0u, BinaryPrimitives.ReverseEndianness(counter)).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Encrypt(Vector128<byte> block, Vector128<byte>[] keys)
    {
        block ^= keys[0];
        for (int round = 1; round < Rounds; round++) block = X86Aes.Encrypt(block, keys[round]);
        return X86Aes.EncryptLast(block, keys[Rounds]);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Encrypt8(Span<Vector128<byte>> b, Vector128<byte>[] keys)
    {
        var b0 = b[0] ^ keys[0];
        var b1 = b[1] ^ keys[0];
        var b2 = b[2] ^ keys[0];
        var b3 = b[3] ^ keys[0];
        var b4 = b[4] ^ keys[0];
        var b5 = b[5] ^ keys[0];
        var b6 = b[6] ^ keys[0];
        var b7 = b[7] ^ keys[0];
        for (int round = 1; round < Rounds; round++)
        {
            var key = keys[round];
            b0 = X86Aes.Encrypt(b0, key);
            b1 = X86Aes.Encrypt(b1, key);
            b2 = X86Aes.Encrypt(b2, key);
            b3 = X86Aes.Encrypt(b3, key);
            b4 = X86Aes.Encrypt(b4, key);
            b5 = X86Aes.Encrypt(b5, key);
            b6 = X86Aes.Encrypt(b6, key);
            b7 = X86Aes.Encrypt(b7, key);
        }
        var last = keys[Rounds];
        b[0] = X86Aes.EncryptLast(b0, last);
        b[1] = X86Aes.EncryptLast(b1, last);
        b[2] = X86Aes.EncryptLast(b2, last);
        b[3] = X86Aes.EncryptLast(b3, last);
        b[4] = X86Aes.EncryptLast(b4, last);
        b[5] = X86Aes.EncryptLast(b5, last);
        b[6] = X86Aes.EncryptLast(b6, last);
        b[7] = X86Aes.EncryptLast(b7, last);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Encrypt4(ref Vector128<byte> b0, ref Vector128<byte> b1, ref Vector128<byte> b2, ref Vector128<byte> b3,
        Vector128<byte>[] keys)
    {
        var key = keys[0];
        b0 ^= key;
        b1 ^= key;
        b2 ^= key;
        b3 ^= key;
        for (int round = 1; round < Rounds; round++)
        {
            key = keys[round];
            b0 = X86Aes.Encrypt(b0, key);
            b1 = X86Aes.Encrypt(b1, key);
            b2 = X86Aes.Encrypt(b2, key);
            b3 = X86Aes.Encrypt(b3, key);
        }
        key = keys[Rounds];
        b0 = X86Aes.EncryptLast(b0, key);
        b1 = X86Aes.EncryptLast(b1, key);
        b2 = X86Aes.EncryptLast(b2, key);
        b3 = X86Aes.EncryptLast(b3, key);
    }

    private static Vector128<byte> Decrypt(Vector128<byte> block, Vector128<byte>[] keys)
    {
        block ^= keys[0];
        for (int round = 1; round < Rounds; round++) block = X86Aes.Decrypt(block, keys[round]);
        return X86Aes.DecryptLast(block, keys[Rounds]);
    }

    // FIPS 197 key expansion for 256-bit keys with AESKEYGENASSIST (Intel's AES-NI white paper, figure 28).
    private static Vector128<byte>[] ExpandKey(ReadOnlySpan<byte> key)
    {
        var keys = new Vector128<byte>[Rounds + 1];
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
        return keys;
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
    private static Vector128<byte>[] InvertKeys(Vector128<byte>[] keys)
    {
        var inverse = new Vector128<byte>[Rounds + 1];
        inverse[0] = keys[Rounds];
        for (int i = 1; i < Rounds; i++) inverse[i] = X86Aes.InverseMixColumns(keys[Rounds - i]);
        inverse[Rounds] = keys[0];
        return inverse;
    }
}
