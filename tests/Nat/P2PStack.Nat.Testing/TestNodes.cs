using System.Text.Json.Nodes;
using P2PStack.Interop.Support;

namespace P2PStack.Nat.Testing;

/// <summary>
/// Runs <c>P2PStack.Nat.TestNode</c> (copied beside the test assembly by a project reference) inside a namespace:
/// one-shot probes that print one JSON line, or a node driven over JSON lines.
/// </summary>
public static class TestNodes
{
    public const string AssemblyFile = "P2PStack.Nat.TestNode.dll";

    /// <summary>The dotnet host running the tests (the SDK sets DOTNET_HOST_PATH for test runs), else dotnet on PATH.</summary>
    public static string Dotnet =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host
        : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self
        : "dotnet";

    public static string AssemblyPath
    {
        get
        {
            string path = Path.Combine(AppContext.BaseDirectory, AssemblyFile);
            if (!File.Exists(path)) throw new FileNotFoundException($"{AssemblyFile} is not beside the tests: reference the P2PStack.Nat.TestNode project", path);
            return path;
        }
    }

    /// <summary>Runs a one-shot command in the namespace and returns its JSON answer (ok or not).</summary>
    public static async Task<JsonObject> RunAsync(NetNamespace ns, CancellationToken cancellationToken, string command, params string[] arguments)
    {
        var (_, output) = await HostCommand.TryRunAsync("ip", ["netns", "exec", ns.Name, Dotnet, AssemblyPath, command, .. arguments],
            cancellationToken, TimeSpan.FromMinutes(3)).ConfigureAwait(false);
        // Event lines may come first; the answer is the line with "ok".
        foreach (string line in output.Split('\n'))
        {
            if (line.StartsWith('{') && JsonNode.Parse(line) is JsonObject json && json.ContainsKey("ok")) return json;
        }
        throw new InvalidOperationException($"{command} in {ns.Label} printed no JSON answer:\n{HostCommandException.Tail(output)}");
    }

    /// <summary>Like <see cref="RunAsync"/>, but a failed command throws with its error.</summary>
    public static async Task<JsonObject> RunOkAsync(NetNamespace ns, CancellationToken cancellationToken, string command, params string[] arguments)
    {
        var answer = await RunAsync(ns, cancellationToken, command, arguments).ConfigureAwait(false);
        if (answer["ok"]?.GetValue<bool>() != true)
            throw new InvalidOperationException($"{command} in {ns.Label} failed: {answer["error"]} ({answer["errorName"]})");
        return answer;
    }

    /// <summary>Starts the test node in JSON-lines mode (<c>node</c> command) and waits for it to be ready.</summary>
    public static Task<JsonLinesPeer> StartNodeAsync(NetNamespace ns, IEnumerable<string> arguments, CancellationToken cancellationToken) =>
        ns.StartJsonLinesPeerAsync(Dotnet, [AssemblyPath, "node", .. arguments, .. VerboseFlag], TimeSpan.FromSeconds(90), cancellationToken);

    /// <summary>P2PSTACK_LAB_VERBOSE=1 runs the lab nodes with debug logs (with P2PSTACK_LAB_LOGS, to diagnose a run).</summary>
    private static string[] VerboseFlag => Environment.GetEnvironmentVariable("P2PSTACK_LAB_VERBOSE") == "1" ? ["--verbose"] : [];
}
