using System.Text.Json;
using Xunit.Abstractions;

namespace SynapticMesh.Tests.Registry;

/// <summary>
/// The registry's topology page in Debian's headless Chromium: it draws the three running nodes and their links, and
/// when one node is killed its colour changes on the same page (no reload) once the registry marks it offline.
/// Screenshots go to artifacts/test-artifacts/registry/.
/// </summary>
public sealed class TopologyPageTests(ITestOutputHelper output)
{
    [DebianFact("chromium", BrowserScript.Chromium)]
    public async Task The_page_draws_the_mesh_and_recolours_a_node_that_goes_offline_without_a_reload()
    {
        string directory = await BrowserScript.EnsureInstalledAsync();
        await using var mesh = await RegistryMesh.StartAsync();
        string shots = BrowserScript.ArtifactDirectory;
        using var browser = BrowserScript.Start(mesh.Registry.Url, shots);
        var stderr = browser.StandardError.ReadToEndAsync();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
            var rendered = await ReadEventAsync(browser, timeout.Token, stderr);
            Assert.Equal("rendered", rendered.GetProperty("event").GetString());
            var ids = mesh.Nodes.Select(n => n.PeerId).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(ids, rendered.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("id").GetString()!).Order(StringComparer.Ordinal));
            Assert.True(rendered.GetProperty("links").GetArrayLength() >= 2);
            Assert.Contains(rendered.GetProperty("rtts").EnumerateArray(), t => t.GetString()!.EndsWith(" ms", StringComparison.Ordinal));
            Assert.Equal(3, rendered.GetProperty("rows").GetInt32());
            Assert.Equal("live", rendered.GetProperty("live").GetString());
            const string Active = "rgb(46, 125, 50)"; // #2e7d32
            Assert.All(rendered.GetProperty("colours").EnumerateObject(), c => Assert.Equal(Active, c.Value.GetString()));

            var victim = mesh.Nodes[2];
            await victim.DisposeAsync(); // killed: its heartbeats stop, the registry's sweep marks it offline
            mesh.Nodes.RemoveAt(2);
            await browser.StandardInput.WriteLineAsync(victim.PeerId);
            await browser.StandardInput.FlushAsync();

            var offline = await ReadEventAsync(browser, timeout.Token, stderr);
            Assert.Equal("offline", offline.GetProperty("event").GetString());
            Assert.Equal("rgb(117, 117, 117)", offline.GetProperty("after").GetString()); // #757575
            Assert.True(offline.GetProperty("sameDocument").GetBoolean());
            Assert.Equal(1, offline.GetProperty("navigations").GetInt32());
            Assert.Empty(offline.GetProperty("consoleErrors").EnumerateArray());
            foreach (var file in new[] { "topology-rendered.png", "topology-offline.png" })
            {
                string path = Path.Combine(shots, file);
                Assert.True(new FileInfo(path).Length > 1000, $"{path} is missing or empty");
                output.WriteLine($"screenshot: {path}");
            }
        }
        finally
        {
            try { if (!browser.HasExited) browser.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await browser.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    private static async Task<JsonElement> ReadEventAsync(System.Diagnostics.Process browser, CancellationToken cancellationToken, Task<string> stderr)
    {
        string? line = await browser.StandardOutput.ReadLineAsync(cancellationToken);
        if (line is null)
        {
            await browser.WaitForExitAsync(cancellationToken);
            throw new InvalidOperationException($"the browser script ended early ({browser.ExitCode}): {await stderr}");
        }
        using var json = JsonDocument.Parse(line);
        var root = json.RootElement.Clone();
        if (root.GetProperty("event").GetString() == "error") throw new InvalidOperationException($"browser script: {root.GetProperty("message").GetString()}");
        return root;
    }
}
