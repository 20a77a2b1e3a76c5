using System.Net;
using P2PStack.Interop.Support;

namespace P2PStack.Nat.Testing;

/// <summary>Debian's coturn (its STUN side) running in a lab namespace: an independent STUN server with two
/// addresses, so that it answers RFC 5780 behaviour discovery (OTHER-ADDRESS, CHANGE-REQUEST).</summary>
public sealed class Coturn : IAsyncDisposable
{
    public const int Port = 3478;

    private readonly LabProcess _process;
    private readonly string _pidFile;

    private Coturn(LabProcess process, string pidFile, IPEndPoint primary, IPEndPoint alternate)
    {
        _process = process;
        _pidFile = pidFile;
        Primary = primary;
        Alternate = alternate;
    }

    public IPEndPoint Primary { get; }

    /// <summary>The other address and port RFC 5780 tests use (coturn: the second listening IP, port + 1).</summary>
    public IPEndPoint Alternate { get; }

    /// <summary>Installs coturn if needed, gives <paramref name="host"/> a second public address and starts
    /// turnserver in STUN-only mode on both.</summary>
    public static async Task<Coturn> StartAsync(NetNamespace host, CancellationToken cancellationToken)
    {
        await DebianPackages.EnsureAsync("coturn").ConfigureAwait(false);
        var second = await host.Lab.AddPublicAddressAsync(host, cancellationToken).ConfigureAwait(false);
        string pidFile = Path.Combine(Path.GetTempPath(), $"p2pstack-coturn-{Guid.NewGuid():N}.pid");
        var process = host.Start("turnserver",
        [
            "-n", "--stun-only", "--no-tls", "--no-dtls", "--no-cli", "--log-file=stdout", "--simple-log",
            $"--listening-ip={host.Address}", $"--listening-ip={second}", $"--listening-port={Port}",
            $"--alt-listening-port={Port + 1}", $"--pidfile={pidFile}", "--userdb=" + pidFile + ".db",
        ]);
        var coturn = new Coturn(process, pidFile, new IPEndPoint(host.Address, Port), new IPEndPoint(second, Port + 1));
        try
        {
            // coturn logs the count of its servers once their listeners are open (clients retransmit anyway).
            await process.WaitForLineAsync(l => l.Contains("Total General servers", StringComparison.Ordinal), TimeSpan.FromSeconds(60),
                cancellationToken).ConfigureAwait(false);
            return coturn;
        }
        catch
        {
            await coturn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public string Tail() => _process.Tail();

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync().ConfigureAwait(false);
        foreach (string file in new[] { _pidFile, _pidFile + ".db" })
        {
            try
            {
                File.Delete(file);
            }
            catch (IOException)
            {
                // left in /tmp: harmless
            }
        }
    }
}
