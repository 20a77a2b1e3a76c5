using System.Text.Json;
using System.Text.Json.Serialization;
using P2PStack.Addressing;
using P2PStack.IO;
using SynapticMesh.Cli;

namespace SynapticMesh.Home;

/// <summary>home/config.json: what <c>p2p init</c> chose and <c>p2p start</c> runs with.</summary>
public sealed record NodeConfig
{
    public static readonly IReadOnlyList<string> DefaultListen = ["/ip4/0.0.0.0/tcp/9000", "/ip4/0.0.0.0/tcp/9001/ws"];

    public const int DefaultMaxPeers = 64;

    /// <summary>Largest config file read.</summary>
    public const int MaxFileSize = 1024 * 1024;

    public List<string> Listen { get; init; } = [.. DefaultListen];

    public List<string> Bootstrap { get; init; } = [];

    public int MaxPeers { get; init; } = DefaultMaxPeers;

    /// <summary>DAG consensus: the instance and its voters.</summary>
    public DagConfig Dag { get; init; } = new();

    [JsonIgnore]
    public IReadOnlyList<Multiaddr> ListenAddresses => [.. Listen.Select(a => ParseAddress(a, "listen"))];

    [JsonIgnore]
    public IReadOnlyList<Multiaddr> BootstrapAddresses => [.. Bootstrap.Select(a => ParseAddress(a, "bootstrap"))];

    /// <summary>Checks every field; the message says which one is wrong.</summary>
    public NodeConfig Validate()
    {
        if (Listen is null || Bootstrap is null) throw new CliException("the config needs 'listen' and 'bootstrap' lists", ExitCodes.Usage);
        if (Listen.Count == 0) throw new CliException("the config has no listen address", ExitCodes.Usage);
        _ = ListenAddresses;
        _ = BootstrapAddresses;
        if (MaxPeers < 1) throw new CliException($"max peers must be at least 1, got {MaxPeers}", ExitCodes.Usage);
        if (Dag is null) throw new CliException("the config's 'dag' section is empty", ExitCodes.Usage);
        Dag.Validate();
        return this;
    }

    public static Multiaddr ParseAddress(string text, string what)
    {
        try
        {
            return Multiaddr.Parse(text);
        }
        catch (P2PStack.P2PFormatException e)
        {
            throw new CliException($"invalid {what} address '{text}': {e.Message}", ExitCodes.Usage, e);
        }
    }

    public static NodeConfig Load(NodeHome home)
    {
        if (!File.Exists(home.ConfigPath)) return new NodeConfig();
        var info = new FileInfo(home.ConfigPath);
        if (info.Length > MaxFileSize) throw new CliException($"{home.ConfigPath} is larger than {MaxFileSize} bytes");
        try
        {
            var config = JsonSerializer.Deserialize<NodeConfig>(File.ReadAllBytes(home.ConfigPath), CliOutput.JsonOptions)
                ?? throw new CliException($"{home.ConfigPath} is empty");
            return config.Validate();
        }
        catch (JsonException e)
        {
            throw new CliException($"{home.ConfigPath} is not valid JSON: {e.Message}", inner: e);
        }
    }

    public void Save(NodeHome home) =>
        PrivateFile.WriteAtomically(home.ConfigPath, JsonSerializer.SerializeToUtf8Bytes(this, CliOutput.JsonOptions));
}
