namespace P2PStack.Security.Tls;

/// <summary>Limits of the libp2p TLS secure channel.</summary>
public sealed class TlsOptions
{
    /// <summary>Longest a handshake may take; past it the handshake fails with a HandshakeException.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long disposing a connection waits to send close_notify and the data already written.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Size of the plaintext read buffer handed to the application (the muxer).</summary>
    public int ReadBufferSize { get; set; } = 64 * 1024;

    /// <summary>Where the plaintext writer's buffers come from (tests substitute a pool that checks every return).</summary>
    internal System.Buffers.MemoryPool<byte> WriteBufferPool { get; set; } = System.Buffers.MemoryPool<byte>.Shared;

    /// <summary>How long the certificate of this node is valid; a new one is made when it has half of it left.</summary>
    public TimeSpan CertificateLifetime { get; set; } = TimeSpan.FromDays(365 * 100);

    /// <summary>Identities whose certificates are kept (the host's, and per-connection ones).</summary>
    public int MaxCachedCertificates { get; set; } = 64;

    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public void Validate()
    {
        if (HandshakeTimeout <= TimeSpan.Zero) throw new ArgumentException("HandshakeTimeout must be positive", nameof(HandshakeTimeout));
        if (CloseTimeout <= TimeSpan.Zero) throw new ArgumentException("CloseTimeout must be positive", nameof(CloseTimeout));
        if (ReadBufferSize < 4096) throw new ArgumentException("ReadBufferSize must be at least 4096", nameof(ReadBufferSize));
        if (MaxCachedCertificates < 1) throw new ArgumentException("MaxCachedCertificates must be positive", nameof(MaxCachedCertificates));
        if (CertificateLifetime < TimeSpan.FromHours(2)) throw new ArgumentException("CertificateLifetime must be at least 2 hours", nameof(CertificateLifetime));
    }
}
