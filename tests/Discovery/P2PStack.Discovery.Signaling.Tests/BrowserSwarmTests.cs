using System.Diagnostics;
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
        var nodes = new List<WsNode>();
        SwarmPage? page = null;
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

            using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(4)); // hang guard
            page = await SwarmPage.OpenAsync(nodes[0].Address.ToString(), Swarm, Interval, guard.Token);
            var pageId = PeerId.Parse(page.PeerId);
            var joined = Stopwatch.StartNew();

            int elapsed = await page.MembersAsync(nodes.Select(n => n.PeerId.ToString()), guard.Token);
            output.WriteLine($"page saw the three nodes {elapsed} ms after joining (announce interval {Interval.TotalSeconds} s)");
            await SignalingPeer.WaitUntil(() => nodes.All(n => n.Signaling.GetMembers(Swarm).Any(m => m.Peer == pageId)), "every node sees the page");
            output.WriteLine($"every node saw the page {joined.ElapsedMilliseconds} ms after it joined");
            Assert.All(nodes, n => Assert.Equal(3, n.Signaling.GetMembers(Swarm).Count));
            var pageMember = nodes[1].Signaling.GetMembers(Swarm).Single(m => m.Peer == pageId);
            Assert.Equal([nodes[0].PeerId], pageMember.Hosts); // reachable through its signaling host
            Assert.Equal([nodes[0].PeerId], nodes[1].Signaling.HostsOf(pageId)); // where direct messages for it go
            Assert.Empty(nodes[1].Signaling.HostsOf(nodes[2].PeerId)); // a node is dialed directly

            // Thoughts both ways: the page's signed neural message reaches every node's listener, a node's reaches the page.
            await page.SendAsync("hello from the browser", guard.Token);
            foreach (var listener in listeners)
            {
                await foreach (var message in listener.WithCancellation(guard.Token))
                {
                    if (message.SourcePeer == pageId && message.Body is Thought { Content: "hello from the browser" }) break;
                }
            }
            await nodes[1].Mesh.PublishAsync(Swarm, new Thought { Content = "hello from C#" });
            Assert.Equal(nodes[1].PeerId.ToString(), await page.ReceivedAsync("hello from C#", guard.Token));

            // A clean leave is seen by the page at once (no expiry wait).
            var leave = page.GoneAsync(nodes[2].PeerId.ToString(), guard.Token);
            var leftAt = Stopwatch.StartNew();
            await nodes[2].Signaling.LeaveAsync(Swarm);
            Assert.Equal("left", await leave);
            output.WriteLine($"clean leave seen by the page {leftAt.ElapsedMilliseconds} ms after LeaveAsync");

            // A crashed node disappears after the until of its last announcement (3 intervals).
            var expiry = page.GoneAsync(nodes[1].PeerId.ToString(), guard.Token);
            var crashedAt = Stopwatch.StartNew();
            await nodes[1].CrashAsync();
            Assert.Equal("expired", await expiry);
            output.WriteLine($"crashed node dropped by the page {crashedAt.ElapsedMilliseconds} ms after the crash");

            // A reload: the page comes back as the same peer and the host sees it again.
            var before = nodes[0].Signaling.GetMembers(Swarm).Single(m => m.Peer == pageId).Since;
            Assert.Equal(pageId.ToString(), await page.ReloadAsync(guard.Token));
            await page.MembersAsync([nodes[0].PeerId.ToString()], guard.Token);
            await SignalingPeer.WaitUntil(() => nodes[0].Signaling.GetMembers(Swarm).Any(m => m.Peer == pageId && m.Since > before), "the reloaded page's new membership");
            await page.ScreenshotAsync("swarm-page.png", guard.Token);
            var (errors, consoleErrors) = await page.QuitAsync(guard.Token);
            Assert.Empty(errors);
            Assert.Empty(consoleErrors);
            Assert.All(nodes.Take(1), n => Assert.Equal(0, n.Signaling.Metrics.RefusedCount("forged")));
        }
        finally
        {
            if (page is not null) await page.DisposeAsync();
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
        string pem = Directory.CreateTempSubdirectory("p2pstack-wss-").FullName;
        using var certificate = SelfSignedCertificate();
        File.WriteAllText(Path.Combine(pem, "cert.pem"), certificate.ExportCertificatePem());
        using (var key = System.Security.Cryptography.X509Certificates.ECDsaCertificateExtensions.GetECDsaPrivateKey(certificate)!) File.WriteAllText(Path.Combine(pem, "key.pem"), key.ExportPkcs8PrivateKeyPem());
        WsNode? node = null;
        SwarmPage? page = null;
        try
        {
            node = await WsNode.StartAsync(certificate);
            Assert.Contains("/wss", node.Address.ToString());
            using var listener = node.Mesh.Listen();
            await node.Mesh.JoinSwarmAsync(Swarm);
            await node.Signaling.JoinAsync(Swarm, Interval);

            using var guard = new CancellationTokenSource(TimeSpan.FromMinutes(4)); // hang guard
            page = await SwarmPage.OpenAsync(node.Address.ToString(), Swarm, Interval, guard.Token, Path.Combine(pem, "cert.pem"), Path.Combine(pem, "key.pem"));
            var pageId = PeerId.Parse(page.PeerId);
            await page.MembersAsync([node.PeerId.ToString()], guard.Token);
            await SignalingPeer.WaitUntil(() => node.Signaling.GetMembers(Swarm).Any(m => m.Peer == pageId), "the node sees the page");
            Assert.Contains(node.Host.GetConnections(pageId), c => c.RemoteAddress.ToString().Contains("/wss", StringComparison.Ordinal));

            await page.SendAsync("hello over wss", guard.Token);
            await foreach (var message in listener.WithCancellation(guard.Token))
            {
                if (message.SourcePeer == pageId && message.Body is Thought { Content: "hello over wss" }) break;
            }
            await node.Mesh.PublishAsync(Swarm, new Thought { Content = "hello back over wss" });
            await page.ReceivedAsync("hello back over wss", guard.Token);
            Assert.Empty((await page.QuitAsync(guard.Token)).Errors);
        }
        finally
        {
            if (page is not null) await page.DisposeAsync();
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
