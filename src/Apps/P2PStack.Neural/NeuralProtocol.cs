namespace P2PStack.Neural;

/// <summary>Wire constants of neural messaging (docs/specs/neural.md).</summary>
public static class NeuralProtocol
{
    /// <summary>Stream protocol carrying direct messages: a sequence of length-prefixed <c>NeuralFrame</c>s.</summary>
    public const string ProtocolId = "/synaptic/neural/1.0.0";

    /// <summary>Signing domain of message envelopes.</summary>
    public const string MessageDomain = "synaptic-neural-message";

    /// <summary>Signing domain of agent records.</summary>
    public const string AgentRecordDomain = "synaptic-neural-agent-record";

    /// <summary>Envelope payload type of messages: the unsigned varint of the private-use multicodec 0x300001.</summary>
    public static ReadOnlySpan<byte> MessagePayloadType => [0x81, 0x80, 0xC0, 0x01];

    /// <summary>Envelope payload type of agent records: the unsigned varint of the private-use multicodec 0x300002.</summary>
    public static ReadOnlySpan<byte> AgentRecordPayloadType => [0x82, 0x80, 0xC0, 0x01];

    /// <summary>Stream protocol serving a node's signed sealing key record (docs/specs/neural-seal.md).</summary>
    public const string SealingKeyProtocolId = "/synaptic/neural/sealing-key/1.0.0";

    /// <summary>Signing domain of sealing key records.</summary>
    public const string SealingKeyDomain = "synaptic-neural-sealing-key";

    /// <summary>Envelope payload type of sealing key records: the unsigned varint of the private-use multicodec 0x300003.</summary>
    public static ReadOnlySpan<byte> SealingKeyPayloadType => [0x83, 0x80, 0xC0, 0x01];

    /// <summary>DHT namespace of agent records: key <c>/agent/&lt;name&gt;</c>.</summary>
    public const string AgentNamespace = "agent";

    /// <summary>Length of a message id in bytes.</summary>
    public const int MessageIdLength = 16;

    public const int MaxPriority = 10;

    /// <summary>Longest agent or swarm name.</summary>
    public const int MaxNameLength = 64;

    /// <summary>Gossipsub topic of a swarm's message family: <c>/synaptic/swarm/&lt;name&gt;/&lt;family&gt;</c>.</summary>
    public static string SwarmTopic(string swarm, string family) => $"/synaptic/swarm/{swarm}/{family}";

    /// <summary>DHT key of an agent's record.</summary>
    public static byte[] AgentKey(string name)
    {
        ValidateName(name, "agent");
        return System.Text.Encoding.ASCII.GetBytes($"/{AgentNamespace}/{name}");
    }

    /// <summary>Whether <paramref name="name"/> is a valid agent or swarm name: 1-64 of [A-Za-z0-9._-].</summary>
    public static bool IsValidName(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxNameLength) return false;
        foreach (char c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')) return false;
        return true;
    }

    /// <exception cref="ArgumentException">The name is not 1-64 of [A-Za-z0-9._-].</exception>
    public static void ValidateName(string name, string what)
    {
        if (!IsValidName(name))
            throw new ArgumentException($"{what} name '{name}' is invalid: use 1 to {MaxNameLength} of the characters A-Z a-z 0-9 . _ -");
    }
}
