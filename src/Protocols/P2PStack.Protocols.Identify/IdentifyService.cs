using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Records;

namespace P2PStack.Protocols.Identify;

/// <summary>
/// identify (<c>/ipfs/id/1.0.0</c>) and identify push (<c>/ipfs/id/push/1.0.0</c>): answers who we are, asks every
/// newly connected peer the same, keeps the peer store up to date (signed peer records preferred over plain listen
/// addresses), reports observed addresses to the address manager, and pushes our protocols and addresses to connected
/// peers when they change. Runs on limited connections. On a connection under a per-connection identity it reveals
/// nothing but that identity's key and the protocols: no listen or observed addresses, no signed peer record.
/// </summary>
public sealed partial class IdentifyService : IProtocolHandler, IDisposable
{
    /// <summary>Peer store metadata keys.</summary>
    public const string AgentVersionKey = "AgentVersion";
    public const string ProtocolVersionKey = "ProtocolVersion";

    private readonly IPeerHost _host;
    private readonly ILocalIdentity _identity;
    private readonly IdentifyOptions _options;
    private readonly ILogger<IdentifyService> _logger;
    private readonly IDisposable _onConnected;
    private readonly IDisposable _onProtocolsChanged;
    private readonly IDisposable _onAddressesChanged;
    private SignedRecordCache? _signedRecord;
    private readonly VerifiedRecordCache _verifiedRecords;

    public IdentifyService(IPeerHost host, ILocalIdentity identity, IOptions<IdentifyOptions> options, ILogger<IdentifyService> logger)
    {
        _host = host;
        _identity = identity;
        _options = options.Value;
        _logger = logger;
        _verifiedRecords = new VerifiedRecordCache(_options.VerifiedRecordCacheSize);
        _onConnected = host.Events.Subscribe<PeerConnected>(e => host.RunInBackground(token => IdentifyInBackgroundAsync(e.Connection, token)));
        _onProtocolsChanged = host.Events.Subscribe<LocalProtocolsChanged>(_ => host.RunInBackground(PushToAllAsync));
        _onAddressesChanged = host.Events.Subscribe<LocalAddressesChanged>(_ => host.RunInBackground(PushToAllAsync));
    }

    public IReadOnlyList<string> Protocols { get; } = [IdentifyProtocol.Id, IdentifyProtocol.PushId];

    /// <summary>Identify helps set up direct connections (DCUtR reads the addresses it brings), so it runs on limited
    /// connections too.</summary>
    public bool RunOnLimitedConnections => true;

    /// <summary>Over an anonymous connection identify says nothing but the key and the protocols served there.</summary>
    public bool RunOnAnonymousConnections => true;

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream.ConfigureAwait(false))
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.Timeout);
            if (stream.Protocol == IdentifyProtocol.Id)
            {
                await IdentifyProtocol.WriteAsync(stream.Output, BuildMessage(stream.Connection), timeout.Token).ConfigureAwait(false);
                return;
            }
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            var message = await IdentifyProtocol.ReadAsync(stream.Input, _options.MaxMessageSize, timeout.Token).ConfigureAwait(false);
            Consume(stream.Connection, message, isPush: true);
        }
    }

    /// <summary>Runs identify over the connection and stores what the peer says; publishes <see cref="PeerIdentified"/>
    /// (except on a connection under a per-connection identity).</summary>
    /// <exception cref="TimeoutException">The exchange took longer than <see cref="IdentifyOptions.Timeout"/>.</exception>
    /// <exception cref="IOException">The exchange was torn down underneath (the connection or stream closed).</exception>
    public async Task<IdentifyInfo> IdentifyAsync(IConnection connection, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Timeout);
        try
        {
            return await ExchangeAsync(connection, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && timeout.IsCancellationRequested)
        {
            // Our own timeout, not the caller's cancellation.
            throw new TimeoutException(
                $"identify with {connection.RemotePeer} took longer than IdentifyOptions.Timeout ({_options.Timeout.TotalSeconds:0.###} s)", ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // Neither the caller's token nor our timeout: the stream or connection torn down underneath (an
            // OperationCanceledException is only ever the caller's).
            throw new IOException($"identify with {connection.RemotePeer} was aborted: {ex.Message}", ex);
        }
    }

    private async Task<IdentifyInfo> ExchangeAsync(IConnection connection, CancellationToken token)
    {
        var stream = await connection.OpenStreamAsync([IdentifyProtocol.Id], token).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            var message = await IdentifyProtocol.ReadAsync(stream.Input, _options.MaxMessageSize, token).ConfigureAwait(false);
            var info = Consume(connection, message, isPush: false);
            if (_logger.IsEnabled(LogLevel.Debug)) // the candidate lookup prunes and copies: only when it is logged
            {
                LogIdentified(connection.RemotePeer, connection.LocalAddress, info.ObservedAddress?.ToString() ?? "none",
                    info.ObservedAddress is { } seen && _host.AddressManager.ObservedAddressCandidates.Contains(seen));
            }
            // A private connection (per-connection identity) raises no peer events: modules reacting to them would
            // open streams that tie the identities together.
            if (connection.LocalPeer.Equals(_identity.PeerId))
                _host.Events.Publish(new PeerIdentified(connection.RemotePeer, connection, info.ProtocolsStored ? info.Protocols : null));
            return info;
        }
    }

    /// <summary>Sends our current identify message to every connected peer that speaks identify push.</summary>
    public async Task PushToAllAsync(CancellationToken cancellationToken)
    {
        foreach (var connection in _host.GetConnections())
        {
            if (!_host.PeerStore.GetProtocols(connection.RemotePeer).Contains(IdentifyProtocol.PushId)) continue;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(_options.Timeout);
                var stream = await connection.OpenStreamAsync([IdentifyProtocol.PushId], timeout.Token).ConfigureAwait(false);
                await using (stream.ConfigureAwait(false))
                {
                    await IdentifyProtocol.WriteAsync(stream.Output, BuildMessage(connection), timeout.Token).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                if (cancellationToken.IsCancellationRequested) return;
                LogPushFailed(connection.RemotePeer, ex.Message);
            }
        }
    }

    public void Dispose()
    {
        _onConnected.Dispose();
        _onProtocolsChanged.Dispose();
        _onAddressesChanged.Dispose();
    }

    private async Task IdentifyInBackgroundAsync(IConnection connection, CancellationToken cancellationToken)
    {
        try
        {
            await IdentifyAsync(connection, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException && !cancellationToken.IsCancellationRequested)
        {
            LogIdentifyFailed(connection.RemotePeer, ex.Message);
        }
    }

    private Pb.Identify BuildMessage(IConnection connection)
    {
        var message = new Pb.Identify
        {
            ProtocolVersion = _options.ProtocolVersion,
            AgentVersion = _options.AgentVersion,
            PublicKey = ByteString.CopyFrom(connection.LocalPublicKey.ToProtobuf()),
        };
        // On an anonymous connection, only what is served there: the rest would fingerprint this node.
        message.Protocols.AddRange(connection.IsAnonymous ? _host.Protocols.Where(connection.ServesInbound) : _host.Protocols);
        // Under a per-connection identity, anything more would tie that identity to this node.
        if (!connection.LocalPeer.Equals(_identity.PeerId)) return message;

        var addresses = _host.AdvertisedAddresses;
        message.ObservedAddr = ByteString.CopyFrom(connection.RemoteAddress.Bytes.Span);
        message.ListenAddrs.AddRange(addresses.Select(a => ByteString.CopyFrom(a.Bytes.Span)));
        // A record without addresses says nothing, and js-libp2p takes a record's addresses over all it knew: it
        // would forget the address it reached us by (a relay circuit, for a node that does not listen).
        if (_options.SendSignedPeerRecord && addresses.Count > 0) message.SignedPeerRecord = ByteString.CopyFrom(SignedRecord(addresses));
        return message;
    }

    /// <summary>The sealed record for the current addresses, re-signed only when they change.</summary>
    private byte[] SignedRecord(IReadOnlyList<Multiaddr> addresses)
    {
        string key = string.Join(",", addresses);
        var cached = Volatile.Read(ref _signedRecord);
        if (cached is not null && cached.Key == key) return cached.Envelope;
        var record = new PeerRecord(_identity.PeerId, PeerRecord.NextTimestampSeq(), addresses);
        byte[] envelope = record.Seal(_identity.PrivateKey).ToBytes();
        Volatile.Write(ref _signedRecord, new SignedRecordCache(key, envelope));
        return envelope;
    }

    private sealed record SignedRecordCache(string Key, byte[] Envelope);

    private IdentifyInfo Consume(IConnection connection, Pb.Identify message, bool isPush)
    {
        var peer = connection.RemotePeer;
        // Everything below lands in the peer store: refuse what no honest peer sends before storing any of it.
        if (message.ListenAddrs.Count > _options.MaxListenAddresses)
            throw new IdentifyException($"identify: {peer} sent {message.ListenAddrs.Count} listen addresses, over the limit of {_options.MaxListenAddresses}");
        if (message.Protocols.Count > _options.MaxProtocols)
            throw new IdentifyException($"identify: {peer} sent {message.Protocols.Count} protocols, over the limit of {_options.MaxProtocols}");
        PublicKey? key = null;
        if (message.HasPublicKey)
        {
            key = DecodeKey(message.PublicKey.Span);
            if (!peer.Matches(key)) throw new IdentifyException($"identify: the public key sent by {peer} is not its own");
            _host.PeerStore.AddPublicKey(peer, key);
        }

        SignedEnvelope? envelope = null;
        PeerRecord? record = null;
        if (message.HasSignedPeerRecord)
        {
            var encoded = message.SignedPeerRecord.Span;
            if (_verifiedRecords.TryGet(peer, encoded, out var known, out var knownRecord))
            {
                (envelope, record) = (known, knownRecord); // the same bytes as last time: verified and checked then
            }
            else try
            {
                envelope = SignedEnvelope.Open(encoded, PeerRecord.Domain);
                record = PeerRecord.FromEnvelope(envelope);
                if (!record.PeerId.Equals(peer)) throw new IdentifyException($"identify: {peer} sent the peer record of {record.PeerId}");
                if (record.Addresses.Count > _options.MaxListenAddresses)
                    throw new IdentifyException($"identify: the peer record of {peer} lists {record.Addresses.Count} addresses, over the limit of {_options.MaxListenAddresses}");
                _verifiedRecords.Add(peer, encoded, envelope, record);
            }
            catch (P2PFormatException ex) when (ex is not IdentifyException)
            {
                LogBadRecord(peer, ex.Message);
                envelope = null;
                record = null;
            }
        }

        var listenAddresses = record?.Addresses ?? DecodeAddresses(message.ListenAddrs);
        if (record is not null && envelope is not null)
            _host.PeerStore.ConsumePeerRecord(envelope, record, _options.AddressTtl);
        else
            _host.PeerStore.AddAddresses(peer, listenAddresses, _options.AddressTtl);

        bool protocolsStored = message.Protocols.Count > 0 || message.HasPublicKey;
        if (protocolsStored) _host.PeerStore.SetProtocols(peer, message.Protocols);
        if (message.HasAgentVersion) _host.PeerStore.SetMetadata(peer, AgentVersionKey, message.AgentVersion);
        if (message.HasProtocolVersion) _host.PeerStore.SetMetadata(peer, ProtocolVersionKey, message.ProtocolVersion);

        Multiaddr? observed = null;
        if (message.HasObservedAddr && Multiaddr.TryDecode(message.ObservedAddr.Span, out var o) && o is not null)
        {
            observed = o;
            // Only answers to our own requests count: a peer could push any number of made-up observations.
            if (!isPush) _host.AddressManager.RecordObservedAddress(connection, o);
        }
        return new IdentifyInfo(peer, key, message.HasProtocolVersion ? message.ProtocolVersion : null,
            message.HasAgentVersion ? message.AgentVersion : null, listenAddresses, [.. message.Protocols], observed, envelope)
        {
            ProtocolsStored = protocolsStored,
        };
    }

    private static PublicKey DecodeKey(ReadOnlySpan<byte> encoded)
    {
        try
        {
            return PublicKey.FromProtobuf(encoded);
        }
        catch (KeyFormatException ex)
        {
            throw new IdentifyException($"identify: invalid public key: {ex.Message}", ex);
        }
    }

    private static List<Multiaddr> DecodeAddresses(IEnumerable<ByteString> encoded)
    {
        var result = new List<Multiaddr>();
        foreach (var bytes in encoded)
        {
            // Unknown or malformed addresses are skipped, as other implementations do.
            if (Multiaddr.TryDecode(bytes.Span, out var address) && address is not null) result.Add(address);
        }
        return result;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Identified {Peer} from {LocalAddress}: it sees us at {Observed} (kept as a candidate: {Kept})")]
    private partial void LogIdentified(PeerId peer, Multiaddr localAddress, string observed, bool kept);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Identify with {Peer} failed: {Reason}")]
    private partial void LogIdentifyFailed(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Identify push to {Peer} failed: {Reason}")]
    private partial void LogPushFailed(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Ignoring the invalid signed peer record of {Peer}: {Reason}")]
    private partial void LogBadRecord(PeerId peer, string reason);
}
