using P2PStack.Addressing;
using P2PStack.Transports.Tcp;

namespace P2PStack.Transports.WebSocket;

internal static class WebSocketAddresses
{
    private static readonly Multiaddr Ws = Multiaddr.FromComponents([MultiaddrComponent.Create(MultiaddrProtocols.Ws, null)]);

    private static readonly Multiaddr Wss = Multiaddr.FromComponents([MultiaddrComponent.Create(MultiaddrProtocols.Wss, null)]);

    public static Multiaddr WithWs(Multiaddr tcp) => tcp.IsEmpty ? tcp : tcp.Encapsulate(Ws);

    public static Multiaddr WithWs(Multiaddr tcp, bool secure) => tcp.IsEmpty ? tcp : tcp.Encapsulate(secure ? Wss : Ws);

    /// <summary>True for host/tcp/ws; <paramref name="secure"/> says whether it was /wss or /tls/ws instead.</summary>
    public static bool TryParse(Multiaddr address, out Multiaddr tcp, out bool secure)
    {
        tcp = Multiaddr.Empty;
        secure = false;
        if (address is null || !TcpAddresses.TryParse(address, out _, out _, out int rest)) return false;
        IReadOnlyList<MultiaddrComponent> components = address.Components;
        if (rest == 1 && components[2].Protocol == MultiaddrProtocols.Ws) { }
        else if (rest == 1 && components[2].Protocol == MultiaddrProtocols.Wss) secure = true;
        else if (rest == 2 && components[2].Protocol == MultiaddrProtocols.Tls && components[3].Protocol == MultiaddrProtocols.Ws) secure = true;
        else return false;
        tcp = Multiaddr.FromComponents([components[0], components[1]]);
        return true;
    }

    /// <summary>Host part of a ws:// URI for the TCP address (IPv6 literals in brackets).</summary>
    public static string UriHost(Multiaddr tcp)
    {
        MultiaddrComponent host = tcp.Components[0];
        return host.Protocol == MultiaddrProtocols.Ip6 ? $"[{host.Value}]" : host.Value;
    }
}
