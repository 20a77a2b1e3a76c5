using System.Security.Cryptography;
using Google.Protobuf;
using P2PStack.Crypto.MLKem;
using P2PStack.Identity;
using P2PStack.Neural;
using P2PStack.Neural.Messages;
using P2PStack.Records;

namespace P2PStack.Fuzz;

/// <summary>
/// Neural decoders behind a signature, found by the review of 2026-12-07. The `neural` target's mutations break the
/// envelope's signature, so Verify's checks after it (structure, destination, source, clock, TTL, hops) saw only the
/// seeds; signing keys are free, so an attacker reaches them with any message: here the target signs the input. Then
/// the seals a node opens (a sealed body with its X-Wing key, a swarm seal with the swarm's key), and the sealing key
/// records a node fetches over /synaptic/neural/sealing-key/1.0.0, which had no target.
/// </summary>
internal static class NeuralBodyTargets
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    private static class Fixed
    {
        public static readonly PrivateKey Key = Ed25519PrivateKey.FromSeed(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        public static readonly PeerId Self = PeerId.FromPublicKey(Key.PublicKey);
        public static readonly NeuralMeshOptions Options = new();
        public static readonly XWingKem Recipient = XWingKem.FromSeed(Enumerable.Range(5, XWingKem.SeedSize).Select(i => (byte)i).ToArray());
        public static readonly byte[] SwarmKey = Enumerable.Range(9, NeuralSeal.SwarmKeySize).Select(i => (byte)i).ToArray();
    }

    private const string Swarm = "fuzz-swarm";

    /// <summary>
    /// [hops][a NeuralMessage]: the message is signed here with the fixed key and checked as a node checks a received
    /// one; a verified sealed body is then opened as the node opens it: a swarm seal with the fixed swarm key (the
    /// node catches <see cref="NeuralSealException"/> only), a direct seal with the fixed X-Wing key (the node catches
    /// that and <see cref="CryptographicException"/>).
    /// </summary>
    public static void NeuralBody(byte[] input)
    {
        if (input.Length == 0) return;
        byte[] envelope = SignedEnvelope.Seal(NeuralProtocol.MessageDomain, NeuralProtocol.MessagePayloadType, input.AsSpan(1), Fixed.Key).ToBytes();
        var result = NeuralMessageCodec.Verify(envelope, input[0], Now, Fixed.Options);
        if (result.Message is not { } verified || verified.Message.BodyCase != NeuralMessage.BodyOneofCase.Sealed) return;
        if (verified.Destination.Kind == DestinationKind.Swarm)
        {
            NeuralSeal.OpenForSwarm(verified.Message, Fixed.SwarmKey, verified.Destination.Name!);
            return;
        }
        try
        {
            NeuralSeal.Open(verified.Message, Fixed.Recipient);
        }
        catch (CryptographicException)
        {
        }
    }

    public static IEnumerable<byte[]> NeuralBodySeeds()
    {
        byte[] recipient = Fixed.Recipient.ExportPublicKey();
        NeuralMessage Header(MessageType type, Destination destination) => new()
        {
            Id = ByteString.CopyFrom(Enumerable.Range(0, 16).Select(i => (byte)i).ToArray()),
            Type = type,
            SourcePeer = ByteString.CopyFrom(Fixed.Self.Bytes.Span),
            SourceAgent = "agent-007",
            Destination = destination,
            Priority = 5,
            TtlSeconds = 60,
            HopLimit = 4,
            CreatedAtMs = (ulong)Now.ToUnixTimeMilliseconds(),
        };
        var toAgent = new Destination { Agent = "agent-001" };
        var toPeer = new Destination { Peer = ByteString.CopyFrom(Fixed.Self.Bytes.Span) };
        var toSwarm = new Destination { Swarm = Swarm };
        (MessageType Type, IMessage Body, Destination To)[] clear =
        [
            (MessageType.Thought, new Thought { Content = "the sky is blue", Confidence = 0.9, Tags = { "sky" } }, toSwarm),
            (MessageType.Command, new Command { Name = "echo", Args = { "hello" }, Content = "echo hello" }, toAgent),
            (MessageType.ConsensusVote, new ConsensusVote { ProposalId = "p-1", Round = 1, Accept = true, Content = "yes" }, toPeer),
            (MessageType.HealthCheck, new HealthCheck(), toSwarm),
        ];
        foreach (var (type, body, to) in clear)
        {
            var message = Header(type, to);
            NeuralMessageTypes.SetBody(message, body);
            yield return [1, .. message.ToByteArray()];
        }
        var response = Header(MessageType.Response, toPeer);
        response.CorrelationId = ByteString.CopyFrom(new byte[16]);
        NeuralMessageTypes.SetBody(response, new Response { Content = "ok" });
        yield return [0, .. response.ToByteArray()];
        // Sealed to the fixed X-Wing key, and with the fixed swarm key.
        var direct = Header(MessageType.Command, toAgent);
        direct.Sealed = NeuralSeal.Seal(direct, new Command { Name = "echo", Args = { "sealed" } }, recipient);
        yield return [1, .. direct.ToByteArray()];
        var swarm = Header(MessageType.Thought, toSwarm);
        swarm.Sealed = NeuralSeal.SealForSwarm(swarm, new Thought { Content = "members only" }, Fixed.SwarmKey, Swarm);
        yield return [2, .. swarm.ToByteArray()];
    }

    /// <summary>
    /// A sealing key record as fetched from a peer (SealingKeyRecords.Open, then the fetcher's check that it is the
    /// peer's). First byte 0xFF: the rest is a SealingKeyRecord that the target puts in an envelope signed with the
    /// fixed key, so mutations reach the record's decoder past the signature; otherwise the input is the envelope.
    /// </summary>
    public static void SealingKey(byte[] input)
    {
        byte[] envelope = input.Length > 0 && input[0] == 0xFF
            ? SignedEnvelope.Seal(NeuralProtocol.SealingKeyDomain, NeuralProtocol.SealingKeyPayloadType, input.AsSpan(1), Fixed.Key).ToBytes()
            : input;
        var (peer, publicKey) = SealingKeyRecords.Open(envelope);
        if (publicKey.Length != XWingKem.PublicKeySize) throw new InvalidOperationException($"accepted a sealing key of {publicKey.Length} bytes");
        _ = peer == Fixed.Self;
    }

    public static IEnumerable<byte[]> SealingKeySeeds()
    {
        byte[] publicKey = Fixed.Recipient.ExportPublicKey();
        yield return SealingKeyRecords.Create(publicKey, 1, Fixed.Key);
        var record = new SealingKeyRecord { Peer = ByteString.CopyFrom(Fixed.Self.Bytes.Span), PublicKey = ByteString.CopyFrom(publicKey), Seq = 7 };
        yield return [0xFF, .. record.ToByteArray()];
        yield return [0xFF, .. new SealingKeyRecord { Peer = ByteString.CopyFrom(Fixed.Self.Bytes.Span), PublicKey = ByteString.CopyFrom(new byte[32]) }.ToByteArray()];
    }
}
