using Google.Protobuf;
using Microsoft.Extensions.Logging;
using P2PStack.Crypto.MLKem;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Neural.Messages;
using P2PStack.Records;

namespace P2PStack.Neural;

public sealed partial class NeuralMesh
{
    private readonly Lock _sealGate = new();
    private readonly Dictionary<PeerId, (byte[] Key, DateTimeOffset Expires)> _peerSealingKeys = [];
    private XWingKem? _sealingKey;
    private byte[]? _sealingKeyRecord;

    /// <summary>This node's X-Wing key pair for sealed messages (made on first use, or from
    /// <see cref="NeuralMeshOptions.SealingKeySeed"/>).</summary>
    private XWingKem SealingKey
    {
        get
        {
            lock (_sealGate)
            {
                return _sealingKey ??= Options.SealingKeySeed is { Length: XWingKem.SeedSize } seed
                    ? XWingKem.FromSeed(seed)
                    : XWingKem.GenerateKey();
            }
        }
    }

    /// <summary>The X-Wing public key others seal messages to this node with (published in agent records and served on
    /// <see cref="NeuralProtocol.SealingKeyProtocolId"/>).</summary>
    public byte[] SealingPublicKey => SealingKey.ExportPublicKey();

    /// <summary>This node's signed sealing key record, as served to peers that ask.</summary>
    internal byte[] SealingKeyRecord()
    {
        lock (_sealGate)
        {
            return _sealingKeyRecord ??= SealingKeyRecords.Create(SealingPublicKey, PeerRecord.NextTimestampSeq(), _identity.PrivateKey);
        }
    }

    /// <summary>
    /// The key to seal a message to <paramref name="peer"/> with, or null to send it in the clear: sealing is off for
    /// this message, or it is for this node, or (sealing by default only) the peer publishes no key.
    /// </summary>
    /// <param name="existingConnectionOnly">Fetch the key only over a connection that already exists (responses and
    /// anything done on a sender's behalf never dial).</param>
    /// <exception cref="SealingKeyUnavailableException">Sealing was asked for explicitly and the peer has no key.</exception>
    /// <param name="connection">Fetch the key over this connection only (a message sent over it, e.g. through an onion
    /// circuit, must not dial the peer directly).</param>
    internal async Task<byte[]?> SealingKeyForAsync(PeerId peer, SendOptions? options, CancellationToken cancellationToken,
        bool existingConnectionOnly = false, Network.IConnection? connection = null)
    {
        bool explicitly = options?.Seal == true;
        if (!(options?.Seal ?? Options.SealByDefault) || peer == LocalPeer) return null;
        var now = Now;
        lock (_sealGate)
        {
            if (_peerSealingKeys.TryGetValue(peer, out var cached) && cached.Expires > now) return cached.Key;
        }
        try
        {
            if (existingConnectionOnly && _host.GetConnections(peer).Count == 0)
                throw new IOException("its key is not cached and no connection to it exists (this send never dials)");
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Options.SealingKeyFetchTimeout);
            var stream = connection is null
                ? await _host.OpenStreamAsync(peer, [NeuralProtocol.SealingKeyProtocolId], timeout.Token).ConfigureAwait(false)
                : await connection.OpenStreamAsync([NeuralProtocol.SealingKeyProtocolId], timeout.Token).ConfigureAwait(false);
            byte[] key;
            await using (stream.ConfigureAwait(false))
            {
                await stream.Output.CompleteAsync().ConfigureAwait(false);
                using var record = await LengthPrefixed.ReadMessageAsync(stream.Input, SealingKeyRecords.MaxRecordSize, timeout.Token).ConfigureAwait(false);
                var (signer, publicKey) = SealingKeyRecords.Open(record.Span);
                if (signer != peer) throw new NeuralFormatException($"the sealing key record is for {signer}, not {peer}");
                key = publicKey;
            }
            RememberSealingKey(peer, key);
            return key;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (explicitly) throw new SealingKeyUnavailableException(peer, e.Message, e);
            LogSendingUnsealed(peer, e.Message);
            return null;
        }
    }

    /// <summary>Caches a peer's sealing key (from its agent record or its key record), bounded like the agent cache.</summary>
    internal void RememberSealingKey(PeerId peer, byte[] key)
    {
        lock (_sealGate)
        {
            if (_peerSealingKeys.Count >= Options.AgentCacheCapacity && !_peerSealingKeys.ContainsKey(peer))
                _peerSealingKeys.Remove(_peerSealingKeys.MinBy(kv => kv.Value.Expires).Key);
            _peerSealingKeys[peer] = (key, Now + Options.AgentCacheTtl);
        }
    }

    /// <summary>The message with its sealed body opened, or null (with why) when the seal does not open.</summary>
    private VerifiedMessage? Unseal(VerifiedMessage message, out string? error)
    {
        error = null;
        if (message.Message.BodyCase != NeuralMessage.BodyOneofCase.Sealed) return message;
        IMessage body;
        try
        {
            body = NeuralSeal.Open(message.Message, SealingKey);
        }
        catch (Exception e) when (e is NeuralSealException or System.Security.Cryptography.CryptographicException)
        {
            error = e.Message;
            return null;
        }
        return Opened(message, body);
    }

    /// <summary>The verified message with its opened body in place of the seal.</summary>
    private static VerifiedMessage Opened(VerifiedMessage message, IMessage body)
    {
        var clear = message.Message.Clone();
        NeuralMessageTypes.SetBody(clear, body);
        return new VerifiedMessage(clear, message.TypeInfo, body, message.Destination, message.Source, message.CreatedAt,
            message.ExpiresAt, message.Envelope, message.Hops) { WasSealed = true };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Sending to {Peer} unsealed: no sealing key ({Reason})")]
    private partial void LogSendingUnsealed(PeerId peer, string reason);
}

/// <summary>Signed sealing key records (domain <see cref="NeuralProtocol.SealingKeyDomain"/>).</summary>
public static class SealingKeyRecords
{
    public const int MaxRecordSize = 4096;

    public static byte[] Create(byte[] publicKey, ulong seq, PrivateKey key)
    {
        var record = new SealingKeyRecord
        {
            Peer = ByteString.CopyFrom(PeerId.FromPublicKey(key.PublicKey).Bytes.Span),
            PublicKey = ByteString.CopyFrom(publicKey),
            Seq = seq,
        };
        return SignedEnvelope.Seal(NeuralProtocol.SealingKeyDomain, NeuralProtocol.SealingKeyPayloadType, record.ToByteArray(), key).ToBytes();
    }

    /// <exception cref="NeuralFormatException">Invalid envelope or signature, wrong payload type, a record signed by
    /// another peer, or a key that is not an X-Wing public key.</exception>
    public static (PeerId Peer, byte[] PublicKey) Open(ReadOnlySpan<byte> value)
    {
        SignedEnvelope envelope;
        try
        {
            envelope = SignedEnvelope.Open(value, NeuralProtocol.SealingKeyDomain, MaxRecordSize);
        }
        catch (EnvelopeException e)
        {
            throw new NeuralFormatException($"sealing key envelope is invalid: {e.Message}", e);
        }
        if (!envelope.PayloadType.Span.SequenceEqual(NeuralProtocol.SealingKeyPayloadType))
            throw new NeuralFormatException("envelope payload type is not a sealing key record");
        SealingKeyRecord record;
        PeerId peer;
        try
        {
            record = SealingKeyRecord.Parser.ParseFrom(envelope.Payload.Span);
            peer = PeerId.FromBytes(record.Peer.Span);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or P2PFormatException)
        {
            throw new NeuralFormatException($"sealing key record is malformed: {e.Message}", e);
        }
        if (envelope.Signer != peer) throw new NeuralFormatException($"sealing key record for {peer} is signed by {envelope.Signer}");
        if (record.PublicKey.Length != XWingKem.PublicKeySize) throw new NeuralFormatException("the sealing key is not an X-Wing public key");
        return (peer, record.PublicKey.ToByteArray());
    }
}

/// <summary>Serves this node's signed sealing key record on <see cref="NeuralProtocol.SealingKeyProtocolId"/>; never on
/// a connection where this node goes by another identity (a shadow address's): the record is signed by the node's
/// key and would name it.</summary>
public sealed class SealingKeyHandler(IServiceProvider services) : Network.IProtocolHandler
{
    public IReadOnlyList<string> Protocols { get; } = [NeuralProtocol.SealingKeyProtocolId];

    public async Task HandleAsync(Network.IStream stream, CancellationToken cancellationToken)
    {
        await using (stream.ConfigureAwait(false))
        {
            var mesh = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<NeuralMesh>(services);
            if (stream.Connection.LocalPeer != mesh.LocalPeer)
            {
                stream.Reset();
                return;
            }
            LengthPrefixed.WriteMessage(stream.Output, mesh.SealingKeyRecord());
            await stream.Output.CompleteAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>Sealing was asked for and the recipient publishes no sealing key.</summary>
public sealed class SealingKeyUnavailableException(PeerId peer, string reason, Exception? inner = null)
    : IOException($"cannot seal to {peer}: {reason}", inner)
{
    public PeerId Peer { get; } = peer;
}
