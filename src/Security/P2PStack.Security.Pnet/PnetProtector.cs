using System.Buffers;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using P2PStack.Network;

namespace P2PStack.Security.Pnet;

/// <summary>
/// libp2p private networks (PSK v1, as go-libp2p and js @libp2p/pnet implement it): before multistream-select each
/// side sends a random 24-byte nonce in the clear, then all traffic is XORed with XSalsa20(PSK, own nonce) when written
/// and XSalsa20(PSK, remote nonce) when read. Nothing authenticates the key: a peer with another key sends garbage,
/// so the multistream-select negotiation that follows fails and the connection is dropped before any handshake.
/// </summary>
public sealed class PnetProtector : IConnectionProtector
{
    private readonly SwarmKey _key;
    private readonly PnetOptions _options;

    public PnetProtector(IOptions<PnetOptions> options)
    {
        _options = options.Value;
        _key = _options.Key ?? throw new InvalidOperationException("PnetOptions.Key is not set");
        if (_options.NonceExchangeTimeout <= TimeSpan.Zero) throw new ArgumentException("NonceExchangeTimeout must be positive");
    }

    /// <summary>The key's fingerprint (for status output; never the key).</summary>
    public string KeyFingerprint => _key.Fingerprint;

    public async ValueTask<IRawConnection> ProtectAsync(IRawConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        byte[] localNonce = RandomNumberGenerator.GetBytes(XSalsa20.NonceSize);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.NonceExchangeTimeout);
        byte[] remoteNonce = new byte[XSalsa20.NonceSize];
        try
        {
            // Both sides send first: neither waits for the other's nonce before sending its own.
            await connection.Output.WriteAsync(localNonce, timeout.Token).ConfigureAwait(false);
            while (true)
            {
                var result = await connection.Input.ReadAsync(timeout.Token).ConfigureAwait(false);
                var buffer = result.Buffer;
                if (buffer.Length >= XSalsa20.NonceSize)
                {
                    buffer.Slice(0, XSalsa20.NonceSize).CopyTo(remoteNonce);
                    connection.Input.AdvanceTo(buffer.GetPosition(XSalsa20.NonceSize));
                    break;
                }
                connection.Input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                    throw new HandshakeException($"private network: the remote closed after {buffer.Length} of {XSalsa20.NonceSize} nonce bytes");
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"private network: no nonce from the remote within {_options.NonceExchangeTimeout.TotalSeconds:0.###} s");
        }
        return new PnetConnection(connection, new XSalsa20(_key.Key, localNonce), new XSalsa20(_key.Key, remoteNonce));
    }
}
