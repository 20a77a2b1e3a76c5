using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using System.Xml.Linq;

namespace SynapticMesh.Tests;

/// <summary>
/// The NuGet packages: the CLI packs as the .NET tool synaptic-mesh that installs from a folder and runs, and every
/// library carries real metadata. To keep the test quick on a busy machine it packs, from the build the tests already
/// ran (--no-build), only what the tool needs (the tool package bundles its dependencies) plus one library package
/// (P2PStack.Core) whose metadata it reads; `dotnet pack P2PStack.sln -o DIR` packs them all the same way.
/// </summary>
public sealed class PackagingTests : IDisposable
{
    private static readonly TimeSpan StepTimeout = TimeSpan.FromMinutes(5);

    private readonly string _root = Directory.CreateTempSubdirectory("synaptic-mesh-pack-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); }
        catch (IOException) { }
    }

    private static string RepositoryRoot
    {
        get
        {
            string? dir = AppContext.BaseDirectory;
            while (dir is not null && !File.Exists(Path.Combine(dir, "P2PStack.sln"))) dir = Path.GetDirectoryName(dir);
            return dir ?? throw new InvalidOperationException("P2PStack.sln not found above the test assembly");
        }
    }

    /// <summary>The configuration the tests were built in (artifacts/bin/SynapticMesh.Tests/release → Release).</summary>
    private static string Configuration
    {
        get
        {
            string name = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Name;
            return name.StartsWith("debug", StringComparison.OrdinalIgnoreCase) ? "Debug" : "Release";
        }
    }

    private static string Version =>
        XDocument.Load(Path.Combine(RepositoryRoot, "Directory.Build.props")).Descendants("VersionPrefix").Single().Value;

    [Fact]
    public async Task TheToolPacksInstallsFromAFolderAndRunsStatus()
    {
        string packages = Path.Combine(_root, "packages");
        await DotnetAsync(["pack", Path.Combine(RepositoryRoot, "src/Node/SynapticMesh/SynapticMesh.csproj"), "-c", Configuration, "--no-build", "-o", packages]);
        await DotnetAsync(["pack", Path.Combine(RepositoryRoot, "src/Core/P2PStack.Core/P2PStack.Core.csproj"), "-c", Configuration, "--no-build", "-o", packages]);

        var tool = Nuspec(Path.Combine(packages, $"synaptic-mesh.{Version}.nupkg"));
        Assert.Equal("DotnetTool", tool.Descendants().Single(e => e.Name.LocalName == "packageType").Attribute("name")!.Value);
        var core = Nuspec(Path.Combine(packages, $"P2PStack.Core.{Version}.nupkg"));
        foreach (var nuspec in new[] { tool, core })
        {
            string Value(string name) => nuspec.Descendants().Single(e => e.Name.LocalName == name).Value;
            Assert.Equal(Version, Value("version"));
            Assert.True(Value("description").Length > 40, "a real description");
            Assert.Equal("MIT", Value("license"));
            Assert.Equal("README.md", Value("readme"));
            Assert.False(string.IsNullOrWhiteSpace(Value("authors")));
            var repository = nuspec.Descendants().Single(e => e.Name.LocalName == "repository");
            Assert.Equal("git", repository.Attribute("type")!.Value);
        }
        Assert.True(File.Exists(Path.Combine(packages, $"synaptic-mesh.{Version}.snupkg")));
        Assert.True(File.Exists(Path.Combine(packages, $"P2PStack.Core.{Version}.snupkg")));
        using (var zip = ZipFile.OpenRead(Path.Combine(packages, $"P2PStack.Core.{Version}.nupkg")))
        {
            Assert.Contains(zip.Entries, e => e.FullName == "README.md");
            Assert.Contains(zip.Entries, e => e.FullName == "lib/net10.0/P2PStack.Core.dll");
        }

        // Installed from the folder alone (no other package source), it is a working synaptic-mesh command.
        string config = Path.Combine(_root, "nuget.config");
        await File.WriteAllTextAsync(config, """<?xml version="1.0" encoding="utf-8"?><configuration><packageSources><clear /></packageSources></configuration>""");
        string tools = Path.Combine(_root, "tools");
        await DotnetAsync(["tool", "install", "--tool-path", tools, "--add-source", packages, "--configfile", config, "--version", Version, "synaptic-mesh"]);
        string command = Path.Combine(tools, OperatingSystem.IsWindows() ? "synaptic-mesh.exe" : "synaptic-mesh");
        Assert.StartsWith(Version, (await RunAsync(command, ["--version"])).Trim());

        string home = Path.Combine(_root, "home");
        await RunAsync(command, ["p2p", "init", "--home", home, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0"]);
        using var node = Process.Start(Start(command, ["p2p", "start", "--json", "--home", home]))!;
        try
        {
            node.StandardInput.Close();
            using var started = new CancellationTokenSource(StepTimeout);
            using var line = JsonDocument.Parse(await node.StandardOutput.ReadLineAsync(started.Token) ?? throw new InvalidOperationException("the node did not start"));
            string peerId = line.RootElement.GetProperty("peerId").GetString()!;
            using var status = JsonDocument.Parse(await RunAsync(command, ["p2p", "status", "--json", "--home", home]));
            Assert.Equal(peerId, status.RootElement.GetProperty("peerId").GetString());
        }
        finally
        {
            if (!node.HasExited) node.Kill(entireProcessTree: true);
            await node.WaitForExitAsync().WaitAsync(StepTimeout);
        }
    }

    [Fact]
    public void EveryLibraryDescribesItselfAndTheVersionLivesInOnePlace()
    {
        var projects = Directory.GetFiles(Path.Combine(RepositoryRoot, "src"), "*.csproj", SearchOption.AllDirectories);
        Assert.NotEmpty(projects);
        foreach (string project in projects)
        {
            var xml = XDocument.Load(project);
            if (xml.Descendants("IsPackable").Any(e => e.Value == "false")) continue;
            Assert.True(xml.Descendants("Description").Any(e => e.Value.Length > 20), $"{project} has no <Description>");
            Assert.False(xml.Descendants("Version").Any() || xml.Descendants("VersionPrefix").Any(), $"{project} sets its own version");
        }
    }

    private static XDocument Nuspec(string package)
    {
        using var zip = ZipFile.OpenRead(package);
        using var stream = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open();
        return XDocument.Load(stream);
    }

    private static ProcessStartInfo Start(string file, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in args) info.ArgumentList.Add(arg);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment.Remove("SYNAPTIC_MESH_HOME");
        info.Environment.Remove("SYNAPTIC_MESH_PASSPHRASE");
        return info;
    }

    private static Task<string> DotnetAsync(string[] args) => RunAsync("dotnet", args);

    /// <summary>Runs to the end; a non-zero exit fails the test with the output.</summary>
    private static async Task<string> RunAsync(string file, string[] args)
    {
        using var process = Process.Start(Start(file, args))!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(StepTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {StepTimeout}");
        }
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} failed ({process.ExitCode}):\n{await stdout}\n{await stderr}");
        return await stdout;
    }
}
