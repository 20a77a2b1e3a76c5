using P2PStack.Identity;

namespace P2PStack.Daemon;

/// <summary>
/// The daemon's -id file: a libp2p <c>PrivateKey</c> protobuf as go-libp2p-daemon reads it (and the interop suite's
/// key files are), or a synaptic-mesh key file (<see cref="KeyFile"/>, encrypted or not).
/// </summary>
public static class DaemonKeyFile
{
    private static ReadOnlySpan<byte> KeyFileMagic => [0x89, (byte)'P', (byte)'2', (byte)'P', (byte)'K', (byte)'E', (byte)'Y', 0x0A];

    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="P2PFormatException">The file holds no valid private key (or the passphrase is wrong).</exception>
    public static PrivateKey Load(string path, string? passphrase)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new FileNotFoundException($"key file {path} does not exist", path);
        if (info.Length > KeyFile.MaxFileSize) throw new KeyFileException($"key file {path} is larger than {KeyFile.MaxFileSize} bytes");
        byte[] bytes = File.ReadAllBytes(path);
        try
        {
            return bytes.AsSpan().StartsWith(KeyFileMagic) ? KeyFile.Decode(bytes, passphrase) : PrivateKey.FromProtobuf(bytes);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(bytes);
        }
    }
}
