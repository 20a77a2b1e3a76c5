using System.Text.Json;

namespace P2PStack.Crypto.MLKem.Tests;

/// <summary>
/// Finds the shared test vectors: walk up from the test assembly to the directory holding P2PStack.sln, then look
/// for shared/vectors in its parent (and, for git worktrees, the parents above). Missing vectors fail the test.
/// </summary>
internal static class VectorFiles
{
    private static readonly Lazy<string> s_root = new(Locate);

    public static string Root => s_root.Value;

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    public static JsonDocument Load(params string[] parts)
    {
        string path = PathOf(parts);
        if (!File.Exists(path)) throw new FileNotFoundException($"Test vector file missing: {path}", path);
        return JsonDocument.Parse(File.ReadAllBytes(path));
    }

    public static byte[] Hex(this JsonElement element, string property) =>
        Convert.FromHexString(element.GetProperty(property).GetString()!);

    public static string Str(this JsonElement element, string property)
    {
        JsonElement value = element.GetProperty(property);
        return value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
    }

    private static string Locate()
    {
        string? repo = AppContext.BaseDirectory;
        while (repo is not null && !File.Exists(Path.Combine(repo, "P2PStack.sln"))) repo = Path.GetDirectoryName(repo);
        if (repo is null)
            throw new InvalidOperationException($"Could not find P2PStack.sln above {AppContext.BaseDirectory}; cannot locate ../shared/vectors.");
        for (string? dir = Path.GetDirectoryName(repo); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            string candidate = Path.Combine(dir, "shared", "vectors");
            if (File.Exists(Path.Combine(candidate, "README.md"))) return candidate;
        }
        throw new InvalidOperationException(
            $"Test vectors missing: expected ../shared/vectors (with README.md) next to the repository root {repo}. " +
            "These tests need the ML-KEM ACVP/Wycheproof and X-Wing vector files.");
    }
}
