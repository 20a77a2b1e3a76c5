using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Host;
using P2PStack.Identity;
using Xunit.Abstractions;

namespace P2PStack.Discovery.Rendezvous.Tests;

/// <summary>
/// Against the js implementation of the spec, @canvas-js/libp2p-rendezvous 0.5.2 (interop/rendezvous). It needs
/// js-libp2p 2 (its streams are the v2 sink/source kind, which js-libp2p 3.3 no longer has), so it runs there, on
/// TCP + Noise + Yamux. Its client speaks the spec's messages under <c>/canvas/rendezvous/1.0.0</c>, which our
/// point serves as well. Its server needs a native SQLite module that cannot be built here, so the direction
/// C# client -> js server is covered only by the spec-field tests.
/// </summary>
public sealed class JsInteropTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_js_client_registers_discovers_and_unregisters_at_our_point_and_our_client_verifies_its_record()
    {
        string directory = await NpmDirectory.EnsureInstalledAsync();
        await using var server = await TcpPeer.StartAsync(o => o.ProtocolIds.Add("/canvas/rendezvous/1.0.0"));
        await using var csharp = await TcpPeer.StartAsync(null);
        await csharp.Host.DialAsync(server.Address, CancellationToken.None);
        await csharp.Client.RegisterAsync(server.Host.PeerId, "interop", TimeSpan.FromMinutes(10));

        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = System.Text.Encoding.UTF8,
        };
        foreach (var arg in new[] { "rendezvous-client.mjs", server.Address.ToString(), "interop" }) start.ArgumentList.Add(arg);
        using var js = Process.Start(start)!;
        var stderr = js.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2)); // hang guard
        try
        {
            var ready = await ReadAsync(js, "ready", timeout.Token, stderr);
            var jsPeer = PeerId.Parse(ready.GetProperty("peerId").GetString()!);
            Assert.Equal(600, (await ReadAsync(js, "registered", timeout.Token, stderr)).GetProperty("ttl").GetInt32());
            Assert.Equal("E_INVALID_TTL", (await ReadAsync(js, "refused", timeout.Token, stderr)).GetProperty("status").GetString());
            var discovered = await ReadAsync(js, "discovered", timeout.Token, stderr);
            var seen = discovered.GetProperty("peers").EnumerateArray().ToList();
            var ours = Assert.Single(seen, p => p.GetProperty("peerId").GetString() == csharp.Host.PeerId.ToString());
            Assert.Equal(csharp.Host.AdvertisedAddresses.Select(a => a.ToString()).Order(),
                ours.GetProperty("addresses").EnumerateArray().Select(a => a.GetString()!).Order());

            // Our client opens the js peer's signed peer record (js seals it with @libp2p/peer-record).
            var page = await csharp.Client.DiscoverAsync(server.Host.PeerId, "interop");
            Assert.Equal(0, page.Rejected);
            var theirs = Assert.Single(page.Registrations, r => r.Peer == jsPeer);
            Assert.Contains(theirs.Addresses, a => a.ToString().StartsWith("/ip4/127.0.0.1/tcp/", StringComparison.Ordinal));
            Assert.InRange(theirs.Ttl, TimeSpan.FromMinutes(9), TimeSpan.FromMinutes(10));
            output.WriteLine($"js peer {jsPeer} registered {string.Join(", ", theirs.Addresses)}");

            await js.StandardInput.WriteLineAsync("unregister");
            await js.StandardInput.FlushAsync();
            await ReadAsync(js, "unregistered", timeout.Token, stderr);
            var after = await csharp.Client.DiscoverAsync(server.Host.PeerId, "interop");
            Assert.DoesNotContain(after.Registrations, r => r.Peer == jsPeer);
            Assert.Equal(1, server.Server!.Metrics.RefusedCount("E_INVALID_TTL"));
            await js.WaitForExitAsync(timeout.Token);
            Assert.Equal(0, js.ExitCode);
        }
        catch (OperationCanceledException)
        {
            if (!js.HasExited) js.Kill(entireProcessTree: true);
            throw new TimeoutException($"the js client hung; its stderr: {await stderr}");
        }
        finally
        {
            if (!js.HasExited) js.Kill(entireProcessTree: true);
        }
    }

    private static async Task<JsonElement> ReadAsync(Process js, string expected, CancellationToken cancellationToken, Task<string> stderr)
    {
        string? line = await js.StandardOutput.ReadLineAsync(cancellationToken);
        if (line is null) throw new InvalidOperationException($"the js client ended early: {await stderr}");
        using var json = JsonDocument.Parse(line);
        var root = json.RootElement.Clone();
        string evt = root.GetProperty("event").GetString()!;
        if (evt != expected) throw new InvalidOperationException($"expected {expected}, got {line}");
        return root;
    }

    private sealed class TcpPeer : IAsyncDisposable
    {
        private readonly ServiceProvider _services;

        private TcpPeer(ServiceProvider services)
        {
            _services = services;
            Host = services.GetRequiredService<PeerHost>();
            Client = services.GetRequiredService<RendezvousClient>();
            Server = services.GetService<RendezvousServer>();
        }

        public PeerHost Host { get; }

        public RendezvousClient Client { get; }

        public RendezvousServer? Server { get; }

        public Addressing.Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

        public static async Task<TcpPeer> StartAsync(Action<RendezvousServerOptions>? server)
        {
            var services = new ServiceCollection();
            services.AddP2PStack(p2p =>
            {
                p2p.ListenOn("/ip4/127.0.0.1/tcp/0");
                p2p.AddTcpTransport();
                p2p.AddNoise();
                p2p.AddYamux();
                p2p.AddRendezvous();
                if (server is not null) p2p.AddRendezvousServer(server);
            });
            var peer = new TcpPeer(services.BuildServiceProvider());
            await peer.Host.StartAsync(CancellationToken.None);
            return peer;
        }

        public async ValueTask DisposeAsync() => await _services.DisposeAsync();
    }
}
