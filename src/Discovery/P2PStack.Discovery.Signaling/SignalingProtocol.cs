using System.Security.Cryptography;
using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Discovery.Signaling.Pb;
using P2PStack.Encoding;
using P2PStack.Identity;
using P2PStack.Records;

namespace P2PStack.Discovery.Signaling;

/// <summary>Wire constants and codecs of swarm signaling (docs/specs/swarm-signaling.md).</summary>
public static class SignalingProtocol
{
    /// <summary>Stream protocol of signaling hosts serving peers without the DHT.</summary>
    public const string HostProtocolId = "/synaptic/signal/1.0.0";

    /// <summary>Signing domain of presence announcements.</summary>
    public const string PresenceDomain = "synaptic-swarm-presence";

    /// <summary>Envelope payload type of presence: the unsigned varint of the private-use multicodec 0x300004.</summary>
    public static ReadOnlySpan<byte> PresencePayloadType => [0x84, 0x80, 0xC0, 0x01];

    public const int SwarmIdLength = 32;

    /// <summary>The swarm id of a discovery key: SHA-256("synaptic-swarm:" || UTF-8 key). Only this travels.</summary>
    public static byte[] SwarmId(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        return SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("synaptic-swarm:" + key));
    }

    /// <summary>Gossipsub topic of a swarm's presence: <c>/synaptic/signal/1.0.0/swarm/&lt;lowercase hex id&gt;</c>.</summary>
    public static string PresenceTopic(ReadOnlySpan<byte> swarmId) => $"/synaptic/signal/1.0.0/swarm/{Convert.ToHexStringLower(swarmId)}";

    /// <summary>The CID signaling hosts of one network provide and look up in the DHT to find each other:
    /// CIDv1, raw codec, sha2-256 of "synaptic-signal-network:" || network name.</summary>
    public static Cid RendezvousCid(string network) =>
        Cid.V1(Multicodec.Raw, Multihash.Sha2_256(System.Text.Encoding.UTF8.GetBytes("synaptic-signal-network:" + network)));

    /// <summary>Signs a presence announcement.</summary>
    public static byte[] Seal(Presence presence, PrivateKey key) =>
        SignedEnvelope.Seal(PresenceDomain, PresencePayloadType, presence.ToByteArray(), key).ToBytes();

    /// <summary>
    /// Opens and checks an announcement: size, signature (domain <see cref="PresenceDomain"/>), payload type, structure,
    /// signer = <c>peer</c>, swarm id, kind, times. <paramref name="now"/> decides expiry.
    /// </summary>
    /// <exception cref="SignalingFormatException">Why it is refused.</exception>
    public static VerifiedPresence Open(ReadOnlySpan<byte> envelope, ReadOnlySpan<byte> expectedSwarm, DateTimeOffset now, SwarmSignalingOptions options)
    {
        if (envelope.Length > options.MaxPresenceSize)
            throw new SignalingFormatException("oversized", $"announcement of {envelope.Length} bytes is over {options.MaxPresenceSize}");
        SignedEnvelope opened;
        try
        {
            opened = SignedEnvelope.Open(envelope, PresenceDomain, options.MaxPresenceSize);
        }
        catch (EnvelopeException e)
        {
            throw new SignalingFormatException("bad_signature", e.Message);
        }
        if (!opened.PayloadType.Span.SequenceEqual(PresencePayloadType))
            throw new SignalingFormatException("malformed", "envelope payload type is not a presence announcement");
        Presence presence;
        try
        {
            presence = Presence.Parser.ParseFrom(opened.Payload.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new SignalingFormatException("malformed", $"presence is not a valid protobuf: {e.Message}");
        }
        if (!presence.Swarm.Span.SequenceEqual(expectedSwarm)) throw new SignalingFormatException("malformed", "announcement for another swarm");
        PeerId peer;
        try
        {
            peer = PeerId.FromBytes(presence.Peer.Span);
        }
        catch (P2PFormatException e)
        {
            throw new SignalingFormatException("malformed", e.Message);
        }
        if (opened.Signer != peer) throw new SignalingFormatException("forged", $"announcement for {peer} signed by {opened.Signer}");
        if (presence.Kind is not (Presence.Types.Kind.Available or Presence.Types.Kind.Left))
            throw new SignalingFormatException("malformed", $"unknown kind {(int)presence.Kind}");
        if (presence.Addrs.Count > options.MaxAddressesPerPresence || presence.Hosts.Count > options.MaxAddressesPerPresence)
            throw new SignalingFormatException("oversized", "too many addresses or hosts");
        DateTimeOffset since, until = default;
        try
        {
            since = DateTimeOffset.FromUnixTimeMilliseconds(checked((long)presence.SinceMs));
            if (presence.Kind == Presence.Types.Kind.Available) until = DateTimeOffset.FromUnixTimeMilliseconds(checked((long)presence.UntilMs));
        }
        catch (Exception e) when (e is ArgumentOutOfRangeException or OverflowException)
        {
            throw new SignalingFormatException("malformed", "a time is out of range");
        }
        if (since > now + options.MaxClockSkew) throw new SignalingFormatException("clock_skew", "joined in the future");
        if (presence.Kind == Presence.Types.Kind.Available)
        {
            if (until > now + options.MaxPresenceTtl + options.MaxClockSkew)
                throw new SignalingFormatException("ttl", $"claims presence for {(until - now).TotalSeconds:0} s, over the maximum of {options.MaxPresenceTtl.TotalSeconds:0} s");
            if (until <= now) throw new SignalingFormatException("expired", "the announcement has expired");
        }
        var addresses = new List<Multiaddr>(presence.Addrs.Count);
        foreach (var bytes in presence.Addrs)
            if (Multiaddr.TryDecode(bytes.Span, out var address) && !address.IsEmpty) addresses.Add(address);
        var hosts = new List<PeerId>(presence.Hosts.Count);
        foreach (var bytes in presence.Hosts)
        {
            try
            {
                hosts.Add(PeerId.FromBytes(bytes.Span));
            }
            catch (P2PFormatException)
            {
                // A host id this build cannot read does not void the signed announcement.
            }
        }
        return new VerifiedPresence(peer, presence.Kind == Presence.Types.Kind.Available, since, until, presence.Seq, addresses, hosts, envelope.ToArray());
    }
}

/// <summary>A checked announcement.</summary>
public sealed record VerifiedPresence(PeerId Peer, bool Available, DateTimeOffset Since, DateTimeOffset Until, ulong Seq,
    IReadOnlyList<Multiaddr> Addresses, IReadOnlyList<PeerId> Hosts, byte[] Envelope);

/// <summary>A refused announcement or request; <see cref="Reason"/> is the metric label.</summary>
public sealed class SignalingFormatException(string reason, string message) : P2PFormatException(message)
{
    public string Reason { get; } = reason;
}
