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

    public static string ResolveHome(ParseResult parse)
    {
        string? home = parse.GetValue(Home);
        if (string.IsNullOrWhiteSpace(home)) home = Environment.GetEnvironmentVariable(HomeVariable);
        if (string.IsNullOrWhiteSpace(home))
            home = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".synaptic-mesh");
        return Path.GetFullPath(home);
    }
}
