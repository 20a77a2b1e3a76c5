using System.Net;

namespace P2PStack.Nat.PortMapping;

/// <summary>Which gateway protocols the port mapper tries, in its order: UPnP IGD, then PCP, then NAT-PMP.</summary>
[Flags]
public enum PortMappingProtocols
{
    None = 0,
    Upnp = 1,
    Pcp = 2,
    NatPmp = 4,
    All = Upnp | Pcp | NatPmp,
}

public sealed class PortMappingOptions
{
    /// <summary>Protocols to try; none disables port mapping.</summary>
    public PortMappingProtocols Protocols { get; set; } = PortMappingProtocols.All;

    /// <summary>Lease asked for; mappings are renewed at half of the lease the gateway granted.</summary>
    public TimeSpan Lease { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Description shown in the gateway's mapping table (UPnP).</summary>
    public string Description { get; set; } = "P2PStack";

    /// <summary>How long SSDP discovery listens for gateways (the M-SEARCH MX is derived from it).</summary>
    public TimeSpan SsdpTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>Timeout of each HTTP exchange with an IGD (description, SOAP).</summary>
    public TimeSpan HttpTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Largest device description or SOAP answer read.</summary>
    public int MaxHttpResponseBytes { get; set; } = 64 * 1024;

    /// <summary>Largest SSDP answer datagram considered, and answers considered per search.</summary>
    public int MaxSsdpResponseBytes { get; set; } = 2048;

    public int MaxSsdpResponses { get; set; } = 32;

    /// <summary>First NAT-PMP/PCP retransmission timeout (RFC 6886: 250 ms, doubling).</summary>
    public TimeSpan GatewayInitialRto { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>NAT-PMP/PCP requests sent before giving up (RFC 6886 allows 9; fewer keeps start-up quick).</summary>
    public int GatewayMaxTransmissions { get; set; } = 4;

    /// <summary>The gateway for NAT-PMP/PCP; null takes the default gateway of the system.</summary>
    public IPAddress? Gateway { get; set; }

    /// <summary>After every protocol failed (or a mapping was lost), the service tries again after this long.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>A renewal that failed without a refusal (no answer, a broken exchange, garbage) is tried again after
    /// this long, doubling after every further failure, while the gateway's lease still runs; the mapping and its
    /// address stay until the lease ends. Attempts never go past the end of the lease, so they are bounded
    /// (about log2(remaining lease / this) + 1).</summary>
    public TimeSpan RenewalRetryInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Where SSDP searches are sent; null: the multicast group 239.255.255.250:1900. Tests point it at a
    /// gateway on a loopback address.</summary>
    internal IPEndPoint? SsdpEndPoint { get; set; }

    /// <summary>How long stopping waits for the gateway to confirm the removal of the mappings.</summary>
    public TimeSpan RemoveTimeout { get; set; } = TimeSpan.FromSeconds(5);

    internal void Validate()
    {
        if (Lease < TimeSpan.FromSeconds(30)) throw new ArgumentOutOfRangeException(nameof(Lease), "at least 30 s");
        if (SsdpTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(SsdpTimeout), "must be positive");
        if (HttpTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(HttpTimeout), "must be positive");
        if (MaxHttpResponseBytes < 1024) throw new ArgumentOutOfRangeException(nameof(MaxHttpResponseBytes), "at least 1 KiB");
        if (MaxSsdpResponseBytes < 256) throw new ArgumentOutOfRangeException(nameof(MaxSsdpResponseBytes), "at least 256 bytes");
        if (MaxSsdpResponses < 1) throw new ArgumentOutOfRangeException(nameof(MaxSsdpResponses), "at least 1");
        if (GatewayInitialRto <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(GatewayInitialRto), "must be positive");
        if (GatewayMaxTransmissions < 1) throw new ArgumentOutOfRangeException(nameof(GatewayMaxTransmissions), "at least 1");
        if (RetryInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RetryInterval), "must be positive");
        if (RenewalRetryInterval <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RenewalRetryInterval), "must be positive");
        if (RemoveTimeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RemoveTimeout), "must be positive");
    }
}
