using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using P2PStack.Nat.PortMapping;

namespace P2PStack.Nat.TestNode;

/// <summary>Port mapping probes against the gateway of the namespace: <c>upnp-discover</c>, <c>upnp-map</c>,
/// <c>upnp-delete</c>, <c>upnp-get</c>, <c>natpmp-external</c>, <c>natpmp-map</c>, <c>pcp-map</c>, <c>portmap</c>
/// (every protocol in order, with fallback) and <c>portmap-serve</c> (map, then accept one TCP connection on the port).</summary>
internal static class PortMappingCommands
{
    private static PortMappingOptions Options(Arguments args) => new()
    {
        SsdpTimeout = args.Duration("ssdp-ms", TimeSpan.FromSeconds(2)),
        Lease = TimeSpan.FromSeconds(args.Int("lease", 600)),
        Description = "P2PStack test",
    };

    private static async Task<UpnpGateway> FirstGatewayAsync(PortMapper mapper, CancellationToken cancellationToken) =>
        (await mapper.DiscoverUpnpAsync(cancellationToken))[0];

    private static PortMapper Mapper(Arguments args, PortMappingProtocols? protocols = null)
    {
        var options = Options(args);
        options.Protocols = protocols ?? Enum.Parse<PortMappingProtocols>(args.Get("protocols") ?? "All");
        return new PortMapper(Microsoft.Extensions.Options.Options.Create(options));
    }

    public static async Task<JsonObject> UpnpDiscoverAsync(Arguments args, CancellationToken cancellationToken)
    {
        using var mapper = Mapper(args);
        var gateways = await mapper.DiscoverUpnpAsync(cancellationToken);
        var list = new JsonArray();
        foreach (var gateway in gateways)
        {
            var entry = new JsonObject
            {
                ["location"] = gateway.Location.ToString(),
                ["controlUrl"] = gateway.ControlUrl.ToString(),
                ["serviceType"] = gateway.ServiceType,
                ["friendlyName"] = gateway.FriendlyName,
            };
            try
            {
                entry["externalAddress"] = (await gateway.GetExternalAddressAsync(cancellationToken)).ToString();
            }
            catch (Exception ex) when (ex is PortMappingRefusedException or PortMappingFormatException)
            {
                entry["externalAddressError"] = Describe(ex);
            }
            list.Add(entry);
        }
        return new JsonObject { ["gateways"] = list };
    }

    public static async Task<JsonObject> UpnpMapAsync(Arguments args, CancellationToken cancellationToken)
    {
        using var mapper = Mapper(args);
        var gateway = await FirstGatewayAsync(mapper, cancellationToken);
        int port = args.Int("port", 0);
        var client = LocalAddressTowards(IPAddress.Parse(gateway.ControlUrl.Host));
        await gateway.AddPortMappingAsync(MappingProtocol.Tcp, args.Int("external-port", port), client, port, mapper.Options.Lease, cancellationToken);
        return new JsonObject { ["internalClient"] = client.ToString(), ["port"] = port };
    }

    public static async Task<JsonObject> UpnpGetAsync(Arguments args, CancellationToken cancellationToken)
    {
        using var mapper = Mapper(args);
        var gateway = await FirstGatewayAsync(mapper, cancellationToken);
        var (client, port, lease) = await gateway.GetSpecificPortMappingAsync(MappingProtocol.Tcp, args.Int("port", 0), cancellationToken);
        return new JsonObject { ["internalClient"] = client.ToString(), ["internalPort"] = port, ["leaseSeconds"] = (long)lease.TotalSeconds };
    }

    public static async Task<JsonObject> UpnpDeleteAsync(Arguments args, CancellationToken cancellationToken)
    {
        using var mapper = Mapper(args);
        var gateway = await FirstGatewayAsync(mapper, cancellationToken);
        await gateway.DeletePortMappingAsync(MappingProtocol.Tcp, args.Int("port", 0), cancellationToken);
        return [];
    }

    public static async Task<JsonObject> NatPmpExternalAsync(Arguments args, CancellationToken cancellationToken)
    {
        var client = new NatPmpClient(Options(args), Gateway(args));
        var (address, epoch) = await client.GetExternalAddressAsync(cancellationToken);
        return new JsonObject { ["externalAddress"] = address.ToString(), ["epoch"] = epoch };
    }

    public static async Task<JsonObject> NatPmpMapAsync(Arguments args, CancellationToken cancellationToken)
    {
        var client = new NatPmpClient(Options(args), Gateway(args));
        var mapping = await client.MapAsync(MappingProtocol.Tcp, args.Int("port", 0), args.Int("port", 0), TimeSpan.FromSeconds(args.Int("lease", 600)), cancellationToken);
        return Describe(mapping);
    }

    public static async Task<JsonObject> PcpMapAsync(Arguments args, CancellationToken cancellationToken)
    {
        var client = new PcpClient(Options(args), Gateway(args));
        var mapping = await client.MapAsync(MappingProtocol.Tcp, args.Int("port", 0), args.Int("port", 0), TimeSpan.FromSeconds(args.Int("lease", 600)), cancellationToken);
        return Describe(mapping);
    }

    public static async Task<JsonObject> PortMapAsync(Arguments args, CancellationToken cancellationToken)
    {
        using var mapper = Mapper(args);
        var mapping = await mapper.MapAsync(MappingProtocol.Tcp, args.Int("port", 0), cancellationToken);
        var result = Describe(mapping);
        if (args.Flag("remove"))
        {
            await mapper.RemoveAsync(mapping, cancellationToken);
            result["removed"] = true;
        }
        return result;
    }

    /// <summary>Maps the port, prints a ready event line, accepts one TCP connection on the port and reports the
    /// peer's address (the proof that the mapping forwards), then removes the mapping.</summary>
    public static async Task<JsonObject> PortMapServeAsync(Arguments args, CancellationToken cancellationToken)
    {
        int port = args.Int("port", 0);
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Any, port));
        listener.Listen();
        using var mapper = Mapper(args);
        var mapping = await mapper.MapAsync(MappingProtocol.Tcp, port, cancellationToken);
        var ready = Describe(mapping);
        ready["event"] = "mapped";
        Console.WriteLine(ready.ToJsonString());
        using var accepted = await listener.AcceptAsync(cancellationToken);
        await accepted.SendAsync("mapped\n"u8.ToArray(), SocketFlags.None, cancellationToken);
        var remote = (IPEndPoint)accepted.RemoteEndPoint!;
        await mapper.RemoveAsync(mapping, cancellationToken);
        var result = Describe(mapping);
        result["acceptedFrom"] = remote.Address.ToString();
        return result;
    }

    /// <summary><c>tcp-probe --to ip:port</c>: connects and reads one line.</summary>
    public static async Task<JsonObject> TcpProbeAsync(Arguments args, CancellationToken cancellationToken)
    {
        var target = IPEndPoint.Parse(args.Required("to"));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(target, cancellationToken);
        byte[] buffer = new byte[64];
        int n = await socket.ReceiveAsync(buffer, SocketFlags.None, cancellationToken);
        return new JsonObject { ["line"] = System.Text.Encoding.ASCII.GetString(buffer, 0, n).Trim() };
    }

    private static JsonObject Describe(PortMappingResult mapping) => new()
    {
        ["method"] = mapping.Method,
        ["internalPort"] = mapping.InternalPort,
        ["externalAddress"] = mapping.ExternalAddress.ToString(),
        ["externalPort"] = mapping.ExternalPort,
        ["lifetimeSeconds"] = (long)mapping.Lifetime.TotalSeconds,
    };

    private static JsonObject Describe(GatewayMapping mapping) => new()
    {
        ["internalPort"] = mapping.InternalPort,
        ["externalAddress"] = mapping.ExternalAddress?.ToString(),
        ["externalPort"] = mapping.ExternalPort,
        ["lifetimeSeconds"] = (long)mapping.Lifetime.TotalSeconds,
        ["epoch"] = mapping.Epoch,
    };

    /// <summary>Typed error details: the exception type, and the protocol code of a refusal.</summary>
    public static JsonObject Describe(Exception ex)
    {
        var json = new JsonObject { ["errorName"] = ex.GetType().Name, ["error"] = ex.Message };
        switch (ex)
        {
            case PortMappingRefusedException refused:
                json["protocol"] = refused.Protocol;
                json["code"] = refused.Code;
                break;
            case PortMappingFailedException failed:
                json["refused"] = failed.Refused;
                json["errors"] = new JsonArray([.. failed.Errors.Select(e => (JsonNode)Describe(e))]);
                break;
        }
        return json;
    }

    private static IPAddress Gateway(Arguments args) =>
        args.Get("gateway") is { } g ? IPAddress.Parse(g) : throw new ArgumentException("--gateway is required");

    private static IPAddress LocalAddressTowards(IPAddress gateway)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Connect(new IPEndPoint(gateway, 5351));
        return ((IPEndPoint)probe.LocalEndPoint!).Address;
    }
}
