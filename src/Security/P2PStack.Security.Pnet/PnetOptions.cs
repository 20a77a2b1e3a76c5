namespace P2PStack.Security.Pnet;

/// <summary>The private network this node belongs to.</summary>
public sealed class PnetOptions
{
    /// <summary>The network's pre-shared key; connections with peers holding another key (or none) fail.</summary>
    public SwarmKey? Key { get; set; }

    /// <summary>Longest wait for the remote's nonce; the caller's token (the host's upgrade budget) also bounds it.</summary>
    public TimeSpan NonceExchangeTimeout { get; set; } = TimeSpan.FromSeconds(10);
}
