using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Crypto.Generators;
using P2PStack.IO;

namespace P2PStack.Identity;

/// <summary>
/// Private key files. Layout (all integers big-endian):
/// <code>
/// magic      8  0x89 "P2PKEY" 0x0A
/// version    1  1
/// protection 1  0 = none, 1 = scrypt + AES-256-GCM
/// -- protection 1 only --
/// logN 1, r 4, p 4, salt 32, nonce 12
/// -- then --
/// protection 0: PrivateKey protobuf || SHA-256(header || protobuf)
/// protection 1: AES-256-GCM(key = scrypt(passphrase), aad = header)(protobuf) || tag 16
/// </code>
/// The header (everything before the body) is authenticated, so changed parameters fail like a wrong passphrase.
/// </summary>
public static class KeyFile
{
    /// <summary>Largest key file read (an 8192-bit RSA key is under 5 KB).</summary>
    public const int MaxFileSize = 64 * 1024;

    private static ReadOnlySpan<byte> Magic => [0x89, (byte)'P', (byte)'2', (byte)'P', (byte)'K', (byte)'E', (byte)'Y', 0x0A];
    private const byte Version = 1;
    private const byte Unprotected = 0;
    private const byte ScryptAesGcm = 1;
    private const int PrefixLength = 10;
    private const int SaltLength = 32;
    private const int NonceLength = 12;
    private const int TagLength = 16;
    private const int ChecksumLength = 32;
    private const int ScryptHeaderLength = PrefixLength + 1 + 4 + 4 + SaltLength + NonceLength;

    /// <summary>Encodes <paramref name="key"/> encrypted under <paramref name="passphrase"/>.</summary>
    public static byte[] Encrypt(PrivateKey key, string passphrase, KeyFileOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentException.ThrowIfNullOrEmpty(passphrase);
        options ??= new KeyFileOptions();
        ValidateCost(options.ScryptLogN, options.ScryptR, options.ScryptP, limits: null);

        byte[] plaintext = key.ToProtobuf();
        byte[] output = new byte[ScryptHeaderLength + plaintext.Length + TagLength];
        var header = output.AsSpan(0, ScryptHeaderLength);
        WritePrefix(header, ScryptAesGcm);
        header[PrefixLength] = (byte)options.ScryptLogN;
        BinaryPrimitives.WriteInt32BigEndian(header[(PrefixLength + 1)..], options.ScryptR);
        BinaryPrimitives.WriteInt32BigEndian(header[(PrefixLength + 5)..], options.ScryptP);
        var salt = header.Slice(PrefixLength + 9, SaltLength);
        var nonce = header.Slice(PrefixLength + 9 + SaltLength, NonceLength);
        RandomNumberGenerator.Fill(salt);
        RandomNumberGenerator.Fill(nonce);

        byte[] aesKey = DeriveKey(passphrase, salt, options.ScryptLogN, options.ScryptR, options.ScryptP);
        try
        {
            using var aes = new AesGcm(aesKey, TagLength);
            aes.Encrypt(nonce, plaintext, output.AsSpan(ScryptHeaderLength, plaintext.Length), output.AsSpan(ScryptHeaderLength + plaintext.Length), header);
            return output;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(aesKey);
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>Encodes <paramref name="key"/> in the clear (with header and checksum), for an explicit no-passphrase choice.</summary>
    public static byte[] EncodeUnencrypted(PrivateKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        byte[] plaintext = key.ToProtobuf();
        try
        {
            byte[] output = new byte[PrefixLength + plaintext.Length + ChecksumLength];
            WritePrefix(output, Unprotected);
            plaintext.CopyTo(output, PrefixLength);
            SHA256.HashData(output.AsSpan(0, PrefixLength + plaintext.Length), output.AsSpan(PrefixLength + plaintext.Length));
            return output;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>Whether <paramref name="file"/> is a passphrase-protected key file.</summary>
    /// <exception cref="KeyFileException">Not a key file, or an unknown version.</exception>
    public static bool IsEncrypted(ReadOnlySpan<byte> file) => ReadPrefix(file) == ScryptAesGcm;

    /// <summary>Decodes a key file. <paramref name="passphrase"/> is required for encrypted files and ignored otherwise.</summary>
    /// <exception cref="KeyFileException">Truncated, unknown version, hostile parameters, wrong passphrase or tampered file.</exception>
    /// <exception cref="KeyFormatException">The decrypted key itself is invalid.</exception>
    public static PrivateKey Decode(ReadOnlySpan<byte> file, string? passphrase, KeyFileOptions? options = null)
    {
        if (file.Length > MaxFileSize) throw new KeyFileException($"key file is {file.Length} bytes, more than the {MaxFileSize} allowed");
        byte protection = ReadPrefix(file);
        return protection == Unprotected ? DecodeUnprotected(file) : DecodeEncrypted(file, passphrase, options ?? new KeyFileOptions());
    }

    private static PrivateKey DecodeUnprotected(ReadOnlySpan<byte> file)
    {
        if (file.Length < PrefixLength + ChecksumLength) throw new KeyFileException("key file is truncated (no room for the key and its checksum)");
        var content = file[..^ChecksumLength];
        Span<byte> checksum = stackalloc byte[ChecksumLength];
        SHA256.HashData(content, checksum);
        if (!CryptographicOperations.FixedTimeEquals(checksum, file[^ChecksumLength..]))
            throw new KeyFileException("unencrypted key file is corrupted or was modified (checksum mismatch)");
        return PrivateKey.FromProtobuf(content[PrefixLength..]);
    }

    private static PrivateKey DecodeEncrypted(ReadOnlySpan<byte> file, string? passphrase, KeyFileOptions limits)
    {
        if (string.IsNullOrEmpty(passphrase)) throw new KeyFileException("key file is encrypted: a passphrase is required");
        if (file.Length < ScryptHeaderLength + TagLength) throw new KeyFileException("encrypted key file is truncated");
        var header = file[..ScryptHeaderLength];
        int logN = header[PrefixLength];
        int r = BinaryPrimitives.ReadInt32BigEndian(header[(PrefixLength + 1)..]);
        int p = BinaryPrimitives.ReadInt32BigEndian(header[(PrefixLength + 5)..]);
        ValidateCost(logN, r, p, limits);
        var salt = header.Slice(PrefixLength + 9, SaltLength);
        var nonce = header.Slice(PrefixLength + 9 + SaltLength, NonceLength);
        var ciphertext = file[ScryptHeaderLength..^TagLength];
        var tag = file[^TagLength..];

        byte[] aesKey = DeriveKey(passphrase, salt, logN, r, p);
        byte[] plaintext = new byte[ciphertext.Length];
        try
        {
            using var aes = new AesGcm(aesKey, TagLength);
            try { aes.Decrypt(nonce, ciphertext, tag, plaintext, header); }
            catch (AuthenticationTagMismatchException e)
            {
                throw new KeyFileException("wrong passphrase, or the key file was modified (authentication failed)", e);
            }
            return PrivateKey.FromProtobuf(plaintext);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(aesKey);
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <summary>Writes an encrypted key file atomically, readable only by the owner on Unix.</summary>
    public static void Save(string path, PrivateKey key, string passphrase, KeyFileOptions? options = null) =>
        WriteAtomically(path, Encrypt(key, passphrase, options));

    /// <summary>Writes an unencrypted key file atomically, readable only by the owner on Unix.</summary>
    public static void SaveUnencrypted(string path, PrivateKey key) => WriteAtomically(path, EncodeUnencrypted(key));

    /// <summary>Reads and decodes a key file (see <see cref="Decode"/>).</summary>
    public static PrivateKey Load(string path, string? passphrase, KeyFileOptions? options = null)
    {
        byte[] file;
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            if (stream.Length > MaxFileSize) throw new KeyFileException($"key file is {stream.Length} bytes, more than the {MaxFileSize} allowed");
            file = new byte[stream.Length];
            stream.ReadExactly(file);
        }
        try { return Decode(file, passphrase, options); }
        finally { CryptographicOperations.ZeroMemory(file); }
    }

    private static void WriteAtomically(string path, byte[] contents)
    {
        try { PrivateFile.WriteAtomically(path, contents); }
        finally { CryptographicOperations.ZeroMemory(contents); }
    }

    private static void WritePrefix(Span<byte> destination, byte protection)
    {
        Magic.CopyTo(destination);
        destination[Magic.Length] = Version;
        destination[Magic.Length + 1] = protection;
    }

    private static byte ReadPrefix(ReadOnlySpan<byte> file)
    {
        if (file.Length < PrefixLength) throw new KeyFileException("key file is truncated (shorter than its header)");
        if (!file[..Magic.Length].SequenceEqual(Magic)) throw new KeyFileException("not a P2PStack key file (bad magic)");
        byte version = file[Magic.Length];
        if (version != Version) throw new KeyFileException($"unsupported key file version {version} (this build reads version {Version})");
        byte protection = file[Magic.Length + 1];
        if (protection is not (Unprotected or ScryptAesGcm)) throw new KeyFileException($"unknown key file protection scheme {protection}");
        return protection;
    }

    /// <summary>Checks scrypt parameters; with <paramref name="limits"/>, also refuses costs a hostile file could use to exhaust us.</summary>
    private static void ValidateCost(int logN, int r, int p, KeyFileOptions? limits)
    {
        void Fail(string message)
        {
            if (limits is null) throw new ArgumentOutOfRangeException(nameof(KeyFileOptions), message);
            throw new KeyFileException(message);
        }
        if (logN is < 1 or > 30) Fail($"scrypt log2(N) must be 1 to 30, got {logN}");
        if (r is < 1 or > 1024) Fail($"scrypt r must be 1 to 1024, got {r}");
        if (p is < 1 or > 64) Fail($"scrypt p must be 1 to 64, got {p}");
        if (limits is null) return;
        long memory = 128L * r << logN;
        if (memory > limits.MaxScryptMemoryBytes) Fail($"key file asks for {memory} bytes of scrypt memory, more than the {limits.MaxScryptMemoryBytes} allowed");
        long work = (long)r * p << logN;
        if (work > limits.MaxScryptWork) Fail($"key file asks for scrypt work N*r*p = {work}, more than the {limits.MaxScryptWork} allowed");
    }

    private static byte[] DeriveKey(string passphrase, ReadOnlySpan<byte> salt, int logN, int r, int p)
    {
        byte[] password = System.Text.Encoding.UTF8.GetBytes(passphrase.Normalize(NormalizationForm.FormC));
        try { return SCrypt.Generate(password, salt.ToArray(), 1 << logN, r, p, 32); }
        finally { CryptographicOperations.ZeroMemory(password); }
    }
}
