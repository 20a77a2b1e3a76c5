using P2PStack.Security.Noise.Protocol;

namespace P2PStack.Security.Noise;

/// <summary>Post-quantum strength of a Noise suite: the NIST level of its ML-KEM, or none (X25519 only).</summary>
public enum PostQuantumLevel
{
    /// <summary><c>/noise</c>: X25519 only, open to harvest-now-decrypt-later.</summary>
    Classical = 0,

    /// <summary>ML-KEM-512, NIST level 1.</summary>
    MLKem512 = 1,

    /// <summary>ML-KEM-768, NIST level 3 (the libp2p draft suite).</summary>
    MLKem768 = 3,

    /// <summary>ML-KEM-1024, NIST level 5.</summary>
    MLKem1024 = 5,
}

/// <summary>
/// A libp2p Noise security protocol: its multistream-select id and the concrete Noise protocol it runs. The
/// libp2p payload, framing and early muxer negotiation are the same for every suite.
/// </summary>
public sealed class NoiseSuite
{
    private NoiseSuite(string protocolId, NoiseProtocol protocol, PostQuantumLevel level)
    {
        ProtocolId = protocolId;
        Protocol = protocol;
        Level = level;
    }

    /// <summary><c>/noise</c>: Noise_XX_25519_ChaChaPoly_SHA256 (libp2p specs noise/README.md).</summary>
    public static NoiseSuite Classical { get; } =
        new("/noise", NoiseProtocol.XX25519ChaChaPolySha256, PostQuantumLevel.Classical);

    /// <summary><c>/noise-mlkem512-hfs/0.1.0</c>: Noise_XXhfs_25519+MLKEM512 (docs/specs/noise-mlkem-hfs.md).</summary>
    public static NoiseSuite MLKem512 { get; } = new("/noise-mlkem512-hfs/0.1.0",
        new NoiseProtocol(HandshakePattern.XXhfs, MLKemNoiseKem.MLKem512), PostQuantumLevel.MLKem512);

    /// <summary><c>/noise-mlkem768-hfs/0.1.0</c>: Noise_XXhfs_25519+MLKEM768 (libp2p specs noise/pq-mlkem768-hfs.md).</summary>
    public static NoiseSuite MLKem768 { get; } = new("/noise-mlkem768-hfs/0.1.0",
        new NoiseProtocol(HandshakePattern.XXhfs, MLKemNoiseKem.MLKem768), PostQuantumLevel.MLKem768);

    /// <summary><c>/noise-mlkem1024-hfs/0.1.0</c>: Noise_XXhfs_25519+MLKEM1024 (docs/specs/noise-mlkem-hfs.md).</summary>
    public static NoiseSuite MLKem1024 { get; } = new("/noise-mlkem1024-hfs/0.1.0",
        new NoiseProtocol(HandshakePattern.XXhfs, MLKemNoiseKem.MLKem1024), PostQuantumLevel.MLKem1024);

    /// <summary>Every suite, strongest first.</summary>
    public static IReadOnlyList<NoiseSuite> All { get; } = [MLKem1024, MLKem768, MLKem512, Classical];

    /// <summary>The multistream-select protocol id.</summary>
    public string ProtocolId { get; }

    /// <summary>The Noise protocol (its name is hashed into the handshake).</summary>
    public NoiseProtocol Protocol { get; }

    public PostQuantumLevel Level { get; }

    public bool IsPostQuantum => Level != PostQuantumLevel.Classical;

    /// <summary>The hybrid suite of a level; <see cref="Classical"/> for <see cref="PostQuantumLevel.Classical"/>.</summary>
    public static NoiseSuite ForLevel(PostQuantumLevel level) => level switch
    {
        PostQuantumLevel.Classical => Classical,
        PostQuantumLevel.MLKem512 => MLKem512,
        PostQuantumLevel.MLKem768 => MLKem768,
        PostQuantumLevel.MLKem1024 => MLKem1024,
        _ => throw new ArgumentOutOfRangeException(nameof(level), level, "unknown post-quantum level"),
    };

    public override string ToString() => ProtocolId;
}
