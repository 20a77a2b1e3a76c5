using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace P2PStack.Security.Pnet;

/// <summary>
/// The XSalsa20 stream cipher (Bernstein, "Extending the Salsa20 nonce"): HSalsa20 derives a subkey from the key and
/// the first 16 nonce bytes, Salsa20/20 runs with that subkey, the last 8 nonce bytes and a 64-bit block counter from 0.
/// One instance is one key stream; <see cref="Xor"/> continues where the previous call stopped. Not thread-safe.
/// </summary>
public sealed class XSalsa20
{
    public const int KeySize = 32;
    public const int NonceSize = 24;
    private const int BlockSize = 64;

    private readonly uint[] _input = new uint[16];
    private readonly byte[] _block = new byte[BlockSize];
    private int _blockUsed = BlockSize; // no key stream buffered yet

    public XSalsa20(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce)
    {
        if (key.Length != KeySize) throw new ArgumentException($"an XSalsa20 key is {KeySize} bytes", nameof(key));
        if (nonce.Length != NonceSize) throw new ArgumentException($"an XSalsa20 nonce is {NonceSize} bytes", nameof(nonce));
        Span<byte> subkey = stackalloc byte[KeySize];
        HSalsa20(key, nonce[..16], subkey);
        SetUp(_input, subkey, nonce[16..]);
        subkey.Clear();
    }

    /// <summary>XORs the next <paramref name="source"/>.Length key stream bytes into <paramref name="destination"/>
    /// (which may be the same memory).</summary>
    public void Xor(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (destination.Length < source.Length) throw new ArgumentException("destination is shorter than source", nameof(destination));
        int offset = 0;
        // Finish the buffered block first.
        while (_blockUsed < BlockSize && offset < source.Length)
            destination[offset] = (byte)(source[offset++] ^ _block[_blockUsed++]);
        // Whole blocks straight from the core.
        Span<byte> stream = stackalloc byte[BlockSize];
        while (source.Length - offset >= BlockSize)
        {
            NextBlock(stream);
            XorBlock(source.Slice(offset, BlockSize), stream, destination.Slice(offset, BlockSize));
            offset += BlockSize;
        }
        if (offset < source.Length)
        {
            NextBlock(_block);
            _blockUsed = 0;
            while (offset < source.Length)
                destination[offset] = (byte)(source[offset++] ^ _block[_blockUsed++]);
        }
    }

    /// <summary>Transforms <paramref name="data"/> in place.</summary>
    public void Xor(Span<byte> data) => Xor(data, data);

    private static void XorBlock(ReadOnlySpan<byte> source, ReadOnlySpan<byte> stream, Span<byte> destination)
    {
        if (Vector.IsHardwareAccelerated && Vector<byte>.Count <= BlockSize)
        {
            for (int i = 0; i < BlockSize; i += Vector<byte>.Count)
                (new Vector<byte>(source[i..]) ^ new Vector<byte>(stream[i..])).CopyTo(destination[i..]);
            return;
        }
        for (int i = 0; i < BlockSize; i++) destination[i] = (byte)(source[i] ^ stream[i]);
    }

    private void NextBlock(Span<byte> output)
    {
        Span<uint> x = stackalloc uint[16];
        _input.CopyTo(x);
        DoubleRounds(x);
        for (int i = 0; i < 16; i++) BinaryPrimitives.WriteUInt32LittleEndian(output[(4 * i)..], x[i] + _input[i]);
        if (++_input[8] == 0) _input[9]++;
    }

    /// <summary>HSalsa20: the subkey for <paramref name="nonce16"/> (the first 16 nonce bytes).</summary>
    internal static void HSalsa20(ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce16, Span<byte> subkey)
    {
        Span<uint> x = stackalloc uint[16];
        x[0] = Sigma0; x[5] = Sigma1; x[10] = Sigma2; x[15] = Sigma3;
        for (int i = 0; i < 4; i++)
        {
            x[1 + i] = BinaryPrimitives.ReadUInt32LittleEndian(key[(4 * i)..]);
            x[11 + i] = BinaryPrimitives.ReadUInt32LittleEndian(key[(16 + 4 * i)..]);
            x[6 + i] = BinaryPrimitives.ReadUInt32LittleEndian(nonce16[(4 * i)..]);
        }
        DoubleRounds(x);
        ReadOnlySpan<int> picks = [0, 5, 10, 15, 6, 7, 8, 9];
        for (int i = 0; i < 8; i++) BinaryPrimitives.WriteUInt32LittleEndian(subkey[(4 * i)..], x[picks[i]]);
        x.Clear();
    }

    private static void SetUp(uint[] state, ReadOnlySpan<byte> key, ReadOnlySpan<byte> nonce8)
    {
        state[0] = Sigma0; state[5] = Sigma1; state[10] = Sigma2; state[15] = Sigma3;
        for (int i = 0; i < 4; i++)
        {
            state[1 + i] = BinaryPrimitives.ReadUInt32LittleEndian(key[(4 * i)..]);
            state[11 + i] = BinaryPrimitives.ReadUInt32LittleEndian(key[(16 + 4 * i)..]);
        }
        state[6] = BinaryPrimitives.ReadUInt32LittleEndian(nonce8);
        state[7] = BinaryPrimitives.ReadUInt32LittleEndian(nonce8[4..]);
        state[8] = 0;
        state[9] = 0;
    }

    // "expand 32-byte k"
    private const uint Sigma0 = 0x61707865, Sigma1 = 0x3320646e, Sigma2 = 0x79622d32, Sigma3 = 0x6b206574;

    private static void DoubleRounds(Span<uint> x)
    {
        uint x0 = x[0], x1 = x[1], x2 = x[2], x3 = x[3], x4 = x[4], x5 = x[5], x6 = x[6], x7 = x[7];
        uint x8 = x[8], x9 = x[9], x10 = x[10], x11 = x[11], x12 = x[12], x13 = x[13], x14 = x[14], x15 = x[15];
        for (int i = 0; i < 10; i++)
        {
            // column round
            x4 ^= R(x0 + x12, 7); x8 ^= R(x4 + x0, 9); x12 ^= R(x8 + x4, 13); x0 ^= R(x12 + x8, 18);
            x9 ^= R(x5 + x1, 7); x13 ^= R(x9 + x5, 9); x1 ^= R(x13 + x9, 13); x5 ^= R(x1 + x13, 18);
            x14 ^= R(x10 + x6, 7); x2 ^= R(x14 + x10, 9); x6 ^= R(x2 + x14, 13); x10 ^= R(x6 + x2, 18);
            x3 ^= R(x15 + x11, 7); x7 ^= R(x3 + x15, 9); x11 ^= R(x7 + x3, 13); x15 ^= R(x11 + x7, 18);
            // row round
            x1 ^= R(x0 + x3, 7); x2 ^= R(x1 + x0, 9); x3 ^= R(x2 + x1, 13); x0 ^= R(x3 + x2, 18);
            x6 ^= R(x5 + x4, 7); x7 ^= R(x6 + x5, 9); x4 ^= R(x7 + x6, 13); x5 ^= R(x4 + x7, 18);
            x11 ^= R(x10 + x9, 7); x8 ^= R(x11 + x10, 9); x9 ^= R(x8 + x11, 13); x10 ^= R(x9 + x8, 18);
            x12 ^= R(x15 + x14, 7); x13 ^= R(x12 + x15, 9); x14 ^= R(x13 + x12, 13); x15 ^= R(x14 + x13, 18);
        }
        x[0] = x0; x[1] = x1; x[2] = x2; x[3] = x3; x[4] = x4; x[5] = x5; x[6] = x6; x[7] = x7;
        x[8] = x8; x[9] = x9; x[10] = x10; x[11] = x11; x[12] = x12; x[13] = x13; x[14] = x14; x[15] = x15;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint R(uint value, int bits) => BitOperations.RotateLeft(value, bits);
}
