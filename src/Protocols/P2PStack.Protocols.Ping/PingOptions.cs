namespace P2PStack.Protocols.Ping;

public sealed class PingOptions
{
    /// <summary>An inbound ping stream with no payload for this long is closed (go-libp2p uses 60 s).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
