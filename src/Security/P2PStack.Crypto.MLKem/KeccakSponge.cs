using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace P2PStack.Crypto.MLKem;

[InlineArray(25)]
internal struct KeccakLanes
{
    private ulong _lane0;
}

/// <summary>
/// An incremental Keccak sponge (FIPS 202) with absorb, pad and any number of squeezes. Our own, because the
/// platform SHAKE on OpenSSL 3.0 cannot squeeze incrementally and per-call interop costs more than the permutation.
/// </summary>
internal struct KeccakSponge
{
    public const int Shake128Rate = 168;
    public const int Shake256Rate = 136;
    public const int Sha3_256Rate = 136;
    public const int Sha3_512Rate = 72;
    public const byte Sha3Domain = 0x06;
    public const byte ShakeDomain = 0x1F;

    private KeccakLanes _lanes;
    private readonly int _rate;
    private int _offset;

    public KeccakSponge(int rate)
    {
        _rate = rate;
        _offset = 0;
    }

    public readonly int Rate => _rate;

    [UnscopedRef]
    private Span<byte> StateBytes => MemoryMarshal.AsBytes((Span<ulong>)_lanes);

    public void Absorb(ReadOnlySpan<byte> data)
    {
        Span<byte> state = StateBytes;
        while (!data.IsEmpty)
        {
            if (_offset == 0 && data.Length >= _rate)
            {
                Span<ulong> lanes = _lanes;
                ReadOnlySpan<ulong> words = MemoryMarshal.Cast<byte, ulong>(data[.._rate]);
                for (int i = 0; i < words.Length; i++) lanes[i] ^= words[i];
                KeccakF1600.Permute(lanes);
                data = data[_rate..];
                continue;
            }
            int n = Math.Min(_rate - _offset, data.Length);
            for (int i = 0; i < n; i++) state[_offset + i] ^= data[i];
            _offset += n;
            data = data[n..];
            if (_offset == _rate)
            {
                KeccakF1600.Permute(_lanes);
                _offset = 0;
            }
        }
    }

    public void Absorb(byte value) => Absorb(new ReadOnlySpan<byte>(in value));

    /// <summary>Applies the domain bits and pad10*1, then switches to squeezing.</summary>
    public void Pad(byte domain)
    {
        Span<byte> state = StateBytes;
        state[_offset] ^= domain;
        state[_rate - 1] ^= 0x80;
        KeccakF1600.Permute(_lanes);
        _offset = 0;
    }

    public void Squeeze(Span<byte> output)
    {
        Span<byte> state = StateBytes;
        while (!output.IsEmpty)
        {
            if (_offset == _rate)
            {
                KeccakF1600.Permute(_lanes);
                _offset = 0;
            }
            int n = Math.Min(_rate - _offset, output.Length);
            state.Slice(_offset, n).CopyTo(output);
            _offset += n;
            output = output[n..];
        }
    }

    public void Clear()
    {
        ((Span<ulong>)_lanes).Clear();
        _offset = 0;
    }
}
