using System.Security.Cryptography;
using Ascii = System.Text.Encoding;

namespace P2PStack.Security.Pnet;

/// <summary>
/// A libp2p private network's pre-shared key (PSK v1): 32 bytes that every member holds. Its file format, shared with
/// go-libp2p, js-libp2p and IPFS (<c>swarm.key</c>), is three lines: <c>/key/swarm/psk/1.0.0/</c>, the encoding
/// (<c>/base16/</c>, <c>/base64/</c> or <c>/bin/</c>) and the key in that encoding.
/// </summary>
public sealed class SwarmKey
{
    public const string Header = "/key/swarm/psk/1.0.0/";
    public const int Size = 32;

    private readonly byte[] _key;

    public SwarmKey(ReadOnlySpan<byte> key)
    {
        if (key.Length != Size) throw new ArgumentException($"a swarm key is {Size} bytes, got {key.Length}", nameof(key));
        _key = key.ToArray();
    }

    public ReadOnlySpan<byte> Key => _key;

    /// <summary>A short non-secret tag naming the key in logs and status output: the first 8 bytes of SHA-256(key), hex.</summary>
    public string Fingerprint => Convert.ToHexStringLower(SHA256.HashData(_key).AsSpan(0, 8));

    public static SwarmKey Generate() => new(RandomNumberGenerator.GetBytes(Size));

    /// <summary>The key file text with the base16 encoding, as <c>ipfs-swarm-key-gen</c> and js-libp2p's generateKey write it.</summary>
    public string ToFileText() => $"{Header}\n/base16/\n{Convert.ToHexStringLower(_key)}\n";

    /// <summary>Parses a key file.</summary>
    /// <exception cref="SwarmKeyFormatException">Not a PSK v1 key file, or the key is not 32 bytes.</exception>
    public static SwarmKey Parse(ReadOnlySpan<byte> file)
    {
        // Header and encoding lines are ASCII; with /bin/ the rest of the file is the raw key.
        int first = file.IndexOf((byte)'\n');
        if (first < 0) throw new SwarmKeyFormatException("no line break after the header");
        string header = Ascii.ASCII.GetString(file[..first]).TrimEnd('\r').Trim();
        if (header != Header) throw new SwarmKeyFormatException($"the first line is not {Header}");
        var rest = file[(first + 1)..];
        int second = rest.IndexOf((byte)'\n');
        if (second < 0) throw new SwarmKeyFormatException("no line break after the encoding");
        string encoding = Ascii.ASCII.GetString(rest[..second]).TrimEnd('\r').Trim();
        var body = rest[(second + 1)..];
        byte[] key;
        try
        {
            key = encoding switch
            {
                "/base16/" => Convert.FromHexString(FirstLine(body)),
                "/base64/" => Convert.FromBase64String(FirstLine(body)),
                "/bin/" => body.ToArray(),
                _ => throw new SwarmKeyFormatException($"unknown key encoding {encoding} (expected /base16/, /base64/ or /bin/)"),
            };
        }
        catch (FormatException ex) when (ex is not SwarmKeyFormatException)
        {
            throw new SwarmKeyFormatException($"the key is not valid {encoding.Trim('/')}: {ex.Message}");
        }
        if (key.Length != Size) throw new SwarmKeyFormatException($"the key is {key.Length} bytes, a swarm key is {Size}");
        return new SwarmKey(key);
    }

    /// <summary>Reads and parses a key file.</summary>
    public static SwarmKey Load(string path)
    {
        try
        {
            return Parse(File.ReadAllBytes(path));
        }
        catch (SwarmKeyFormatException ex)
        {
            throw new SwarmKeyFormatException($"{path}: {ex.Message}");
        }
    }

    /// <summary>Writes the key file readable by the owner only.</summary>
    public void Save(string path) => P2PStack.IO.PrivateFile.WriteAtomically(path, Ascii.ASCII.GetBytes(ToFileText()));

    private static string FirstLine(ReadOnlySpan<byte> body)
    {
        int end = body.IndexOf((byte)'\n');
        return Ascii.ASCII.GetString(end < 0 ? body : body[..end]).Trim();
    }
}

/// <summary>A swarm key file could not be read.</summary>
public sealed class SwarmKeyFormatException(string message) : P2PStack.P2PFormatException(message);
