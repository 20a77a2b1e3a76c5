using System.Diagnostics;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.Ping;
using P2PStack.Security.Noise;
using P2PStack.Transports.Tcp;

namespace P2PStack.Benchmarks.Stack;

/// <summary>Connection establishment: full dial to first ping, and the Noise handshake alone.</summary>
internal static class ConnectCommands
{
    /// <summary>
    /// <c>connect --addr A --count N [--warmup W] [--suites noise,mlkem768,...]</c>: N new connections per suite, one
    /// after the other; each is timed from the dial (TCP connect, multistream-select, Noise, yamux) to the first ping
    /// round trip completed on a new stream, then closed before the next. One dialing host per suite; the suites take
    /// turns, so changes in the machine's load hit every suite alike. With <c>--server-pid P</c> (the listener's
    /// process), the CPU time of this process and of P over the measured connections, per connection.
    /// </summary>
    public static async Task<int> ConnectAsync(StackArgs args)
    {
        var address = Multiaddr.Parse(args.Required("addr"));
        int count = args.Int("count", 200);
        int warmup = args.Int("warmup", 100);
        var levels = args.String("suites", "noise").Split(',').Select(StackPeer.ParseSuite).ToArray();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var token = timeout.Token;

        var peers = new List<StackPeer>();
        try
        {
            foreach (var level in levels) peers.Add(await StackPeer.StartAsync(null, level));
            var results = peers.Select(_ => (Security: "", DialMs: new List<double>(), PingMs: new List<double>(), RemoteCloses: true)).ToArray();
            int? serverPid = args.Int("server-pid", 0) is > 0 and var pid ? pid : null;
            CpuMeter? cpu = warmup == 0 ? new CpuMeter(serverPid) : null;
            for (int i = 0; i < warmup + count; i++)
            {
                if (i == warmup && warmup > 0) cpu = new CpuMeter(serverPid);
                for (int p = 0; p < peers.Count; p++)
                {
                    var (dialed, pinged, security, remoteCloses) = await ConnectOnceAsync(peers[p], address, results[p].RemoteCloses, token);
                    results[p].Security = security;
                    results[p].RemoteCloses = remoteCloses;
                    if (i < warmup) continue;
                    results[p].DialMs.Add(dialed.TotalMilliseconds);
                    results[p].PingMs.Add(pinged.TotalMilliseconds);
                }
            }
            var (clientCpu, serverCpu) = cpu!.Elapsed();
            int setups = Math.Max(1, count * peers.Count);
            StackJson.Write(new
            {
                count,
                cpuMsPerSetup = new { client = clientCpu * 1000 / setups, server = double.IsNaN(serverCpu) ? (double?)null : serverCpu * 1000 / setups },
                suites = results.Select(r => new
                {
                    security = r.Security, remoteClosesPingStream = r.RemoteCloses, dialMs = r.DialMs, pingMs = r.PingMs,
                }).ToArray(),
            });
            return 0;
        }
        finally
        {
            foreach (var peer in peers) await peer.DisposeAsync();
        }
    }

    private static async Task<(TimeSpan Dialed, TimeSpan Pinged, string Security, bool RemoteCloses)> ConnectOnceAsync(
        StackPeer peer, Multiaddr address, bool remoteClosesPingStream, CancellationToken token)
    {
        var ping = peer.Get<PingService>();
        long start = Stopwatch.GetTimestamp();
        var connection = await peer.Host.DialAsync(address, token);
        var dialed = Stopwatch.GetElapsedTime(start);
        var stream = await connection.OpenStreamAsync([PingProtocol.Id], token);
        TimeSpan pinged;
        await using (stream)
        {
            await ping.PingAsync(stream, 1, token);
            pinged = Stopwatch.GetElapsedTime(start);
            // Not timed: a graceful close waits until the remote has closed its half of every stream. Read the
            // remote's end of stream first: disposing at once made the next CloseAsync wait seconds against js.
            if (remoteClosesPingStream && !await RemoteClosesAsync(stream, token))
                remoteClosesPingStream = false;
            if (!remoteClosesPingStream) stream.Reset();
        }
        await connection.CloseAsync(token);
        await WaitUntilGoneAsync(peer.Host, connection, token);
        return (dialed, pinged, connection.SecurityProtocol, remoteClosesPingStream);
    }

    /// <summary>Whether the remote ends the ping stream (after ours ended) within two seconds.</summary>
    private static async Task<bool> RemoteClosesAsync(IStream stream, CancellationToken token)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(token);
        wait.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            while (true)
            {
                var result = await stream.Input.ReadAsync(wait.Token);
                stream.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) return true;
            }
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>The host forgets a closed connection shortly after it closed; the next dial must be a new one.</summary>
    private static async Task WaitUntilGoneAsync(PeerHost host, IConnection connection, CancellationToken token)
    {
        await connection.Completion.WaitAsync(TimeSpan.FromSeconds(10), token).ContinueWith(_ => { }, TaskScheduler.Default);
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 10;
        while (host.GetConnections(connection.RemotePeer).Any(c => c.Id == connection.Id))
        {
            if (Stopwatch.GetTimestamp() > deadline) throw new TimeoutException("a closed connection stayed registered");
            await Task.Delay(1, token);
        }
    }

    /// <summary>
    /// <c>handshake --count N [--warmup W] [--suites noise,mlkem512,mlkem768,mlkem1024,tls]</c>: the security handshake alone
    /// (both ends in this process) over loopback TCP connections opened beforehand, timed until both ends hold their
    /// secure connection. The suites take turns, one handshake each per round, so changes in the machine's load
    /// hit every suite alike.
    /// </summary>
    public static async Task<int> HandshakeAsync(StackArgs args)
    {
        int count = args.Int("count", 200);
        int warmup = args.Int("warmup", 100);
        var names = args.String("suites", "noise,mlkem512,mlkem768,mlkem1024,tls").Split(',');
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        var token = timeout.Token;

        var options = Options.Create(new NoiseOptions());
        var initiatorIdentity = new LocalIdentity(PrivateKey.Generate(KeyType.Ed25519));
        var responderIdentity = new LocalIdentity(PrivateKey.Generate(KeyType.Ed25519));
        var tlsOptions = Options.Create(new P2PStack.Security.Tls.TlsOptions());
        var channels = names.Select(name => name == "tls"
            ? (Initiator: (ISecureChannel)new P2PStack.Security.Tls.TlsSecureChannel(tlsOptions),
                Responder: (ISecureChannel)new P2PStack.Security.Tls.TlsSecureChannel(tlsOptions))
            : (Initiator: new NoiseSecureChannel(NoiseSuite.ForLevel(StackPeer.ParseSuite(name)), options),
                Responder: new NoiseSecureChannel(NoiseSuite.ForLevel(StackPeer.ParseSuite(name)), options))).ToArray();
        IReadOnlyList<string> muxers = ["/yamux/1.0.0"];
        var transport = new TcpTransport();
        await using var listener = await transport.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), token);

        var samples = channels.Select(_ => new List<double>()).ToArray();
        for (int i = 0; i < warmup + count; i++)
        {
            for (int s = 0; s < channels.Length; s++)
            {
                var accepting = listener.AcceptAsync(token).AsTask();
                var outbound = await transport.DialAsync(listener.ListenAddress, token);
                var inbound = await accepting;
                long start = Stopwatch.GetTimestamp();
                var outboundSecure = channels[s].Initiator.SecureOutboundAsync(outbound, initiatorIdentity, responderIdentity.PeerId, muxers, token).AsTask();
                var inboundSecure = channels[s].Responder.SecureInboundAsync(inbound, responderIdentity, muxers, token).AsTask();
                await Task.WhenAll(outboundSecure, inboundSecure);
                var elapsed = Stopwatch.GetElapsedTime(start);
                await outboundSecure.Result.DisposeAsync();
                await inboundSecure.Result.DisposeAsync();
                if (i >= warmup) samples[s].Add(elapsed.TotalMilliseconds);
            }
        }
        StackJson.Write(new
        {
            count,
            suites = channels.Select((c, s) => new { security = c.Initiator.ProtocolId, handshakeMs = samples[s] }).ToArray(),
        });
        return 0;
    }
}
