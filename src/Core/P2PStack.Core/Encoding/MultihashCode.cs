namespace P2PStack.Encoding;

/// <summary>Multihash function codes from the multicodec table (tag "multihash").</summary>
public static class MultihashCode
{
    public const ulong Identity = 0x00;
    public const ulong Sha1 = 0x11;
    public const ulong Sha2_256 = 0x12;
    public const ulong Sha2_512 = 0x13;
    public const ulong Sha3_512 = 0x14;
    public const ulong Sha3_384 = 0x15;
    public const ulong Sha3_256 = 0x16;
    public const ulong Sha3_224 = 0x17;
    public const ulong Shake128 = 0x18;
    public const ulong Shake256 = 0x19;
    public const ulong Keccak224 = 0x1a;
    public const ulong Keccak256 = 0x1b;
    public const ulong Keccak384 = 0x1c;
    public const ulong Keccak512 = 0x1d;
    public const ulong Blake3 = 0x1e;
    public const ulong Sha2_384 = 0x20;
    public const ulong DoubleSha2_256 = 0x56;
    public const ulong Md5 = 0xd5;
    public const ulong Sha2_224 = 0x1013;
    public const ulong Sha2_512_224 = 0x1014;
    public const ulong Sha2_512_256 = 0x1015;
    /// <summary>blake2b-8 .. blake2b-512 are 0xb201 .. 0xb240: the low byte is the output length in bytes.</summary>
    public const ulong Blake2b8 = 0xb201;
    public const ulong Blake2b160 = 0xb214;
    public const ulong Blake2b256 = 0xb220;
    public const ulong Blake2b384 = 0xb230;
    public const ulong Blake2b512 = 0xb240;
    /// <summary>blake2s-8 .. blake2s-256 are 0xb241 .. 0xb260: output length in bytes is the code minus 0xb240.</summary>
    public const ulong Blake2s8 = 0xb241;
    public const ulong Blake2s256 = 0xb260;

    /// <summary>
    /// Full output length in bytes of a fixed-size hash function, or -1 when the code is not one this library knows
    /// (or has no fixed size: identity, shake, blake3). Digests of known functions may be truncated, never longer.
    /// </summary>
    public static int DigestLength(ulong code) => code switch
    {
        Sha1 => 20,
        Sha2_256 or Sha3_256 or Keccak256 or DoubleSha2_256 or Sha2_512_256 => 32,
        Sha2_512 or Sha3_512 or Keccak512 => 64,
        Sha3_384 or Sha2_384 or Keccak384 => 48,
        Sha3_224 or Keccak224 or Sha2_224 or Sha2_512_224 => 28,
        Md5 => 16,
        >= Blake2b8 and <= Blake2b512 => (int)(code - 0xb200),
        >= Blake2s8 and <= Blake2s256 => (int)(code - 0xb240),
        _ => -1,
    };

    /// <summary>Short name from the multicodec table, or null when unknown.</summary>
    public static string? Name(ulong code) => code switch
    {
        Identity => "identity",
        Sha1 => "sha1",
        Sha2_256 => "sha2-256",
        Sha2_512 => "sha2-512",
        Sha3_512 => "sha3-512",
        Sha3_384 => "sha3-384",
        Sha3_256 => "sha3-256",
        Sha3_224 => "sha3-224",
        Shake128 => "shake-128",
        Shake256 => "shake-256",
        Keccak224 => "keccak-224",
        Keccak256 => "keccak-256",
        Keccak384 => "keccak-384",
        Keccak512 => "keccak-512",
        Blake3 => "blake3",
        Sha2_384 => "sha2-384",
        DoubleSha2_256 => "dbl-sha2-256",
        Md5 => "md5",
        Sha2_224 => "sha2-224",
        Sha2_512_224 => "sha2-512-224",
        Sha2_512_256 => "sha2-512-256",
        >= Blake2b8 and <= Blake2b512 => $"blake2b-{(code - 0xb200) * 8}",
        >= Blake2s8 and <= Blake2s256 => $"blake2s-{(code - 0xb240) * 8}",
        _ => null,
    };
}
