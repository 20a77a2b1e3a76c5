namespace P2PStack.Identity;

/// <summary>scrypt cost for new key files, and the most a key file being loaded may demand.</summary>
public sealed class KeyFileOptions
{
    /// <summary>log2 of scrypt's N for new files (default 15, i.e. N = 32768).</summary>
    public int ScryptLogN { get; set; } = 15;

    /// <summary>scrypt block size r for new files.</summary>
    public int ScryptR { get; set; } = 8;

    /// <summary>scrypt parallelism p for new files.</summary>
    public int ScryptP { get; set; } = 1;

    /// <summary>Loading refuses files whose scrypt memory (128·r·N bytes) exceeds this (default 256 MiB).</summary>
    public long MaxScryptMemoryBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Loading refuses files whose scrypt work N·r·p exceeds this (default 2^24, 64× the default cost).</summary>
    public long MaxScryptWork { get; set; } = 1L << 24;
}
