namespace P2PStack.Security.Noise;

/// <summary>Limits and policy of the Noise secure channels.</summary>
public sealed class NoiseOptions
{
    /// <summary>Longest a handshake may take; past it the handshake fails with a HandshakeException.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long disposing a connection waits for the transport to send the data already written and close,
    /// before aborting it.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Decrypted bytes buffered for the application before the connection stops reading the transport.</summary>
    public int ReceiveBufferSize { get; set; } = 1 << 20;

    /// <summary>Where the transport writers' plaintext buffers come from (tests substitute a pool that checks every
    /// return).</summary>
    internal System.Buffers.ArrayPool<byte> WriteBufferPool { get; set; } = System.Buffers.ArrayPool<byte>.Shared;

    /// <summary>How long one local identity keeps its Noise static key (and the signature over it) before a handshake
    /// makes a new one; zero: a new key for every handshake. The libp2p spec leaves the lifetime open (other
    /// implementations keep one key per process); forward secrecy comes from the ephemeral keys.</summary>
    public TimeSpan StaticKeyLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Most local identities whose static keys are kept (per-connection identities each have one); the
    /// oldest key goes first. Zero: none kept.</summary>
    public int StaticKeyCacheSize { get; set; } = 64;

    /// <summary>Most remote handshake signatures (identity key, static key, signature) kept as verified, so that a
    /// peer reconnecting with the same static key is not verified again; the oldest goes first. Zero: verify
    /// every handshake.</summary>
    public int VerifiedPayloadCacheSize { get; set; } = 1024;

    /// <summary>Which hybrid post-quantum suites are offered and accepted.</summary>
    public PostQuantumOptions PostQuantum { get; } = new();

    /// <exception cref="ArgumentException">An option is out of range or the post-quantum policy allows no suite.</exception>
    public void Validate()
    {
        if (HandshakeTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("HandshakeTimeout must be positive", nameof(HandshakeTimeout));
        }

        if (CloseTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("CloseTimeout must be positive", nameof(CloseTimeout));
        }

        if (StaticKeyLifetime < TimeSpan.Zero)
        {
            throw new ArgumentException("StaticKeyLifetime must not be negative", nameof(StaticKeyLifetime));
        }

        if (StaticKeyCacheSize is < 0 or > 65536)
        {
            throw new ArgumentException("StaticKeyCacheSize must be 0 to 65536", nameof(StaticKeyCacheSize));
        }

        if (VerifiedPayloadCacheSize is < 0 or > 1 << 20)
        {
            throw new ArgumentException("VerifiedPayloadCacheSize must be 0 to 1048576", nameof(VerifiedPayloadCacheSize));
        }

        if (ReceiveBufferSize < 64 * 1024)
        {
            throw new ArgumentException("ReceiveBufferSize must hold at least one 64 KiB frame");
        }

        if (PostQuantum.SuitesInPreferenceOrder().Count == 0)
        {
            throw new ArgumentException("the post-quantum options allow no Noise suite (RequirePostQuantum without Enabled?)");
        }
    }
}

/// <summary>
/// Policy of the hybrid suites. Multistream-select offers the hybrid suites first, the preferred level leading,
/// then classical <c>/noise</c> when the policy still allows it. The host enforces the same policy on the suite a
/// connection negotiated (<see cref="Permits"/>), so a peer cannot push a connection below it.
/// </summary>
public sealed class PostQuantumOptions
{
    /// <summary>Register the hybrid suites at all (default on).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The hybrid suite offered first (default ML-KEM-768, the libp2p draft suite).</summary>
    public PostQuantumLevel PreferredLevel { get; set; } = PostQuantumLevel.MLKem768;

    /// <summary>The weakest suite offered or accepted (default: classical accepted).</summary>
    public PostQuantumLevel MinimumLevel { get; set; } = PostQuantumLevel.Classical;

    /// <summary>Refuse classical <c>/noise</c>: same as a minimum of at least ML-KEM-512.</summary>
    public bool RequirePostQuantum { get; set; }

    /// <summary>The weakest level this policy accepts.</summary>
    public PostQuantumLevel EffectiveMinimum =>
        RequirePostQuantum && MinimumLevel < PostQuantumLevel.MLKem512 ? PostQuantumLevel.MLKem512 : MinimumLevel;

    /// <summary>Whether a connection secured at <paramref name="level"/> is acceptable.</summary>
    public bool Permits(PostQuantumLevel level) =>
        level >= EffectiveMinimum && (level == PostQuantumLevel.Classical || Enabled);

    /// <summary>
    /// The suites to register, in multistream-select preference order: the preferred hybrid level, the other
    /// permitted hybrid levels strongest first, then <c>/noise</c> if permitted.
    /// </summary>
    public IReadOnlyList<NoiseSuite> SuitesInPreferenceOrder()
    {
        var suites = new List<NoiseSuite>(4);
        if (Enabled)
        {
            if (PreferredLevel != PostQuantumLevel.Classical && Permits(PreferredLevel))
            {
                suites.Add(NoiseSuite.ForLevel(PreferredLevel));
            }

            foreach (var suite in NoiseSuite.All)
            {
                if (suite.IsPostQuantum && suite.Level != PreferredLevel && Permits(suite.Level))
                {
                    suites.Add(suite);
                }
            }
        }

        if (Permits(PostQuantumLevel.Classical))
        {
            suites.Add(NoiseSuite.Classical);
        }

        return suites;
    }
}
