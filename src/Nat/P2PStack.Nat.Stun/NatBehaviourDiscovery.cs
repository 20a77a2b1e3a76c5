using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace P2PStack.Nat.Stun;

/// <summary>How a NAT picks the public port for a local one (RFC 4787 section 4.1, discovered per RFC 5780 4.3).</summary>
public enum NatMappingBehaviour
{
    Unknown,
    /// <summary>No NAT: the server saw our own address and port.</summary>
    NoNat,
    EndpointIndependent,
    AddressDependent,
    AddressAndPortDependent,
}

/// <summary>Which inbound packets a NAT lets through a mapping (RFC 4787 section 5, discovered per RFC 5780 4.4).</summary>
public enum NatFilteringBehaviour
{
    Unknown,
    EndpointIndependent,
    AddressDependent,
    AddressAndPortDependent,
}

/// <summary>The classic names, as the CLI reports them.</summary>
public enum NatType
{
    Unknown,
    /// <summary>No UDP answer at all: UDP is blocked, or the server is unreachable.</summary>
    UdpBlocked,
    /// <summary>No NAT and no inbound filtering.</summary>
    Open,
    /// <summary>No NAT, but a firewall filters unsolicited inbound packets.</summary>
    Firewalled,
    FullCone,
    RestrictedCone,
    PortRestrictedCone,
    Symmetric,
}

/// <summary>The outcome of RFC 5780 behaviour discovery.</summary>
/// <param name="Local">The local address and port the probes were sent from.</param>
/// <param name="Mapped">The public mapping of that port seen by the server's primary address.</param>
/// <param name="Notes">What could not be tested and why (e.g. the server has no alternate address).</param>
public sealed record NatBehaviourReport(IPEndPoint Local, IPEndPoint? Mapped, NatMappingBehaviour Mapping, NatFilteringBehaviour Filtering,
    NatType Type, IReadOnlyList<string> Notes)
{
    /// <summary>TCP hole punching from a known port can work when the mapping does not depend on the destination.</summary>
    public bool HolePunchingPossible => Mapping is NatMappingBehaviour.NoNat or NatMappingBehaviour.EndpointIndependent;

    /// <summary>The wire name for JSON and metrics: open, firewalled, full-cone, restricted-cone, port-restricted-cone,
    /// symmetric, udp-blocked, unknown.</summary>
    public string TypeName => NatBehaviourDiscovery.Name(Type);
}

/// <summary>
/// NAT behaviour discovery (RFC 5780 section 4.3 and 4.4) against a STUN server with an alternate address: mapping
/// tests from one socket (the same local port towards the primary address, the alternate address, the alternate port),
/// filtering tests from a fresh socket (change-address and change-port requests, which a filtering NAT drops).
/// </summary>
public sealed class NatBehaviourDiscovery(StunClient client)
{
    /// <summary>Runs the tests against <paramref name="server"/>; <paramref name="localPort"/> 0 lets the system pick.</summary>
    /// <exception cref="StunErrorResponseException">The server refused a plain Binding request.</exception>
    public async Task<NatBehaviourReport> DiscoverAsync(IPEndPoint server, int localPort, CancellationToken cancellationToken)
    {
        var notes = new List<string>();
        using var socket = Bind(server.AddressFamily, localPort);
        var local = LocalEndPointTowards(server, ((IPEndPoint)socket.LocalEndPoint!).Port);
        StunBindingResult first;
        try
        {
            first = await client.BindingAsync(socket, server, StunChangeRequest.None, cancellationToken).ConfigureAwait(false);
        }
        catch (StunTimeoutException ex)
        {
            notes.Add(ex.Message);
            return new NatBehaviourReport(local, null, NatMappingBehaviour.Unknown, NatFilteringBehaviour.Unknown, NatType.UdpBlocked, notes);
        }

        bool natted = !IsLocal(first.Mapped, local.Port);
        NatMappingBehaviour mapping = natted ? NatMappingBehaviour.Unknown : NatMappingBehaviour.NoNat;
        if (first.OtherAddress is not { } other)
        {
            notes.Add($"the STUN server {server} sent no OTHER-ADDRESS: it cannot run RFC 5780 tests");
            return new NatBehaviourReport(local, first.Mapped, mapping, NatFilteringBehaviour.Unknown, NatType.Unknown, notes);
        }

        if (natted)
        {
            mapping = await MappingAsync(socket, server, other, first.Mapped, notes, cancellationToken).ConfigureAwait(false);
        }
        var filtering = await FilteringAsync(server, notes, cancellationToken).ConfigureAwait(false);
        return new NatBehaviourReport(local, first.Mapped, mapping, filtering, Classify(mapping, filtering), notes);
    }

    private async Task<NatMappingBehaviour> MappingAsync(Socket socket, IPEndPoint server, IPEndPoint other, IPEndPoint firstMapped,
        List<string> notes, CancellationToken cancellationToken)
    {
        try
        {
            var second = await client.BindingAsync(socket, new IPEndPoint(other.Address, server.Port), StunChangeRequest.None, cancellationToken)
                .ConfigureAwait(false);
            if (second.Mapped.Equals(firstMapped)) return NatMappingBehaviour.EndpointIndependent;
            var third = await client.BindingAsync(socket, other, StunChangeRequest.None, cancellationToken).ConfigureAwait(false);
            return third.Mapped.Equals(second.Mapped) ? NatMappingBehaviour.AddressDependent : NatMappingBehaviour.AddressAndPortDependent;
        }
        catch (StunTimeoutException ex)
        {
            notes.Add($"mapping test: {ex.Message}");
            return NatMappingBehaviour.Unknown;
        }
    }

    private async Task<NatFilteringBehaviour> FilteringAsync(IPEndPoint server, List<string> notes, CancellationToken cancellationToken)
    {
        // A fresh port: the mapping tests opened the NAT towards the alternate address already.
        using var socket = Bind(server.AddressFamily, 0);
        try
        {
            await client.BindingAsync(socket, server, StunChangeRequest.None, cancellationToken).ConfigureAwait(false);
            if (await AnsweredAsync(socket, server, StunChangeRequest.ChangeIp | StunChangeRequest.ChangePort, cancellationToken).ConfigureAwait(false))
                return NatFilteringBehaviour.EndpointIndependent;
            return await AnsweredAsync(socket, server, StunChangeRequest.ChangePort, cancellationToken).ConfigureAwait(false)
                ? NatFilteringBehaviour.AddressDependent
                : NatFilteringBehaviour.AddressAndPortDependent;
        }
        catch (StunTimeoutException ex)
        {
            notes.Add($"filtering test: {ex.Message}");
            return NatFilteringBehaviour.Unknown;
        }
        catch (StunErrorResponseException ex)
        {
            notes.Add($"filtering test: the server refused CHANGE-REQUEST ({ex.Code} {ex.Reason})");
            return NatFilteringBehaviour.Unknown;
        }
    }

    private async Task<bool> AnsweredAsync(Socket socket, IPEndPoint server, StunChangeRequest change, CancellationToken cancellationToken)
    {
        try
        {
            await client.BindingAsync(socket, server, change, cancellationToken, filteringProbe: true).ConfigureAwait(false);
            return true;
        }
        catch (StunTimeoutException)
        {
            return false;
        }
    }

    public static NatType Classify(NatMappingBehaviour mapping, NatFilteringBehaviour filtering) => (mapping, filtering) switch
    {
        (NatMappingBehaviour.NoNat, NatFilteringBehaviour.EndpointIndependent) => NatType.Open,
        (NatMappingBehaviour.NoNat, NatFilteringBehaviour.AddressDependent or NatFilteringBehaviour.AddressAndPortDependent) => NatType.Firewalled,
        (NatMappingBehaviour.EndpointIndependent, NatFilteringBehaviour.EndpointIndependent) => NatType.FullCone,
        (NatMappingBehaviour.EndpointIndependent, NatFilteringBehaviour.AddressDependent) => NatType.RestrictedCone,
        (NatMappingBehaviour.EndpointIndependent, NatFilteringBehaviour.AddressAndPortDependent) => NatType.PortRestrictedCone,
        (NatMappingBehaviour.AddressDependent or NatMappingBehaviour.AddressAndPortDependent, _) => NatType.Symmetric,
        _ => NatType.Unknown,
    };

    public static string Name(NatType type) => type switch
    {
        NatType.UdpBlocked => "udp-blocked",
        NatType.Open => "open",
        NatType.Firewalled => "firewalled",
        NatType.FullCone => "full-cone",
        NatType.RestrictedCone => "restricted-cone",
        NatType.PortRestrictedCone => "port-restricted-cone",
        NatType.Symmetric => "symmetric",
        _ => "unknown",
    };

    private static Socket Bind(AddressFamily family, int port)
    {
        var socket = new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(new IPEndPoint(family == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, port));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The source address the system picks towards the server (a connected UDP socket sends nothing).</summary>
    private static IPEndPoint LocalEndPointTowards(IPEndPoint server, int port)
    {
        using var probe = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        probe.Connect(server);
        return new IPEndPoint(StunAddress.Normalise(((IPEndPoint)probe.LocalEndPoint!).Address), port);
    }

    /// <summary>Whether the mapped address is one of this machine's own, with our port: then no NAT is in the way.</summary>
    private static bool IsLocal(IPEndPoint mapped, int port)
    {
        if (mapped.Port != port) return false;
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
            {
                if (unicast.Address.Equals(mapped.Address)) return true;
            }
        }
        return false;
    }
}
