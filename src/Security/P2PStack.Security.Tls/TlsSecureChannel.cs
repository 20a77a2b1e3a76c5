using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using P2PStack.Identity;
using PublicKey = P2PStack.Identity.PublicKey;
using P2PStack.Network;

namespace P2PStack.Security.Tls;

/// <summary>
/// libp2p TLS 1.3 (<c>/tls/1.0.0</c>) on SslStream: both sides present a self-signed certificate proving their libp2p
/// key (<see cref="Libp2pCertificate"/>); certificates are checked by the spec's rules only (no CA, no host names).
/// ALPN carries early muxer negotiation: each side offers its muxers in preference order followed by <c>libp2p</c>;
/// when a muxer is agreed it is used without a multistream round, when <c>libp2p</c> is agreed the muxer is
/// negotiated with multistream-select afterwards.
/// </summary>
public sealed class TlsSecureChannel : IOptimisticSecureChannel
{
    public const string Protocol = "/tls/1.0.0";

    /// <summary>The ALPN token that means "no early muxer".</summary>
    public const string Libp2pAlpn = "libp2p";

    private readonly TlsOptions _options;
    private readonly Lock _certificateLock = new();
    // Certificates by the identity they prove (the host's, and per-connection identities), bounded.
    private readonly Dictionary<PeerId, (SslStreamCertificateContext Context, DateTimeOffset RenewAt)> _certificates = [];

    public TlsSecureChannel(IOptions<TlsOptions> options)
    {
        _options = options.Value;
        _options.Validate();
    }

    public string ProtocolId => Protocol;

    public ValueTask<ISecureConnection> SecureOutboundAsync(IRawConnection connection, ILocalIdentity identity, PeerId? expectedRemotePeer,
        IReadOnlyList<string> muxers, CancellationToken cancellationToken) =>
        HandshakeAsync(connection, identity, outbound: true, expectedRemotePeer, muxers, cancellationToken);

    public ValueTask<ISecureConnection> SecureInboundAsync(IRawConnection connection, ILocalIdentity identity, IReadOnlyList<string> muxers,
        CancellationToken cancellationToken) =>
        HandshakeAsync(connection, identity, outbound: false, null, muxers, cancellationToken);

    /// <summary>The certificate of <paramref name="identity"/>, made on first use and renewed when half its lifetime
    /// is gone. At most <see cref="TlsOptions.MaxCachedCertificates"/> identities are kept; the oldest go first.</summary>
    private SslStreamCertificateContext Certificate(ILocalIdentity identity)
    {
        var now = DateTimeOffset.UtcNow;
        lock (_certificateLock)
        {
            if (_certificates.TryGetValue(identity.PeerId, out var cached) && now < cached.RenewAt) return cached.Context;
            if (_certificates.Count >= _options.MaxCachedCertificates && !_certificates.ContainsKey(identity.PeerId))
                _certificates.Remove(_certificates.MinBy(kv => kv.Value.RenewAt).Key);
            var certificate = Libp2pCertificate.Create(identity.PrivateKey, _options.CertificateLifetime);
            var context = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true);
            _certificates[identity.PeerId] = (context, now + _options.CertificateLifetime / 2);
            return context;
        }
    }

    private async ValueTask<ISecureConnection> HandshakeAsync(IRawConnection connection, ILocalIdentity identity, bool outbound, PeerId? expected,
        IReadOnlyList<string> muxers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(identity);
        var protocols = new List<SslApplicationProtocol>(muxers.Count + 1);
        foreach (string muxer in muxers) protocols.Add(new SslApplicationProtocol(muxer));
        protocols.Add(new SslApplicationProtocol(Libp2pAlpn));

        var verification = new PeerVerification(expected);
        var ssl = new SslStream(new RawConnectionStream(connection), leaveInnerStreamOpen: true, verification.Validate);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.HandshakeTimeout);
        try
        {
            if (outbound)
            {
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = "", // no SNI: peers are named by their key, not a host name
                    ClientCertificateContext = Certificate(identity),
                    EnabledSslProtocols = SslProtocols.Tls13,
                    ApplicationProtocols = protocols,
                    CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                    AllowTlsResume = false,
                }, timeout.Token).ConfigureAwait(false);
            }
            else
            {
                await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = Certificate(identity),
                    ClientCertificateRequired = true,
                    EnabledSslProtocols = SslProtocols.Tls13,
                    ApplicationProtocols = protocols,
                    CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                    AllowTlsResume = false,
                }, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            connection.Abort();
            if (verification.Mismatch is { } mismatch) throw mismatch;
            if (ex is OperationCanceledException && cancellationToken.IsCancellationRequested) throw;
            if (ex is OperationCanceledException)
                throw new HandshakeException($"TLS handshake timed out after {_options.HandshakeTimeout.TotalSeconds:0.###} s", ex);
            if (ex is IOException && cancellationToken.IsCancellationRequested)
                throw new OperationCanceledException("the TLS handshake was cancelled", ex, cancellationToken);
            string reason = verification.Failure ?? ex.Message;
            throw new HandshakeException($"TLS handshake failed: {reason}", ex);
        }

        if (verification.RemoteKey is not { } remoteKey)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            connection.Abort();
            throw new HandshakeException("TLS handshake finished without a verified peer certificate");
        }

        string alpn = ssl.NegotiatedApplicationProtocol.ToString();
        string? earlyMuxer = alpn.Length > 0 && alpn != Libp2pAlpn && muxers.Contains(alpn) ? alpn : null;
        return new TlsConnection(ssl, connection, remoteKey, verification.RemotePeer!, earlyMuxer, _options);
    }

    public override string ToString() => ProtocolId;

    /// <summary>The certificate check of one handshake; what it found is read after the handshake.</summary>
    private sealed class PeerVerification(PeerId? expected)
    {
        public PublicKey? RemoteKey { get; private set; }

        public PeerId? RemotePeer { get; private set; }

        public PeerIdMismatchException? Mismatch { get; private set; }

        public string? Failure { get; private set; }

        public bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
        {
            // The chain and name errors are expected (self-signed, no host name): the spec's own checks replace them.
            if (certificate is null)
            {
                Failure = "the peer sent no certificate";
                return false;
            }
            try
            {
                using var parsed = certificate as X509Certificate2 is { } c2 ? null : new X509Certificate2(certificate);
                var key = Libp2pCertificate.Verify(parsed ?? (X509Certificate2)certificate, DateTimeOffset.UtcNow);
                var peer = PeerId.FromPublicKey(key);
                if (expected is not null && !expected.Equals(peer))
                {
                    Mismatch = new PeerIdMismatchException(expected, peer);
                    return false;
                }
                RemoteKey = key;
                RemotePeer = peer;
                return true;
            }
            catch (TlsCertificateException ex)
            {
                Failure = ex.Message;
                return false;
            }
            catch (System.Security.Cryptography.CryptographicException ex)
            {
                Failure = $"the certificate does not decode: {ex.Message}";
                return false;
            }
        }
    }
}
