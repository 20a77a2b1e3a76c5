using System.Net;

namespace P2PStack.Nat.Testing;

/// <summary>A NAT router of a <see cref="NetLab"/>: WAN interface <c>wan</c>, LAN bridge <c>lanbr</c>.</summary>
public sealed class NatRouter
{
    private int _nextHost = 2;

    internal NatRouter(NetLab lab, NetNamespace ns, NatBehaviour behaviour, IPAddress wanAddress, int index, string iptables)
    {
        Lab = lab;
        Namespace = ns;
        Behaviour = behaviour;
        WanAddress = wanAddress;
        Index = index;
        Iptables = iptables;
        LanAddress = IPAddress.Parse($"192.168.{index}.1");
    }

    public NetLab Lab { get; }

    public NetNamespace Namespace { get; }

    public NatBehaviour Behaviour { get; }

    /// <summary>The public address every host behind the router appears from.</summary>
    public IPAddress WanAddress { get; }

    /// <summary>The router's address on its LAN (the hosts' gateway).</summary>
    public IPAddress LanAddress { get; }

    /// <summary>The iptables command the router's rules were written with.</summary>
    public string Iptables { get; }

    internal int Index { get; }

    internal bool LanConfigured { get; set; }

    internal int NextHost() => Interlocked.Increment(ref _nextHost) - 1;

    /// <summary>The router's NAT table (connection tracking entries), for failure messages.</summary>
    public Task<string> DescribeAsync(CancellationToken cancellationToken) =>
        Namespace.ExecAsync(cancellationToken, Iptables, "-t", "nat", "-S");
}
