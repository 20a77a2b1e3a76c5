using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace P2PStack.Benchmarks.Onion;

/// <summary>
/// A private Tor network on 127.0.0.1 made of Debian's <c>tor</c> processes (the shape of Tor's own test networks,
/// chutney's "rapid bootstrap" options): directory authorities with <c>TestingTorNetwork 1</c> and a short voting
/// schedule, relays that are exits to 127.0.0.1 only, and one client; every node has a control port without
/// authentication (loopback only). Ports come from the kernel (bind port 0, then released); data directories live in
/// one temporary directory removed on dispose, and every process is killed on dispose, even after a failure.
/// </summary>
internal sealed class TorNetwork : IAsyncDisposable
{
    private readonly string _root;
    private readonly string _tor;
    private readonly List<TorNode> _nodes = [];

    private TorNetwork(string root, string tor)
    {
        _root = root;
        _tor = tor;
    }

    public IReadOnlyList<TorNode> Authorities => _nodes.Where(n => n.Kind == TorNodeKind.Authority).ToList();

    public IReadOnlyList<TorNode> Relays => _nodes.Where(n => n.Kind == TorNodeKind.Relay).ToList();

    public TorNode Client => _nodes.Single(n => n.Kind == TorNodeKind.Client);

    /// <summary>Writes the keys and configurations and starts every process (not yet bootstrapped: see
    /// <see cref="WaitReadyAsync"/>).</summary>
    public static async Task<TorNetwork> StartAsync(int authorities, int relays, string? schedulers, CancellationToken cancellationToken)
    {
        string root = Path.Combine(Path.GetTempPath(), $"p2pstack-tor-{Guid.NewGuid():N}"[..28]);
        Directory.CreateDirectory(root);
        var network = new TorNetwork(root, "tor");
        try
        {
            await network.CreateAsync(authorities, relays, schedulers, cancellationToken);
            return network;
        }
        catch
        {
            await network.DisposeAsync();
            throw;
        }
    }

    private async Task CreateAsync(int authorities, int relays, string? schedulers, CancellationToken cancellationToken)
    {
        for (int i = 0; i < authorities; i++) _nodes.Add(new TorNode(TorNodeKind.Authority, $"auth{i}", Path.Combine(_root, $"auth{i}")));
        for (int i = 0; i < relays; i++) _nodes.Add(new TorNode(TorNodeKind.Relay, $"relay{i}", Path.Combine(_root, $"relay{i}")));
        _nodes.Add(new TorNode(TorNodeKind.Client, "client", Path.Combine(_root, "client")));
        var ports = FreePorts(_nodes.Count * 4);
        int p = 0;
        foreach (var node in _nodes)
        {
            Directory.CreateDirectory(Path.Combine(node.Directory, "keys"));
            node.ControlPort = ports[p++];
            if (node.Kind == TorNodeKind.Client) node.SocksPort = ports[p++];
            else node.OrPort = ports[p++];
            if (node.Kind == TorNodeKind.Authority) node.DirPort = ports[p++];
        }

        // Authority keys: the v3 identity (tor-gencert, no passphrase) and the relay identity (--list-fingerprint).
        var dirLines = new StringBuilder();
        foreach (var auth in Authorities)
        {
            string keys = Path.Combine(auth.Directory, "keys");
            await RunToolAsync("tor-gencert", ["--create-identity-key", "-m", "12", "-a", $"127.0.0.1:{auth.DirPort}",
                "-i", Path.Combine(keys, "authority_identity_key"), "-s", Path.Combine(keys, "authority_signing_key"),
                "-c", Path.Combine(keys, "authority_certificate"), "--passphrase-fd", "0"], "\n", cancellationToken);
            string v3 = File.ReadLines(Path.Combine(keys, "authority_certificate"))
                .First(l => l.StartsWith("fingerprint ", StringComparison.Ordinal))["fingerprint ".Length..].Trim();
            auth.Fingerprint = await FingerprintAsync(auth, cancellationToken);
            dirLines.Append(CultureInfo.InvariantCulture,
                $"DirAuthority {auth.Nickname} orport={auth.OrPort} no-v2 v3ident={v3} 127.0.0.1:{auth.DirPort} {auth.Fingerprint}\n");
        }
        foreach (var node in _nodes)
        {
            File.WriteAllText(node.Torrc, NodeConfig(node, dirLines.ToString(), schedulers));
            if (node.Kind == TorNodeKind.Relay) node.Fingerprint = await FingerprintAsync(node, cancellationToken);
        }
        foreach (var node in _nodes) node.Start(_tor);
    }

    private static string NodeConfig(TorNode node, string authorities, string? schedulers)
    {
        var c = new StringBuilder();
        c.Append(CultureInfo.InvariantCulture, $"""
            TestingTorNetwork 1
            AssumeReachable 1
            PathsNeededToBuildCircuits 0.25
            TestingDirAuthVoteExit *
            TestingDirAuthVoteGuard *
            TestingMinExitFlagThreshold 0
            V3AuthNIntervalsValid 2
            DataDirectory {node.Directory}
            RunAsDaemon 0
            Nickname {node.Nickname}
            ShutdownWaitLength 0
            Log notice file {Path.Combine(node.Directory, "notice.log")}
            SafeLogging 0
            ControlPort 127.0.0.1:{node.ControlPort}
            Address 127.0.0.1

            """);
        if (node.Kind != TorNodeKind.Client) c.Append("SocksPort 0\n"); // else each binds the default 9050
        if (schedulers is not null) c.Append(CultureInfo.InvariantCulture, $"Schedulers {schedulers}\n");
        switch (node.Kind)
        {
            case TorNodeKind.Authority:
                c.Append(CultureInfo.InvariantCulture, $"""
                    OrPort 127.0.0.1:{node.OrPort}
                    DirPort 127.0.0.1:{node.DirPort}
                    AuthoritativeDirectory 1
                    V3AuthoritativeDirectory 1
                    ContactInfo {node.Nickname}@test.test
                    ExitPolicy reject *:*
                    TestingV3AuthInitialVotingInterval 10
                    TestingV3AuthInitialVoteDelay 2
                    TestingV3AuthInitialDistDelay 2
                    V3AuthVotingInterval 10
                    V3AuthVoteDelay 2
                    V3AuthDistDelay 2

                    """);
                break;
            case TorNodeKind.Relay:
                c.Append(CultureInfo.InvariantCulture, $"""
                    OrPort 127.0.0.1:{node.OrPort}
                    ExitRelay 1
                    ExitPolicyRejectPrivate 0
                    ExitPolicy accept 127.0.0.1:*
                    ExitPolicy reject *:*

                    """);
                break;
            case TorNodeKind.Client:
                c.Append(CultureInfo.InvariantCulture, $"""
                    SocksPort 127.0.0.1:{node.SocksPort}
                    __LeaveStreamsUnattached 1
                    __DisablePredictedCircuits 1
                    LearnCircuitBuildTimeout 0
                    CircuitBuildTimeout 60

                    """);
                break;
        }
        c.Append(authorities);
        return c.ToString();
    }

    /// <summary>Waits until the client has the directory information to build circuits and knows every relay as a running
    /// exit.</summary>
    public async Task WaitReadyAsync(TimeSpan timeout, TextWriter log, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var token = deadline.Token;
        var watch = Stopwatch.StartNew();
        string last = "";
        try
        {
            while (true)
            {
                foreach (var node in _nodes)
                    if (node.Process is { HasExited: true } p)
                        throw new InvalidOperationException($"tor {node.Nickname} exited ({p.ExitCode}): {node.LogTail()}");
                try
                {
                    await using var control = await TorControl.ConnectAsync(Client.ControlPort, token);
                    string phase = await control.GetInfoAsync("status/bootstrap-phase", token);
                    if (phase != last) log.WriteLine($"  [{watch.Elapsed.TotalSeconds:F0} s] client: {phase}");
                    last = phase;
                    // 75 is "enough directory info to build circuits": the client builds none by itself
                    // (__DisablePredictedCircuits), so it stops there until the benchmark builds one.
                    if (Progress(phase) >= 75)
                    {
                        int known = 0;
                        foreach (var relay in Relays)
                        {
                            string ns = await control.TryGetInfoAsync($"ns/id/{relay.Fingerprint}", token);
                            if (ns.Contains("Exit", StringComparison.Ordinal) && ns.Contains("Running", StringComparison.Ordinal)) known++;
                        }
                        if (known == Relays.Count) return;
                        log.WriteLine($"  [{watch.Elapsed.TotalSeconds:F0} s] client knows {known}/{Relays.Count} relays as running exits");
                    }
                }
                catch (Exception e) when (e is SocketException or IOException)
                {
                    // The control port is not open yet.
                }
                await Task.Delay(TimeSpan.FromSeconds(1), token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"the private Tor network did not bootstrap in {timeout.TotalSeconds:F0} s (last: {last}); "
                + $"client log: {Client.LogTail()}");
        }
    }

    private static int Progress(string phase)
    {
        int at = phase.IndexOf("PROGRESS=", StringComparison.Ordinal);
        if (at < 0) return 0;
        var digits = phase.AsSpan(at + "PROGRESS=".Length);
        int end = 0;
        while (end < digits.Length && char.IsAsciiDigit(digits[end])) end++;
        return int.Parse(digits[..end], CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes) node.Kill();
        foreach (var node in _nodes)
            if (node.Process is { } p)
            {
                await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                p.Dispose();
            }
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temporary directory.
        }
    }

    private async Task<string> FingerprintAsync(TorNode node, CancellationToken cancellationToken)
    {
        // A minimal configuration: the full one needs the authorities' lines, which need these fingerprints.
        string minimal = Path.Combine(node.Directory, "torrc.keys");
        File.WriteAllText(minimal, $"DataDirectory {node.Directory}\nOrPort 127.0.0.1:{node.OrPort}\nNickname {node.Nickname}\nLog err stderr\n");
        string output = await RunToolAsync(_tor, ["--list-fingerprint", "-f", minimal, "--defaults-torrc", minimal], null, cancellationToken);
        // "<nickname> <fingerprint in groups of four>"
        var line = output.Split('\n').Last(l => l.StartsWith(node.Nickname + " ", StringComparison.Ordinal));
        return line[(node.Nickname.Length + 1)..].Replace(" ", "", StringComparison.Ordinal).Trim();
    }

    private static async Task<string> RunToolAsync(string file, string[] args, string? input, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        if (input is not null) await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken);
        if (process.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({process.ExitCode}): {await stderr}");
        return await stdout;
    }

    // Ports the kernel hands out for port 0, all held until every one is chosen (so they differ), then released.
    private static int[] FreePorts(int count)
    {
        var listeners = new List<TcpListener>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var listener = new TcpListener(IPAddress.Loopback, 0);
                listener.Start();
                listeners.Add(listener);
            }
            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            foreach (var l in listeners) l.Stop();
        }
    }
}

internal enum TorNodeKind
{
    Authority,
    Relay,
    Client,
}

internal sealed class TorNode(TorNodeKind kind, string nickname, string directory)
{
    public TorNodeKind Kind { get; } = kind;

    public string Nickname { get; } = nickname;

    public string Directory { get; } = directory;

    public string Torrc => Path.Combine(Directory, "torrc");

    public int ControlPort { get; set; }

    public int OrPort { get; set; }

    public int DirPort { get; set; }

    public int SocksPort { get; set; }

    public string Fingerprint { get; set; } = "";

    public Process? Process { get; private set; }

    public void Start(string tor)
    {
        // Through sh only for the redirection (exec: the process is tor's); configuration errors go to console.log.
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("exec \"$0\" -f \"$1\" > \"$2\" 2>&1");
        start.ArgumentList.Add(tor);
        start.ArgumentList.Add(Torrc);
        start.ArgumentList.Add(Path.Combine(Directory, "console.log"));
        Process = Process.Start(start) ?? throw new InvalidOperationException($"tor {Nickname} did not start");
    }

    /// <summary>User plus system CPU time of the process so far (from /proc, in clock ticks of 10 ms).</summary>
    public TimeSpan CpuTime()
    {
        Process!.Refresh();
        return Process.TotalProcessorTime;
    }

    public void Kill()
    {
        try
        {
            if (Process is { HasExited: false } p) p.Kill();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
    }

    public string LogTail()
    {
        string log = Path.Combine(Directory, "notice.log");
        if (!File.Exists(log) || new FileInfo(log).Length == 0) log = Path.Combine(Directory, "console.log");
        return File.Exists(log) ? string.Join(" | ", File.ReadLines(log).TakeLast(5)) : "(no log)";
    }
}
