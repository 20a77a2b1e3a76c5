using System.Diagnostics;
using System.Security.Cryptography;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Protocols.Kademlia;

namespace P2PStack.Privacy.ShadowAddresses.Connections;

/// <summary>A shadow address could not be connected to: no descriptor, a refused one, or no introduction point joined
/// the connection; <see cref="Result"/> is the metric label.</summary>
public sealed class ShadowConnectException(string result, string message, Exception? inner = null) : IOException(message, inner)
{
    public string Result { get; } = result;
}

/// <summary>
/// The client side of shadow connections (docs/specs/shadow.md, section 7), as a transport for
/// <c>/shadow/&lt;text&gt;/p2p/&lt;service&gt;</c>: resolves the address's descriptor, builds a circuit to one of its
/// introduction points (in random order, the next after a failure), INTRODUCE with that point's auth key, and hands
/// the joined stream to the host, which runs Noise and yamux end to end under the dial's identity. The peer id is the
/// service's connection identity from the descriptor, so the handshake proves the service holds the address key; the
/// node's own identity never appears. <see cref="ConnectAsync(ShadowAddress, CancellationToken)"/> does all of it under a
/// fresh ephemeral identity, padded (docs/specs/padding.md) when the padding module is added: its policy pads shadow
/// connections by default.
/// </summary>
public sealed class ShadowConnector(IPeerHost host, OnionClient onion, ShadowDirectory directory, ShadowMetrics metrics,
    P2PStack.Privacy.Padding.PaddingPolicy? padding = null) : ITransport
{
    private readonly AsyncLocal<(ShadowAddress Address, ShadowDescriptorContent Content)?> _resolved = new();

    public string Name => "shadow";

    public bool IsProxy => true;

    public bool CanDial(Multiaddr address) => TryAddress(address, out _);

    public bool CanListen(Multiaddr address) => false;

    public ValueTask<IRawConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken) =>
        throw new NotSupportedException("a shadow dial needs the service's peer id and DialOptions.Identity (use ShadowConnector.ConnectAsync)");

    public ValueTask<IListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken) =>
        throw new NotSupportedException("a shadow service is reached through introduction points, not a listener (AddShadowService)");

    /// <summary>
    /// Connects to <paramref name="address"/> under a fresh ephemeral identity: resolution, circuit, introduction,
    /// handshake. The connection is private to the caller (no peer events, nothing stored about the service).
    /// </summary>
    /// <exception cref="ShadowConnectException">Not found, refused, or no introduction point joined.</exception>
    public Task<IConnection> ConnectAsync(ShadowAddress address, CancellationToken cancellationToken) =>
        ConnectAsync(address, new EphemeralIdentity(), cancellationToken);

    /// <summary>Connects to <paramref name="address"/> under <paramref name="identity"/> (keep it to sign what goes over
    /// the connection, e.g. neural messages; a fresh one per connection keeps connections unlinkable).</summary>
    public async Task<IConnection> ConnectAsync(ShadowAddress address, ILocalIdentity identity, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(identity);
        long started = Stopwatch.GetTimestamp();
        ShadowDescriptorContent content;
        try
        {
            content = await directory.ResolveAsync(address, cancellationToken).ConfigureAwait(false);
        }
        catch (DhtNotFoundException e)
        {
            metrics.Connection("not_found");
            throw new ShadowConnectException("not_found", $"no descriptor for {address.ToUri()} in this period", e);
        }
        catch (ShadowFormatException e)
        {
            metrics.Connection("invalid");
            throw new ShadowConnectException("invalid", $"the descriptor of {address.ToUri()} was refused: {e.Message}", e);
        }
        catch (Exception e) when (e is CircuitException or DhtNoPeersException or ResourceLimitExceededException)
        {
            // The directory is reached over circuits (or the DHT is empty): no circuit could be built.
            metrics.Connection("unreachable");
            throw new ShadowConnectException("unreachable", $"the DHT could not be asked for {address.ToUri()}: {e.Message}", e);
        }
        var service = content.Service ?? throw new ShadowConnectException("invalid", "the descriptor names no service identity");
        var target = address.ToMultiaddr().Encapsulate($"/p2p/{service}");
        var previous = _resolved.Value;
        _resolved.Value = (address, content);
        try
        {
            var options = new DialOptions { Identity = identity, ForceNewConnection = true };
            var connection = padding is null
                ? await host.DialAsync(target, options, cancellationToken).ConfigureAwait(false)
                : await padding.DialAsync(host, target, options, P2PStack.Privacy.Padding.PaddingScope.ShadowConnection, cancellationToken).ConfigureAwait(false);
            metrics.Connection("ok", Stopwatch.GetElapsedTime(started));
            return connection;
        }
        catch (ShadowConnectException e)
        {
            metrics.Connection(e.Result);
            throw;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            metrics.Connection("handshake");
            throw new ShadowConnectException("handshake", $"the end-to-end handshake with {address.ToUri()} failed: {e.Message}", e);
        }
        finally
        {
            _resolved.Value = previous;
        }
    }

    public async ValueTask<IRawConnection> DialAsync(Multiaddr address, PeerId? peer, DialOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!TryAddress(address, out var shadow)) throw new NotSupportedException($"not a shadow address: {address}");
        if (peer is null) throw new NotSupportedException($"a shadow dial names the service's peer id from the descriptor: {address}/p2p/<service>");
        if (options.Identity is null)
            throw new NotSupportedException("a shadow dial needs DialOptions.Identity (an ephemeral identity: ShadowConnector.ConnectAsync)");
        ShadowDescriptorContent content;
        if (_resolved.Value is { } pinned && pinned.Address.Equals(shadow)) content = pinned.Content;
        else content = await directory.ResolveAsync(shadow, cancellationToken).ConfigureAwait(false);
        if (content.Service is not { } service || !service.Equals(peer))
            throw new ShadowConnectException("invalid", $"the descriptor of {shadow.ToUri()} names another service identity");
        var points = content.IntroductionPoints.ToArray();
        RandomNumberGenerator.Shuffle(points.AsSpan());
        var failures = new List<string>();
        foreach (var point in points)
        {
            try
            {
                return await onion.IntroduceAsync(point.Relay, point.AuthKey, address, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is CircuitException or OnionStreamException or OnionFormatException or ResourceLimitExceededException)
            {
                failures.Add($"{point.Relay}: {e.Message}");
            }
        }
        throw new ShadowConnectException("unreachable",
            $"no introduction point of {shadow.ToUri()} joined the connection ({string.Join("; ", failures)})");
    }

    private static bool TryAddress(Multiaddr address, out ShadowAddress shadow)
    {
        shadow = null!;
        var components = address.Components;
        if (components.Count != 1 || components[0].Protocol != ShadowAddress.Protocol) return false;
        return ShadowAddress.TryParse(address.ToString(), out shadow!);
    }
}
