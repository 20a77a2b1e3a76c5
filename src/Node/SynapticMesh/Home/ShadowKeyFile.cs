using System.Text.Json;
using P2PStack.IO;
using P2PStack.Privacy.ShadowAddresses;
using SynapticMesh.Cli;

namespace SynapticMesh.Home;

/// <summary>
/// home/shadow-keys.json: the private keys of the node's shadow addresses with their state (created, uses, when it
/// rotates, end of the grace period of a retiring address), mode 0600 like the identity key. Written whenever the pool changes, read at start.
/// </summary>
public static class ShadowKeyFile
{
    public const string FileName = "shadow-keys.json";

    /// <summary>Largest file read (100 keys take about 20 KB).</summary>
    public const int MaxFileSize = 1024 * 1024;

    /// <summary>One key; <see cref="RotateAt"/> is absent in files written before the pool staggered lifetimes (then
    /// the address rotates after the configured lifetime).</summary>
    public sealed record Entry(string Key, DateTimeOffset Created, long Uses, DateTimeOffset? RetiresAt, DateTimeOffset? RotateAt = null);

    public static string PathOf(NodeHome home) => Path.Combine(home.Directory, FileName);

    public static IReadOnlyList<(ShadowKey Key, DateTimeOffset Created, long Uses, DateTimeOffset? RetiresAt, DateTimeOffset? RotateAt)> Load(NodeHome home)
    {
        string path = PathOf(home);
        if (!File.Exists(path)) return [];
        try
        {
            if (new FileInfo(path).Length > MaxFileSize) throw new CliException($"{path} is larger than {MaxFileSize} bytes");
            var entries = JsonSerializer.Deserialize<List<Entry>>(File.ReadAllBytes(path), JsonOptions) ?? [];
            return [.. entries.Select(e => (ShadowKey.Import(Convert.FromHexString(e.Key)), e.Created, e.Uses, e.RetiresAt, e.RotateAt))];
        }
        catch (Exception e) when (e is JsonException or FormatException or IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot read the shadow keys {path}: {e.Message}", inner: e);
        }
    }

    public static void Save(NodeHome home, IEnumerable<(ShadowKey Key, DateTimeOffset Created, long Uses, DateTimeOffset? RetiresAt, DateTimeOffset RotateAt)> keys)
    {
        home.EnsureExists();
        var entries = keys.Select(k => new Entry(Convert.ToHexStringLower(k.Key.Export()), k.Created, k.Uses, k.RetiresAt, k.RotateAt)).ToList();
        PrivateFile.WriteAtomically(PathOf(home), JsonSerializer.SerializeToUtf8Bytes(entries, JsonOptions));
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { WriteIndented = true };
}
