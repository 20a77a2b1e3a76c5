namespace P2PStack.Security.Noise.Protocol;

/// <summary>A token of a Noise message pattern, with the HFS extension's e1 and ekem1.</summary>
public enum NoiseToken : byte
{
    E,
    S,
    EE,
    ES,
    SE,
    SS,

    /// <summary>HFS: the sender's ephemeral KEM public key, EncryptAndHash'ed.</summary>
    E1,

    /// <summary>HFS: encapsulate to the remote e1, EncryptAndHash(ciphertext), MixKey(shared secret).</summary>
    Ekem1,
}

/// <summary>An interactive Noise handshake pattern without pre-messages (XX family).</summary>
public sealed class HandshakePattern
{
    private HandshakePattern(string name, NoiseToken[][] messages)
    {
        Name = name;
        Messages = messages;
        UsesKem = messages.Any(m => m.Contains(NoiseToken.E1));
    }

    /// <summary>The pattern part of the protocol name, e.g. <c>XX</c> or <c>XXhfs</c>.</summary>
    public string Name { get; }

    /// <summary>Message patterns; even indexes are sent by the initiator.</summary>
    public IReadOnlyList<NoiseToken[]> Messages { get; }

    public bool UsesKem { get; }

    /// <summary><c>-&gt; e</c> / <c>&lt;- e, ee, s, es</c> / <c>-&gt; s, se</c>.</summary>
    public static HandshakePattern XX { get; } = new("XX",
    [
        [NoiseToken.E],
        [NoiseToken.E, NoiseToken.EE, NoiseToken.S, NoiseToken.ES],
        [NoiseToken.S, NoiseToken.SE],
    ]);

    /// <summary><c>-&gt; e, e1</c> / <c>&lt;- e, ee, ekem1, s, es</c> / <c>-&gt; s, se</c> (Noise HFS).</summary>
    public static HandshakePattern XXhfs { get; } = new("XXhfs",
    [
        [NoiseToken.E, NoiseToken.E1],
        [NoiseToken.E, NoiseToken.EE, NoiseToken.Ekem1, NoiseToken.S, NoiseToken.ES],
        [NoiseToken.S, NoiseToken.SE],
    ]);
}
