namespace P2PStack.Identity;

/// <summary>scrypt cost for new key files, and the most a key file being loaded may demand.</summary>
public sealed class KeyFileOptions
{
    /// <summary>log2 of scrypt's N for new files (default 17, i.e. N = 131072: 128 MiB with r = 8, the current
    /// guidance; files written with a lower cost, such as the former default 15, still load).</summary>
    public int ScryptLogN { get; set; } = 17;

    /// <summary>scrypt block size r for new files.</summary>
    public int ScryptR { get; set; } = 8;

    /// <summary>scrypt parallelism p for new files.</summary>
    public int ScryptP { get; set; } = 1;

    /// <summary>Loading refuses files whose scrypt memory (128·r·N bytes) exceeds this (default 256 MiB).</summary>
    public long MaxScryptMemoryBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Loading refuses files whose scrypt work N·r·p exceeds this (default 2^24, 16× the default cost).</summary>
    public long MaxScryptWork { get; set; } = 1L << 24;
}
