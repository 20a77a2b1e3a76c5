using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using P2PStack.Transports.Tcp;

namespace P2PStack.Transports.WebSocket;

/// <summary>Settings of the WebSocket transport.</summary>
public sealed class WebSocketTransportOptions
{
    /// <summary>Options of the TCP connections underneath (connect timeout, reuse-port, buffers, backlog).</summary>
    public TcpTransportOptions Tcp { get; set; } = new();

    /// <summary>Deadline for the HTTP upgrade, on both sides.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Largest HTTP request or response head accepted during the upgrade.</summary>
    public int MaxHandshakeBytes { get; set; } = 8 * 1024;

    /// <summary>Interval of WebSocket pings that keep idle connections (and NAT mappings) alive; zero disables.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Certificate (with its private key) served on <c>/wss</c> and <c>/tls/ws</c> listen addresses, for pages
    /// served over https, whose browsers refuse plain <c>ws://</c>. Null: secure listen addresses are refused.</summary>
    public X509Certificate2? ServerCertificate { get; set; }

    /// <summary>Checks a server's certificate when dialing <c>/wss</c>; null: the system's checks (a trusted chain for
    /// the dialed name). libp2p authenticates the peer again inside (Noise or TLS), so this is about the outer TLS.</summary>
    public RemoteCertificateValidationCallback? ServerCertificateValidation { get; set; }
    /// <summary>HTTP upgrades running at once on one listener; connections beyond are closed at accept, before a byte is
    /// read (the host's own admission only sees a connection once its upgrade is done).</summary>
    public int MaxPendingUpgrades { get; set; } = 64;

    /// <summary>HTTP upgrades running at once from one IP address (one /64 for IPv6), so one host cannot take every
    /// upgrade slot.</summary>
    public int MaxPendingUpgradesPerIp { get; set; } = 8;

    /// <summary>Whether loopback addresses are exempt from <see cref="MaxPendingUpgradesPerIp"/> (local processes: tests,
    /// a local daemon, many clients on one machine); <see cref="MaxPendingUpgrades"/> still applies.</summary>
    public bool ExemptLoopbackFromIpLimit { get; set; } = true;

    /// <summary>Path requested when dialing (js-libp2p and go-libp2p use "/").</summary>
    public string Path { get; set; } = "/";

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Tcp);
        Tcp.Validate();
        if (HandshakeTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(HandshakeTimeout), "must be positive");
        if (MaxHandshakeBytes < 256) throw new ArgumentOutOfRangeException(nameof(MaxHandshakeBytes), "must be at least 256");
        if (MaxPendingUpgrades < 1) throw new ArgumentOutOfRangeException(nameof(MaxPendingUpgrades), "must be at least 1");
        if (MaxPendingUpgradesPerIp < 1) throw new ArgumentOutOfRangeException(nameof(MaxPendingUpgradesPerIp), "must be at least 1");
        if (KeepAliveInterval < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(KeepAliveInterval), "must not be negative");
        if (string.IsNullOrEmpty(Path) || Path[0] != '/') throw new ArgumentException("must start with '/'", nameof(Path));
        if (ServerCertificate is { HasPrivateKey: false })
            throw new ArgumentException("the WebSocket server certificate needs its private key", nameof(ServerCertificate));
    }
}
