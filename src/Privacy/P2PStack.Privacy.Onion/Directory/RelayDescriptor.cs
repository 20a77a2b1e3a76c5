using System.Security.Cryptography;
using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Crypto.MLKem;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Validation;
using P2PStack.Records;

namespace P2PStack.Privacy.Onion.Directory;

/// <summary>What a client knows of a relay from its verified descriptor.</summary>
public sealed record RelayInfo
{
    public required PeerId Peer { get; init; }

    public required IReadOnlyList<Multiaddr> Addresses { get; init; }

    /// <summary>The current onion key (X-Wing public key).</summary>
    public required byte[] OnionKey { get; init; }

    public required long Bandwidth { get; init; }

    public required int MaxCircuits { get; init; }

    public required bool IsExit { get; init; }

    public required IReadOnlyList<PeerId> ExitAllowed { get; init; }

    public required IReadOnlyList<PeerId> ExitDenied { get; init; }

    public required DateTimeOffset PublishedAt { get; init; }

    /// <summary>When the descriptor stops being used (its own expiry, capped by the directory's maximum lifetime and
    /// the onion key's validity).</summary>
    public required DateTimeOffset ExpiresAt { get; init; }

    public required int CellSize { get; init; }

    public required string Protocol { get; init; }

    public string? Family { get; init; }

    /// <summary>Whether this relay's exit policy lets it open a stream to <paramref name="destination"/>.</summary>
    public bool AllowsExitTo(PeerId? destination)
    {
        if (!IsExit) return false;
        if (destination is null) return ExitAllowed.Count == 0;
        if (ExitDenied.Contains(destination)) return false;
        return ExitAllowed.Count == 0 || ExitAllowed.Contains(destination);
    }
}

/// <summary>A relay descriptor that does not verify; <see cref="Reason"/> is its metric label.</summary>
public sealed class DescriptorException(string reason, string message, Exception? inner = null) : OnionFormatException(message, inner)
{
    public string Reason { get; } = reason;
}

/// <summary>
/// Relay descriptors (docs/specs/onion.md, "Descriptors"): the protobuf <c>RelayDescriptor</c> in a signed envelope
/// (RFC 0002) by the relay's identity key, stored in the DHT under <c>/onion-relay/&lt;peer id&gt;</c>; the relay also
/// provides one of <see cref="OnionDirectoryOptions.IndexShards"/> well-known index keys so that clients find it.
/// </summary>
public static class RelayDescriptors
{
    public const string Domain = "synaptic-onion-descriptor";
    public const string Namespace = "onion-relay";
    public const int MaxSize = 16 * 1024;
    public const int MaxAddresses = 16;
    public const int MaxOnionKeys = 4;
    public const int MaxPolicyPeers = 64;

    /// <summary>Clocks of relays and clients may differ by this much.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(10);

    private static readonly byte[] PayloadType = System.Text.Encoding.ASCII.GetBytes("/synaptic/onion/descriptor");

    /// <summary>The DHT key of a relay's descriptor: <c>/onion-relay/</c> + its peer id's bytes.</summary>
    public static byte[] KeyFor(PeerId relay)
    {
        var prefix = System.Text.Encoding.ASCII.GetBytes($"/{Namespace}/");
        return [.. prefix, .. relay.Bytes.Span];
    }

    /// <summary>The provider key of index shard <paramref name="shard"/>: SHA-256("/synaptic/onion/relays/v1/" + shard).</summary>
    public static byte[] IndexKey(int shard) =>
        SHA256.HashData(System.Text.Encoding.ASCII.GetBytes($"/synaptic/onion/relays/v1/{shard}"));

    /// <summary>The shard a relay provides: its peer id's SHA-256, first byte modulo the shard count.</summary>
    public static int ShardOf(PeerId relay, int shards) => SHA256.HashData(relay.Bytes.Span)[0] % shards;

    /// <summary>Signs a descriptor with the relay's identity key.</summary>
    public static byte[] Seal(Pb.RelayDescriptor descriptor, PrivateKey identity) =>
        SignedEnvelope.Seal(Domain, PayloadType, descriptor.ToByteArray(), identity).ToBytes();

    /// <summary>Opens and checks a descriptor.</summary>
    /// <exception cref="DescriptorException">Bad envelope or signature, a signer other than the peer it describes, an
    /// expired or not yet valid descriptor, malformed fields.</exception>
    public static RelayInfo Open(ReadOnlySpan<byte> value, DateTimeOffset now, TimeSpan maxLifetime)
    {
        SignedEnvelope envelope;
        try
        {
            envelope = SignedEnvelope.Open(value, Domain, MaxSize);
        }
        catch (P2PFormatException e)
        {
            throw new DescriptorException("signature", $"descriptor envelope invalid: {e.Message}", e);
        }
        if (!envelope.PayloadType.Span.SequenceEqual(PayloadType)) throw new DescriptorException("malformed", "not a relay descriptor (payload type)");
        Pb.RelayDescriptor descriptor;
        try
        {
            descriptor = Pb.RelayDescriptor.Parser.ParseFrom(envelope.Payload.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new DescriptorException("malformed", $"descriptor does not decode: {e.Message}", e);
        }
        PeerId peer;
        try
        {
            peer = PeerId.FromBytes(descriptor.PeerId.Span);
        }
        catch (P2PFormatException e)
        {
            throw new DescriptorException("malformed", $"descriptor peer id invalid: {e.Message}", e);
        }
        if (!peer.Equals(envelope.Signer)) throw new DescriptorException("signature", $"descriptor of {peer} is signed by {envelope.Signer}");

        var published = DateTimeOffset.FromUnixTimeSeconds((long)Math.Min(descriptor.PublishedAt, (ulong)DateTimeOffset.MaxValue.ToUnixTimeSeconds()));
        var expires = DateTimeOffset.FromUnixTimeSeconds((long)Math.Min(descriptor.ExpiresAt, (ulong)DateTimeOffset.MaxValue.ToUnixTimeSeconds()));
        if (published > now + ClockSkew) throw new DescriptorException("not_yet_valid", $"descriptor of {peer} is published in the future");
        if (expires > published + maxLifetime) expires = published + maxLifetime;
        if (expires <= now) throw new DescriptorException("expired", $"descriptor of {peer} expired at {expires:u}");

        if (descriptor.Addresses.Count > MaxAddresses) throw new DescriptorException("malformed", $"descriptor lists {descriptor.Addresses.Count} addresses");
        var addresses = new List<Multiaddr>();
        foreach (var bytes in descriptor.Addresses)
        {
            if (!Multiaddr.TryDecode(bytes.Span, out var address)) throw new DescriptorException("malformed", "descriptor address does not decode");
            addresses.Add(address);
        }
        if (descriptor.OnionKeys.Count is 0 or > MaxOnionKeys) throw new DescriptorException("malformed", $"descriptor has {descriptor.OnionKeys.Count} onion keys");
        var key = descriptor.OnionKeys[0];
        if (key.PublicKey.Length != XWingKem.PublicKeySize) throw new DescriptorException("malformed", "onion key is not an X-Wing public key");
        var keyValid = DateTimeOffset.FromUnixTimeSeconds((long)Math.Min(key.ValidUntil, (ulong)DateTimeOffset.MaxValue.ToUnixTimeSeconds()));
        if (keyValid <= now) throw new DescriptorException("expired", $"the onion key of {peer} expired");
        if (keyValid < expires) expires = keyValid;
        var policy = descriptor.ExitPolicy ?? new Pb.ExitPolicy();
        if (policy.AllowedPeers.Count > MaxPolicyPeers || policy.DeniedPeers.Count > MaxPolicyPeers)
            throw new DescriptorException("malformed", "exit policy too long");
        if (descriptor.Protocol.Length is 0 or > 256) throw new DescriptorException("malformed", "relay protocol id missing or too long");
        if (descriptor.Family.Length > 64) throw new DescriptorException("malformed", "family id too long");
        return new RelayInfo
        {
            Peer = peer,
            Addresses = addresses,
            OnionKey = key.PublicKey.ToByteArray(),
            Bandwidth = (long)Math.Min(descriptor.Bandwidth, long.MaxValue),
            MaxCircuits = (int)Math.Min(descriptor.MaxCircuits, int.MaxValue),
            IsExit = policy.Exit,
            ExitAllowed = DecodePeers(policy.AllowedPeers),
            ExitDenied = DecodePeers(policy.DeniedPeers),
            PublishedAt = published,
            ExpiresAt = expires,
            CellSize = (int)Math.Min(descriptor.CellSize, int.MaxValue),
            Protocol = descriptor.Protocol,
            Family = descriptor.Family.IsEmpty ? null : Convert.ToHexString(descriptor.Family.Span),
        };
    }

    private static List<PeerId> DecodePeers(IEnumerable<ByteString> peers)
    {
        var list = new List<PeerId>();
        foreach (var bytes in peers)
        {
            try
            {
                list.Add(PeerId.FromBytes(bytes.Span));
            }
            catch (P2PFormatException e)
            {
                throw new DescriptorException("malformed", $"exit policy peer id invalid: {e.Message}", e);
            }
        }
        return list;
    }
}

/// <summary>The DHT's <c>/onion-relay</c> namespace: a descriptor signed by the peer its key names; the most recently
/// published wins.</summary>
public sealed class RelayDescriptorValidator(TimeProvider? time = null, TimeSpan? maxLifetime = null) : IRecordValidator
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly TimeSpan _maxLifetime = maxLifetime ?? TimeSpan.FromHours(12);

    public void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var (ns, rest) = NamespacedValidator.SplitKey(key);
        if (ns != RelayDescriptors.Namespace) throw new InvalidRecordException($"namespace '{ns}' is not '{RelayDescriptors.Namespace}'");
        RelayInfo info;
        try
        {
            info = RelayDescriptors.Open(value, _time.GetUtcNow(), _maxLifetime);
        }
        catch (DescriptorException e)
        {
            throw new InvalidRecordException(e.Message);
        }
        if (!rest.Span.SequenceEqual(info.Peer.Bytes.Span)) throw new InvalidRecordException("descriptor stored under another relay's key");
    }

    public int Select(ReadOnlySpan<byte> key, IReadOnlyList<ReadOnlyMemory<byte>> values)
    {
        if (values.Count == 0) throw new ArgumentException("no values to select from", nameof(values));
        int best = 0;
        var bestTime = DateTimeOffset.MinValue;
        var now = _time.GetUtcNow();
        for (int i = 0; i < values.Count; i++)
        {
            try
            {
                var published = RelayDescriptors.Open(values[i].Span, now, _maxLifetime).PublishedAt;
                if (published > bestTime)
                {
                    best = i;
                    bestTime = published;
                }
            }
            catch (DescriptorException)
            {
                // invalid values lose
            }
        }
        return best;
    }
}
