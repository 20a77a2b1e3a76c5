using Google.Protobuf;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Discovery.Rendezvous.Pb;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Records;
using Status = P2PStack.Discovery.Rendezvous.Pb.Message.Types.ResponseStatus;
using MessageType = P2PStack.Discovery.Rendezvous.Pb.Message.Types.MessageType;

namespace P2PStack.Discovery.Rendezvous;

/// <summary>A verified registration returned by DISCOVER.</summary>
public sealed record DiscoveredRegistration(string Namespace, PeerId Peer, IReadOnlyList<Multiaddr> Addresses, TimeSpan Ttl,
    SignedEnvelope SignedPeerRecord);

/// <summary>One page of DISCOVER: the registrations whose records verified, the cookie for the next page, and how
/// many registrations were skipped because their record did not verify or did not match.</summary>
public sealed record RendezvousPage(IReadOnlyList<DiscoveredRegistration> Registrations, byte[] Cookie, int Rejected);

/// <summary>
/// The client side of <c>/rendezvous/1.0.0</c>: registers this peer (with a signed peer record of its advertised
/// addresses) at a rendezvous point, unregisters, and discovers registrations. Each call uses one stream. Discovered
/// records are verified (signature, signer = registered peer, namespace as asked) and their addresses go to the
/// peer store for the registration's TTL.
/// </summary>
public sealed class RendezvousClient(IPeerHost host, ILocalIdentity identity, IOptions<RendezvousClientOptions> options)
{
    private readonly RendezvousClientOptions _options = Validated(options.Value);

    /// <summary>Registers under <paramref name="ns"/>; returns the TTL the point granted.</summary>
    /// <exception cref="RendezvousException">The point refused (status and text).</exception>
    public async Task<TimeSpan> RegisterAsync(PeerId server, string ns, TimeSpan? ttl = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentException.ThrowIfNullOrEmpty(ns);
        var addresses = host.AdvertisedAddresses;
        if (addresses.Count == 0) throw new InvalidOperationException("this node has no address to register");
        var record = new PeerRecord(identity.PeerId, PeerRecord.NextTimestampSeq(), addresses).Seal(identity.PrivateKey);
        var register = new Message.Types.Register { Ns = ns, SignedPeerRecord = ByteString.CopyFrom(record.ToBytes()) };
        if (ttl is { } t) register.Ttl = (ulong)Math.Ceiling(t.TotalSeconds);
        var response = await RequestAsync(server, new Message { Type = MessageType.Register, Register = register }, cancellationToken)
            .ConfigureAwait(false);
        var answer = response?.Type == MessageType.RegisterResponse ? response.RegisterResponse : null;
        if (answer is null) throw new RendezvousFormatException("expected a REGISTER_RESPONSE");
        if (answer.Status != Status.Ok) throw new RendezvousException(answer.Status, answer.StatusText);
        return TimeSpan.FromSeconds(answer.Ttl);
    }

    /// <summary>Removes this peer's registration under <paramref name="ns"/> (the spec has no response).</summary>
    public async Task UnregisterAsync(PeerId server, string ns, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentException.ThrowIfNullOrEmpty(ns);
        await RequestAsync(server, new Message { Type = MessageType.Unregister, Unregister = new Message.Types.Unregister { Ns = ns } },
            cancellationToken, expectResponse: false).ConfigureAwait(false);
    }

    /// <summary>One page of registrations under <paramref name="ns"/> (null or empty: every namespace), after
    /// <paramref name="cookie"/>; <paramref name="limit"/> 0 lets the point choose.</summary>
    /// <exception cref="RendezvousException">The point refused (status and text).</exception>
    public async Task<RendezvousPage> DiscoverAsync(PeerId server, string? ns, int limit = 0, ReadOnlyMemory<byte> cookie = default,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        var discover = new Message.Types.Discover();
        if (!string.IsNullOrEmpty(ns)) discover.Ns = ns;
        if (limit > 0) discover.Limit = (ulong)limit;
        if (!cookie.IsEmpty) discover.Cookie = ByteString.CopyFrom(cookie.Span);
        var response = await RequestAsync(server, new Message { Type = MessageType.Discover, Discover = discover }, cancellationToken)
            .ConfigureAwait(false);
        var answer = response?.Type == MessageType.DiscoverResponse ? response.DiscoverResponse : null;
        if (answer is null) throw new RendezvousFormatException("expected a DISCOVER_RESPONSE");
        if (answer.Status != Status.Ok) throw new RendezvousException(answer.Status, answer.StatusText);
        var found = new List<DiscoveredRegistration>(answer.Registrations.Count);
        int rejected = 0;
        foreach (var registration in answer.Registrations)
        {
            if (Verify(registration, ns) is { } verified)
            {
                found.Add(verified);
                if (verified.Peer != identity.PeerId)
                {
                    var keep = verified.Ttl < _options.MaxAddressTtl ? verified.Ttl : _options.MaxAddressTtl;
                    if (keep > TimeSpan.Zero) host.PeerStore.AddAddresses(verified.Peer, verified.Addresses, keep);
                }
            }
            else
            {
                rejected++;
            }
        }
        return new RendezvousPage(found, answer.Cookie.ToByteArray(), rejected);
    }

    /// <summary>Every registration under <paramref name="ns"/>, following cookies until a page comes back short.</summary>
    public async Task<IReadOnlyList<DiscoveredRegistration>> DiscoverAllAsync(PeerId server, string? ns, int pageSize = 0, int maxPages = 100,
        CancellationToken cancellationToken = default)
    {
        var all = new List<DiscoveredRegistration>();
        ReadOnlyMemory<byte> cookie = default;
        for (int page = 0; page < maxPages; page++)
        {
            var result = await DiscoverAsync(server, ns, pageSize, cookie, cancellationToken).ConfigureAwait(false);
            all.AddRange(result.Registrations);
            int returned = result.Registrations.Count + result.Rejected;
            if (returned == 0 || (pageSize > 0 && returned < pageSize)) break;
            cookie = result.Cookie;
        }
        return all;
    }

    /// <summary>A registration of a DISCOVER_RESPONSE as the client takes it: its namespace as asked, a signed peer
    /// record that opens; null when it is not usable.</summary>
    internal static DiscoveredRegistration? Verify(Message.Types.Register registration, string? ns)
    {
        if (!string.IsNullOrEmpty(ns) && registration.Ns != ns) return null;
        try
        {
            var envelope = SignedEnvelope.Open(registration.SignedPeerRecord.Span, PeerRecord.Domain);
            var record = PeerRecord.FromEnvelope(envelope);
            return new DiscoveredRegistration(registration.Ns, record.PeerId, record.Addresses, TimeSpan.FromSeconds(Math.Min(registration.Ttl, int.MaxValue)),
                envelope);
        }
        catch (Exception e) when (e is EnvelopeException or PeerRecordException)
        {
            return null;
        }
    }

    private async Task<Message?> RequestAsync(PeerId server, Message request, CancellationToken cancellationToken, bool expectResponse = true)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        try
        {
            var stream = await host.OpenStreamAsync(server, _options.ProtocolIds, timeout.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                try
                {
                    await RendezvousProtocol.WriteAsync(stream.Output, request, timeout.Token).ConfigureAwait(false);
                    await stream.Output.CompleteAsync().ConfigureAwait(false);
                    if (!expectResponse) return null;
                    return await RendezvousProtocol.ReadAsync(stream.Input, _options.MaxResponseSize, timeout.Token).ConfigureAwait(false)
                        ?? throw new RendezvousFormatException("the rendezvous point closed the stream without a response");
                }
                catch
                {
                    stream.Reset();
                    throw;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"rendezvous request to {server} timed out after {_options.RequestTimeout.TotalSeconds:0.#} s");
        }
    }

    private static RendezvousClientOptions Validated(RendezvousClientOptions options)
    {
        options.Validate();
        return options;
    }
}
