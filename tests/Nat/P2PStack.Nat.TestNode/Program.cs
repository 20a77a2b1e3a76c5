using System.Text.Json.Nodes;

namespace P2PStack.Nat.TestNode;

/// <summary>
/// Entry point: <c>P2PStack.Nat.TestNode &lt;command&gt; [options]</c>. One-shot commands print one JSON object line
/// (<c>"ok": true</c> and the result, or <c>"ok": false</c>, <c>"error"</c>, <c>"errorName"</c>) and exit 0 or 1.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length == 0)
        {
            await Console.Error.WriteLineAsync("usage: P2PStack.Nat.TestNode <stun-binding|stun-discover> [options]");
            return 2;
        }
        var options = Arguments.Parse(args.AsSpan(1));
        if (args[0] == "node") return await NodeMode.RunAsync(options);
        using var timeout = new CancellationTokenSource(options.Duration("timeout-ms", TimeSpan.FromSeconds(120)));
        try
        {
            JsonObject result = args[0] switch
            {
                "stun-binding" => await StunCommands.BindingAsync(options, timeout.Token),
                "stun-discover" => await StunCommands.DiscoverAsync(options, timeout.Token),
                "upnp-discover" => await PortMappingCommands.UpnpDiscoverAsync(options, timeout.Token),
                "upnp-map" => await PortMappingCommands.UpnpMapAsync(options, timeout.Token),
                "upnp-get" => await PortMappingCommands.UpnpGetAsync(options, timeout.Token),
                "upnp-delete" => await PortMappingCommands.UpnpDeleteAsync(options, timeout.Token),
                "natpmp-external" => await PortMappingCommands.NatPmpExternalAsync(options, timeout.Token),
                "natpmp-map" => await PortMappingCommands.NatPmpMapAsync(options, timeout.Token),
                "pcp-map" => await PortMappingCommands.PcpMapAsync(options, timeout.Token),
                "portmap" => await PortMappingCommands.PortMapAsync(options, timeout.Token),
                "portmap-serve" => await PortMappingCommands.PortMapServeAsync(options, timeout.Token),
                "tcp-probe" => await PortMappingCommands.TcpProbeAsync(options, timeout.Token),
                _ => throw new ArgumentException($"unknown command {args[0]}"),
            };
            result["ok"] = true;
            Console.WriteLine(result.ToJsonString());
            return 0;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            var error = PortMappingCommands.Describe(ex);
            error["ok"] = false;
            Console.WriteLine(error.ToJsonString());
            return 1;
        }
    }
}

/// <summary><c>--name value</c> pairs (repeatable).</summary>
public sealed class Arguments
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);

    public static Arguments Parse(ReadOnlySpan<string> args)
    {
        var parsed = new Arguments();
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unexpected argument {args[i]}");
            string name = args[i][2..];
            string value = i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal) ? args[++i] : "true";
            if (!parsed._values.TryGetValue(name, out var list)) parsed._values[name] = list = [];
            list.Add(value);
        }
        return parsed;
    }

    public string Required(string name) => Get(name) ?? throw new ArgumentException($"--{name} is required");

    public string? Get(string name) => _values.TryGetValue(name, out var list) ? list[^1] : null;

    public IReadOnlyList<string> All(string name) => _values.TryGetValue(name, out var list) ? list : [];

    public int Int(string name, int fallback) => Get(name) is { } v ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;

    public bool Flag(string name) => Get(name) is "true";

    public TimeSpan Duration(string name, TimeSpan fallback) => Get(name) is { } v ? TimeSpan.FromMilliseconds(double.Parse(v, System.Globalization.CultureInfo.InvariantCulture)) : fallback;
}
