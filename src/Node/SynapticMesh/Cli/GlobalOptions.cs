using System.CommandLine;

namespace SynapticMesh.Cli;

/// <summary>Options every command accepts: where the node's home is, and whether to print JSON.</summary>
public static class GlobalOptions
{
    public const string HomeVariable = "SYNAPTIC_MESH_HOME";

    public static readonly Option<string?> Home = new("--home")
    {
        Description = $"Node home directory (default: ${HomeVariable}, else ~/.synaptic-mesh)",
        Recursive = true,
    };

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print machine-readable JSON on stdout",
        Recursive = true,
    };

    /// <summary>
    /// The <c>--home DIR</c> to repeat in a hint (with a leading space), or "" when the default home is in use, so
    /// that "start it with `synaptic-mesh p2p start --home DIR`" names the node the user meant.
    /// </summary>
    public static string HomeOption(ParseResult parse)
    {
        string home = ResolveHome(parse);
        if (home == DefaultHome()) return "";
        return " --home " + (home.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '$' or '`') ? $"'{home.Replace("'", "'\\''")}'" : home);
    }

    public static string ResolveHome(ParseResult parse)
    {
        string? home = parse.GetValue(Home);
        if (string.IsNullOrWhiteSpace(home)) home = Environment.GetEnvironmentVariable(HomeVariable);
        if (string.IsNullOrWhiteSpace(home)) home = DefaultHome();
        return Path.GetFullPath(home);
    }

    private static string DefaultHome() =>
        Path.GetFullPath(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".synaptic-mesh"));
}
