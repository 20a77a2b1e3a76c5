namespace P2PStack.Security.Noise.Protocol;

/// <summary>
/// A concrete Noise protocol: pattern, DH 25519 (optionally hybrid with a KEM), ChaChaPoly, SHA256.
/// </summary>
public sealed class NoiseProtocol
{
    public NoiseProtocol(HandshakePattern pattern, INoiseKem? kem = null)
    {
        if (pattern.UsesKem != (kem is not null))
        {
            throw new ArgumentException(pattern.UsesKem
                ? $"pattern {pattern.Name} needs a KEM"
                : $"pattern {pattern.Name} has no KEM tokens", nameof(kem));
        }

        Pattern = pattern;
        Kem = kem;
        Name = $"Noise_{pattern.Name}_25519{(kem is null ? "" : "+" + kem.Name)}_ChaChaPoly_SHA256";
    }

    /// <summary>The protocol name hashed into h, e.g. <c>Noise_XX_25519_ChaChaPoly_SHA256</c>.</summary>
    public string Name { get; }

    public HandshakePattern Pattern { get; }

    public INoiseKem? Kem { get; }

    /// <summary><c>Noise_XX_25519_ChaChaPoly_SHA256</c>, the /noise suite.</summary>
    public static NoiseProtocol XX25519ChaChaPolySha256 { get; } = new(HandshakePattern.XX);

    public override string ToString() => Name;
}
