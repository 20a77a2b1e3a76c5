using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Neural;
using P2PStack.Neural.Messages;
using SynapticMesh.Tests.Registry;
using Xunit.Abstractions;

namespace P2PStack.Discovery.Signaling.Tests;

/// <summary>
/// Three C# nodes (WebSocket transport, Noise, Yamux, gossipsub, neural mesh, signaling) and a js-libp2p page in
/// Debian's headless chromium join one swarm: everyone sees everyone, thoughts go both ways, a clean leave and a
/// crash are seen by the page, and a reloaded page rejoins as the same peer. Times are printed, not asserted (the
/// waits are hang guards).
/// </summary>
public sealed class BrowserSwarmTests(ITestOutputHelper output)
{
    private const string Swarm = "browser-swarm";
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    [DebianFact("chromium", "/usr/bin/chromium")]
    public async Task Three_nodes_and_a_page_join_a_swarm_exchange_thoughts_see_leave_and_crash_and_the_page_rejoins_after_a_reload()
    {
        await DebianPackage.EnsureInstalledAsync("chromium", "/usr/bin/chromium");
        string directory = await BrowserPeerDirectory.EnsureInstalledAsync();
        var nodes = new List<WsNode>();
        Process? browser = null;
        try
        {
            for (int i = 0; i < 3; i++) nodes.Add(await WsNode.StartAsync());
            await nodes[1].Host.DialAsync(nodes[0].Address, CancellationToken.None);
            await nodes[2].Host.DialAsync(nodes[0].Address, CancellationToken.None);
            await nodes[2].Host.DialAsync(nodes[1].Address, CancellationToken.None);
            var listeners = nodes.Select(n => n.Mesh.Listen()).ToList();
            foreach (var node in nodes)
            {
                await node.Mesh.JoinSwarmAsync(Swarm);
                await node.Signaling.JoinAsync(Swarm, Interval);
            }

            browser = Start(directory, nodes[0].Address);
            var stderr = browser.StandardError.ReadToEndAsync();
            using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(4)); // hang guard
            var pageId = PeerId.Parse((await ReadAsync(browser, "ready", guard.Token, stderr)).GetProperty("peerId").GetString()!);
            var joined = Stopwatch.StartNew();

            var members = await CommandAsync(browser, new { cmd = "members", peers = nodes.Select(n => n.PeerId.ToString()) }, "members", guard.Token, stderr);
            output.WriteLine($"page saw the three nodes {members.GetProperty("elapsedMs").GetInt32()} ms after joining (announce interval {Interval.TotalSeconds} s)");
            await SignalingPeer.WaitUntil(() => nodes.All(n => n.Signaling.GetMembers(Swarm).Any(m => m.Peer == pageId)), "every node sees the page");
            output.WriteLine($"every node saw the page {joined.ElapsedMilliseconds} ms after it joined");
            Assert.All(nodes, n => Assert.Equal(3, n.Signaling.GetMembers(Swarm).Count));
            var pageMember = nodes[1].Signaling.GetMembers(Swarm).Single(m => m.Peer == pageId);
            Assert.Equal([nodes[0].PeerId], pageMember.Hosts); // reachable through its signaling host

            // Thoughts both ways: the page's signed neural message reaches every node's listener, a node's reaches the page.
            await CommandAsync(browser, new { cmd = "send", text = "hello from the browser" }, "sent", guard.Token, stderr);
            foreach (var listener in listeners)
            {
                await foreach (var message in listener.WithCancellation(guard.Token))
                {
                    if (message.SourcePeer == pageId && message.Body is Thought { Content: "hello from the browser" }) break;
                }
            }
            await nodes[1].Mesh.PublishAsync(Swarm, new Thought { Content = "hello from C#" });
            var received = await CommandAsync(browser, new { cmd = "received", text = "hello from C#" }, "received", guard.Token, stderr);
            Assert.Equal(nodes[1].PeerId.ToString(), received.GetProperty("from").GetString());

            // A clean leave is seen by the page at once (no expiry wait).
            var leave = CommandAsync(browser, new { cmd = "gone", peer = nodes[2].PeerId.ToString() }, "gone", guard.Token, stderr);
            var leftAt = Stopwatch.StartNew();
            await nodes[2].Signaling.LeaveAsync(Swarm);
            var gone = await leave;
            Assert.Equal("left", gone.GetProperty("reason").GetString());
            output.WriteLine($"clean leave seen by the page {leftAt.ElapsedMilliseconds} ms after LeaveAsync");

            // A crashed node disappears after the until of its last announcement (3 intervals).
            var expiry = CommandAsync(browser, new { cmd = "gone", peer = nodes[1].PeerId.ToString() }, "gone", guard.Token, stderr);
            var crashedAt = Stopwatch.StartNew();
            await nodes[1].CrashAsync();
            var expired = await expiry;
            Assert.Equal("expired", expired.GetProperty("reason").GetString());
            output.WriteLine($"crashed node dropped by the page {crashedAt.ElapsedMilliseconds} ms after the crash");

            // A reload: the page comes back as the same peer and the host sees it again.
            var before = nodes[0].Signaling.GetMembers(Swarm).Single(m => m.Peer == pageId).Since;
            var reloaded = await CommandAsync(browser, new { cmd = "reload" }, "ready", guard.Token, stderr);
            Assert.Equal(pageId.ToString(), reloaded.GetProperty("peerId").GetString());
            await CommandAsync(browser, new { cmd = "members", peers = new[] { nodes[0].PeerId.ToString() } }, "members", guard.Token, stderr);
            await SignalingPeer.WaitUntil(() => nodes[0].Signaling.GetMembers(Swarm).Any(m => m.Peer == pageId && m.Since > before), "the reloaded page's new membership");
            await CommandAsync(browser, new { cmd = "screenshot", name = "swarm-page.png" }, "screenshot", guard.Token, stderr);
            var quit = await CommandAsync(browser, new { cmd = "quit" }, "quit", guard.Token, stderr);
            Assert.Empty(quit.GetProperty("errors").EnumerateArray());
            Assert.Empty(quit.GetProperty("consoleErrors").EnumerateArray());
            Assert.All(nodes.Take(1), n => Assert.Equal(0, n.Signaling.Metrics.RefusedCount("forged")));
        }
        finally
        {
            if (browser is not null)
            {
                try { if (!browser.HasExited) browser.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                await browser.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
                browser.Dispose();
            }
            foreach (var node in nodes) await node.DisposeAsync();
        }
    }

    /// <summary>
    /// A page served over https (whose browser allows only secure WebSockets) joins a swarm through a node listening on
    /// <c>/wss</c> with a configured certificate (self-signed for the test; chromium told to accept it), and a thought
    /// goes each way.
    /// </summary>
    [DebianFact("chromium", "/usr/bin/chromium")]
    public async Task A_page_served_over_https_joins_a_swarm_through_a_wss_host()
    {
        await DebianPackage.EnsureInstalledAsync("chromium", "/usr/bin/chromium");
        string directory = await BrowserPeerDirectory.EnsureInstalledAsync();
        string pem = Directory.CreateTempSubdirectory("p2pstack-wss-").FullName;
        using var certificate = SelfSignedCertificate();
        File.WriteAllText(Path.Combine(pem, "cert.pem"), certificate.ExportCertificatePem());
        using (var key = System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions.GetECDsaPrivateKey(certificate)!) File.WriteAllText(Path.Combine(pem, "key.pem"), key.ExportPkcs8PrivateKeyPem());
        WsNode? node = null;
        Process? browser = null;
        try
        {
            node = await WsNode.StartAsync(certificate);
            Assert.Contains("/wss", node.Address.ToString());
            using var listener = node.Mesh.Listen();
            await node.Mesh.JoinSwarmAsync(Swarm);
            await node.Signaling.JoinAsync(Swarm, Interval);

            browser = Start(directory, node.Address, Path.Combine(pem, "cert.pem"), Path.Combine(pem, "key.pem"));
            var stderr = browser.StandardError.ReadToEndAsync();
            using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(4)); // hang guard
            var pageId = PeerId.Parse((await ReadAsync(browser, "ready", guard.Token, stderr)).GetProperty("peerId").GetString()!);
            await CommandAsync(browser, new { cmd = "members", peers = new[] { node.PeerId.ToString() } }, "members", guard.Token, stderr);
            await SignalingPeer.WaitUntil(() => node.Signaling.GetMembers(Swarm).Any(m => m.Peer == pageId), "the node sees the page");
            Assert.Contains(node.Host.GetConnections(pageId), c => c.RemoteAddress.ToString().Contains("/wss", StringComparison.Ordinal));

            await CommandAsync(browser, new { cmd = "send", text = "hello over wss" }, "sent", guard.Token, stderr);
            await foreach (var message in listener.WithCancellation(guard.Token))
            {
                if (message.SourcePeer == pageId && message.Body is Thought { Content: "hello over wss" }) break;
            }
            await node.Mesh.PublishAsync(Swarm, new Thought { Content = "hello back over wss" });
            await CommandAsync(browser, new { cmd = "received", text = "hello back over wss" }, "received", guard.Token, stderr);
            var quit = await CommandAsync(browser, new { cmd = "quit" }, "quit", guard.Token, stderr);
            Assert.Empty(quit.GetProperty("errors").EnumerateArray());
        }
        finally
        {
            if (browser is not null)
            {
                try { if (!browser.HasExited) browser.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                await browser.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
                browser.Dispose();
            }
            if (node is not null) await node.DisposeAsync();
            Directory.Delete(pem, recursive: true);
        }
    }

    private static System.Security.Cryptography.X509Certificates.X509Certificate2 SelfSignedCertificate()
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=localhost", key,
            System.Security.Cryptography.HashAlgorithmName.SHA256);
        var names = new System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        return System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(
            created.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null,
            System.Security.Cryptography.X509Certificates.X509KeyStorageFlags.Exportable);
    }

    private static Process Start(string directory, Multiaddr host, params string[] tls)
    {
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = System.Text.Encoding.UTF8,
        };
        string[] args = ["swarm-check.mjs", host.ToString(), Swarm, ((int)Interval.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture),
            BrowserPeerDirectory.ArtifactDirectory, "180", .. tls];
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        return Process.Start(start) ?? throw new InvalidOperationException("node did not start");
    }

    private static async Task<JsonElement> CommandAsync(Process browser, object command, string expected, CancellationToken cancellationToken, Task<string> stderr)
    {
        await browser.StandardInput.WriteLineAsync(JsonSerializer.Serialize(command));
        await browser.StandardInput.FlushAsync(cancellationToken);
        return await ReadAsync(browser, expected, cancellationToken, stderr);
    }

    private static async Task<JsonElement> ReadAsync(Process browser, string expected, CancellationToken cancellationToken, Task<string> stderr)
    {
        string? line = await browser.StandardOutput.ReadLineAsync(cancellationToken);
        if (line is null)
        {
            await browser.WaitForExitAsync(cancellationToken);
            throw new InvalidOperationException($"the browser script ended early ({browser.ExitCode}): {await stderr}");
        }
        using var json = JsonDocument.Parse(line);
        var root = json.RootElement.Clone();
        string evt = root.GetProperty("event").GetString()!;
        if (evt != expected) throw new InvalidOperationException($"browser script: expected {expected}, got {line}");
        return root;
    }

    /// <summary>A C# node reachable over /ws on loopback.</summary>
    private sealed class WsNode : IAsyncDisposable
    {
        private readonly ServiceProvider _services;
        private int _disposed;

        private WsNode(ServiceProvider services)
        {
            _services = services;
            Host = services.GetRequiredService<PeerHost>();
            Mesh = services.GetRequiredService<NeuralMesh>();
            Signaling = services.GetRequiredService<SwarmSignaling>();
        }

        public PeerHost Host { get; }
        public NeuralMesh Mesh { get; }
        public SwarmSignaling Signaling { get; }
        public PeerId PeerId => Host.PeerId;
        public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

        /// <param name="certificate">Listen on /wss with it instead of /ws.</param>
        public static async Task<WsNode> StartAsync(System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null)
        {
            var services = new ServiceCollection();
            services.AddP2PStack(p2p =>
            {
                p2p.ListenOn(certificate is null ? "/ip4/127.0.0.1/tcp/0/ws" : "/ip4/127.0.0.1/tcp/0/wss");
                p2p.AddWebSocketTransport(o => o.ServerCertificate = certificate);
                p2p.AddNoise();
                p2p.AddYamux();
                p2p.AddIdentify();
                p2p.AddGossipSub(o => o.HeartbeatInterval = TimeSpan.FromMilliseconds(500));
                p2p.AddNeuralMesh();
                p2p.AddSwarmSignaling(o => o.HostRendezvousInterval = TimeSpan.Zero);
            });
            var node = new WsNode(services.BuildServiceProvider());
            await node.Host.StartAsync(CancellationToken.None);
            return node;
        }

        public async Task CrashAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            using (var quick = new CancellationTokenSource(TimeSpan.FromMilliseconds(100)))
            {
                try { await Host.StopAsync(quick.Token); }
                catch (OperationCanceledException) { }
            }
            await _services.DisposeAsync();
        }

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            await Signaling.DisposeAsync();
            await Mesh.DisposeAsync();
            using (var quick = new CancellationTokenSource(TimeSpan.FromMilliseconds(200)))
            {
                try { await Host.StopAsync(quick.Token); }
                catch (OperationCanceledException) { }
            }
            await _services.DisposeAsync();
        }
    }
}
