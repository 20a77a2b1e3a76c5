using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Security.Authentication;
using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Discovery.Mdns;
using P2PStack.Discovery.Mdns.Dns;
using P2PStack.Encoding;
using P2PStack.Identity;
using P2PStack.Multistream;
using P2PStack.Muxers.Yamux;
using P2PStack.Neural;
using P2PStack.Neural.Messages;
using P2PStack.Protocols.GossipSub;
using P2PStack.Protocols.Identify;
using P2PStack.Protocols.Kademlia;
using P2PStack.Records;
using P2PStack.Registry;
using P2PStack.Security.Noise;

namespace P2PStack.Fuzz;

/// <summary>The fuzz targets: one per decoder of network input, each doing what the receiving code does with it.</summary>
public static class Targets
{
    // Nothing instrumented may run before SharpFuzz sets up its shared memory (inside Fuzzer.OutOfProcess.Run), so
    // this class touches no P2PStack code when it is initialised: the fixtures live in Fixed, initialised on first use.
    private static PrivateKey Key => Fixed.Key;
    private static PeerId Self => Fixed.Self;
    private static string[] SampleAddresses => Fixed.SampleAddresses;

    private static class Fixed
    {
        // A fixed key, so that seeds are the same from run to run.
        public static readonly PrivateKey Key = Ed25519PrivateKey.FromSeed(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        public static readonly PeerId Self = PeerId.FromPublicKey(Key.PublicKey);
        public static readonly NeuralMeshOptions NeuralOptions = new();
        public static readonly MdnsOptions MdnsOptions = new();

        public static readonly string[] SampleAddresses =
        [
            "/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001/ws", "/ip4/192.0.2.7/udp/4001/quic-v1", "/dns4/example.com/tcp/443/wss",
            "/ip4/10.0.0.1/tcp/9000/p2p/" + Self, "/ip6zone/eth0/ip6/fe80::1/tcp/1", "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234",
            "/ip4/127.0.0.1/tcp/1/p2p/" + Self + "/p2p-circuit/p2p/" + Self, "/unix/tmp%2Fsocket", "/dnsaddr/bootstrap.libp2p.io",
        ];
    }

    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new("varint", "Varint.Read, Varint.TryReadPrefix", Varint, () => new ulong[] { 0, 1, 127, 128, 300, uint.MaxValue, ulong.MaxValue >> 1 }.Select(P2PStack.Encoding.Varint.Encode)),
        new("multiaddr", "Multiaddr.Decode (binary), its text form parsed back", MultiaddrBinary, () => SampleAddresses.Select(a => Multiaddr.Parse(a).Bytes.ToArray())),
        new("multiaddr-text", "Multiaddr.Parse (text)", MultiaddrText, () => SampleAddresses.Select(System.Text.Encoding.UTF8.GetBytes)),
        new("keys", "PublicKey.FromProtobuf, PeerId.FromBytes, PeerId.Parse", Keys, KeySeeds),
        new("envelope", "SignedEnvelope.Open, PeerRecord.FromEnvelope", Envelope, () => [PeerRecordEnvelope()]),
        new("multistream", "MultistreamCodec.ReadTokenAsync (a negotiation's messages), ParseList", Multistream, MultistreamSeeds,
            typeof(EndOfStreamException)),
        new("noise-payload", "Noise handshake payload: HandshakePayload.Verify (first 32 bytes: the remote static key), NoiseFraming.TryReadFrame",
            NoisePayload, NoiseSeeds, typeof(AuthenticationException)),
        new("yamux", "YamuxFrameCodec.TryRead over a byte stream of frames (headers and data lengths)", Yamux, YamuxSeeds),
        new("identify", "IdentifyProtocol.ReadAsync and the decoding of its key, addresses and signed peer record", Identify, IdentifySeeds,
            typeof(EndOfStreamException)),
        new("kad", "KadProtocol.ReadOrEndAsync, ToPeerInfo, ParseTimeReceived", Kad, KadSeeds, typeof(EndOfStreamException)),
        new("gossipsub-rpc", "RpcCodec.Decode", GossipSubRpc, GossipSubSeeds),
        new("neural", "NeuralMessageCodec.DecodeFrame and Verify (envelope, signature, structure, clock, TTL, hops)", Neural, NeuralSeeds),
        new("mdns", "DnsMessageReader.Read, MdnsResponseParser.Parse, TryParseDnsAddr", Mdns, MdnsSeeds),
        new("ws-upgrade", "WebSocketHandshake.AcceptAsync: the HTTP upgrade request a WebSocket listener reads", WsUpgrade, WsUpgradeSeeds,
            typeof(EndOfStreamException)),
        new("yamux-session", "a live YamuxSession (listener side) driven by the input's frames; accepted streams read to their end, one opened and written", SessionTargets.YamuxSession, SessionTargets.YamuxSessionSeeds),
        new("noise-handshake", "the /noise XX handshake as responder or initiator (first byte) over the input; failures typed, with documented causes", SessionTargets.NoiseHandshake, SessionTargets.NoiseHandshakeSeeds),
        new("noise-hybrid-handshake", "the hybrid /noise-mlkem*-hfs XXhfs handshakes as responder or initiator (first byte: role and suite); the initiator's ML-KEM key imported and encapsulated to; failures typed",
            SessionTargets.NoiseHybridHandshake, SessionTargets.NoiseHybridHandshakeSeeds),
        new("pnet", "PnetProtector: the remote nonce, then the XSalsa20-decrypted stream read to its end; SwarmKey.Parse", SessionTargets.Pnet, SessionTargets.PnetSeeds,
            typeof(AuthenticationException)),
        new("tls-certificate", "the peer's X.509 certificate: Libp2pCertificate.Verify (validity, self-signature, libp2p extension)", ProtocolTargets.TlsCertificate, ProtocolTargets.TlsCertificateSeeds),
        new("daemon", "the daemon control protocol: length-prefixed Requests and RequestFields' checks of their fields", ProtocolTargets.Daemon, ProtocolTargets.DaemonSeeds,
            typeof(EndOfStreamException)),
        new("relay", "circuit relay v2: HopMessage (peer, reservation, voucher, limit) then StopMessage", ProtocolTargets.Relay, ProtocolTargets.RelaySeeds,
            typeof(EndOfStreamException)),
        new("dcutr", "DCUtR: ReadConnectAsync (observed addresses), ReadSyncAsync", ProtocolTargets.Dcutr, ProtocolTargets.DcutrSeeds, typeof(EndOfStreamException)),
        new("autonat", "AutoNAT v1 Message, v2 Message and DialBack with their addresses", ProtocolTargets.AutoNat, ProtocolTargets.AutoNatSeeds,
            typeof(EndOfStreamException)),
        new("stun", "StunCodec.Decode (and re-encoding what decodes)", ProtocolTargets.Stun, ProtocolTargets.StunSeeds),
        new("onion-cells", "onion cells off a link: handshake assembler, relay header and data, relay message assembler", ProtocolTargets.OnionCells, ProtocolTargets.OnionCellsSeeds),
        new("onion-introductions", "an OnionRelay's dispatch of relay messages past the layer cipher (ESTABLISH_INTRO, INTRODUCE, the splice, and every other command): real circuits from the target as client, the input as their messages",
            IntroductionTargets.OnionIntroductions, IntroductionTargets.OnionIntroductionsSeeds),
        new("onion-client", "a ClientCircuit's reading of cells from its first relay past the backward layers (INTRO_ESTABLISHED, INTRODUCED, CONNECTED, END, SENDME, DATA, DROP, EXTENDED, TRUNCATED, unknown and malformed messages, link cells): a real circuit of one or two hops to the target as relays, the input as their messages",
            ClientCircuitTargets.ClientCells, ClientCircuitTargets.ClientCellsSeeds),
        new("onion-descriptor", "RelayDescriptors.Open (an onion relay's signed descriptor from the DHT)", ProtocolTargets.OnionDescriptor, ProtocolTargets.OnionDescriptorSeeds),
        new("shadow-descriptor", "ShadowDescriptor.Verify (DHT key and value) and Decrypt", ProtocolTargets.ShadowDescriptor, ProtocolTargets.ShadowDescriptorSeeds),
        new("dag-vertex", "VertexCodec.Open (signed DAG vertex)", ProtocolTargets.DagVertex, ProtocolTargets.DagVertexSeeds),
        new("signaling", "SignalingProtocol.Open (signed swarm presence)", ProtocolTargets.Signaling, ProtocolTargets.SignalingSeeds),
        new("signaling-host", "the signaling host's /synaptic/signal/1.0.0 streams: SignalingHandler (framing, SignalRequest, Serve and Release against the limits, resets), over two peers' sessions",
            SignalingHostTargets.SignalingHost, SignalingHostTargets.SignalingHostSeeds),
        new("padding", "PaddingWire.ReadHello, Agree, TryReadHeader over cells", ProtocolTargets.Padding, ProtocolTargets.PaddingSeeds,
            typeof(P2PStack.Privacy.Padding.PaddingNegotiationException)),
        new("ssdp", "Ssdp.Parse: an M-SEARCH answer (LOCATION on the answering host)", GatewayTargets.Ssdp, GatewayTargets.SsdpSeeds),
        new("upnp-description", "UpnpGateway.ParseDescription: the IGD device description XML (WAN connection service, control URL)",
            GatewayTargets.UpnpDescription, GatewayTargets.UpnpDescriptionSeeds),
        new("upnp-soap", "UpnpGateway.ParseSoapAnswer (answers and UPnPError faults), ParseExternalAddress, ParseSpecificPortMapping",
            GatewayTargets.UpnpSoap, GatewayTargets.UpnpSoapSeeds, typeof(P2PStack.Nat.PortMapping.PortMappingRefusedException)),
        new("natpmp", "NatPmpClient.ParseExternalAddress, ParseMapping (RFC 6886 answers)", GatewayTargets.NatPmp, GatewayTargets.NatPmpSeeds,
            typeof(P2PStack.Nat.PortMapping.PortMappingRefusedException)),
        new("pcp", "PcpClient.ParseMap (RFC 6887 MAP answers)", GatewayTargets.Pcp, GatewayTargets.PcpSeeds,
            typeof(P2PStack.Nat.PortMapping.PortMappingRefusedException)),
        new("rendezvous", "RendezvousProtocol.ReadAsync; a point's Handle (REGISTER, UNREGISTER, DISCOVER with cookies); the client's check of DISCOVER_RESPONSE registrations",
            ServiceTargets.Rendezvous, ServiceTargets.RendezvousSeeds, typeof(EndOfStreamException)),
        new("signed-lan", "LanAnnouncement.Verify: a signed LAN announcement datagram", ServiceTargets.SignedLan, ServiceTargets.SignedLanSeeds),
        new("registry-request", "the registry's HTTP API: RequestVerifier (signature headers, body) and the JSON bodies of register, heartbeat, approve/deny, sovereign/add with RequestValidation",
            ServiceTargets.RegistryRequest, ServiceTargets.RegistryRequestSeeds, typeof(P2PStack.Registry.RegistryException)),
        new("registry-answer", "the registry client's reading of the registry's answers: RegistryClient's JSON records (status and error answers too), RegistryDiscovery's ids and addresses",
            AnswerTargets.RegistryAnswer, AnswerTargets.RegistryAnswerSeeds, typeof(RegistryRequestException)),
        new("noise-session", "the /noise handshake past the AEAD: an honest peer of the target's own sends the input as its identity payload (HandshakePayload.Verify after decryption) and as transport frames, read through the secured connection",
            AnswerTargets.NoiseSession, AnswerTargets.NoiseSessionSeeds),
        new("dag-wire", "DAG messages in neural bodies: DagWire.FromProposal, FromVote, the handler's swarm rule, then a DagEngine's Receive and Tick over a sequence of them",
            RecordTargets.DagWireMessages, RecordTargets.DagWireSeeds),
        new("neural-ack", "the reliable sender's reading of an ack: NeuralAcks.ReadAsync (length-prefixed NeuralAck, 1 KiB), Judge against the sent message's id",
            RecordTargets.ReliableAck, RecordTargets.NeuralAckSeeds, typeof(EndOfStreamException)),
        new("dht-records", "the DHT's record validators as a node registers them: /pk (PublicKeyValidator), /agent (AgentRecordValidator), /ipns (IpnsRecordValidator, IpnsData's CBOR); Select over valid values",
            RecordTargets.DhtRecord, RecordTargets.DhtRecordSeeds),
        new("noise-hybrid-session", "the hybrid /noise-mlkem*-hfs handshakes past the AEAD (first byte: role and suite): an honest XXhfs peer of the target's own sends the input as its identity payload and transport frames",
            AnswerTargets.NoiseHybridSession, AnswerTargets.NoiseHybridSessionSeeds),
        new("neural-body", "the neural message behind the signature (the target signs the input): Verify's structure, destination, source, clock, TTL and hop checks, then NeuralSeal.Open (X-Wing) or OpenForSwarm of a sealed body",
            NeuralBodyTargets.NeuralBody, NeuralBodyTargets.NeuralBodySeeds),
        new("sealing-key", "SealingKeyRecords.Open: a peer's signed sealing key record (/synaptic/neural/sealing-key/1.0.0); first byte 0xFF: the record signed by the target",
            NeuralBodyTargets.SealingKey, NeuralBodyTargets.SealingKeySeeds),
    ];

    /// <summary>The listener's limit on the request head (WebSocketTransportOptions.MaxHandshakeBytes' default).</summary>
    private const int WsMaxHead = 8192;

    private static void WsUpgrade(byte[] input)
    {
        using var stream = new ReplayStream(input);
        P2PStack.Transports.WebSocket.WebSocketHandshake.AcceptAsync(stream, WsMaxHead, CancellationToken.None).GetAwaiter().GetResult();
        // Accepted: the answer must be the 101 with the key's accept value.
        if (!stream.Written.StartsWith("HTTP/1.1 101 ", StringComparison.Ordinal))
            throw new InvalidOperationException($"accepted an upgrade but answered '{stream.Written}'");
    }

    private static IEnumerable<byte[]> WsUpgradeSeeds()
    {
        const string key = "dGhlIHNhbXBsZSBub25jZQ==";
        yield return System.Text.Encoding.ASCII.GetBytes(
            $"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n");
        yield return System.Text.Encoding.ASCII.GetBytes(
            $"GET /p2p HTTP/1.1\r\nhost: [::1]:9001\r\nupgrade: WebSocket\r\nconnection: keep-alive, Upgrade\r\nsec-websocket-version: 13\r\n" +
            $"sec-websocket-key: {key}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n");
        yield return System.Text.Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n");
    }

    /// <summary>A stream whose reads replay the input, in chunks as a socket delivers them, and whose writes are kept
    /// as text.</summary>
    private sealed class ReplayStream(byte[] input) : Stream
    {
        private int _position;
        private readonly System.Text.StringBuilder _written = new();

        public string Written => _written.ToString();

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            // The first input byte (when present) sets the chunk size, so the fuzzer also explores split reads.
            int chunk = input.Length == 0 ? 1 : 1 + (input[0] % 64);
            int n = Math.Min(Math.Min(count, chunk), input.Length - _position);
            Array.Copy(input, _position, buffer, offset, n);
            _position += n;
            return n;
        }

        public override void Write(byte[] buffer, int offset, int count) => _written.Append(System.Text.Encoding.ASCII.GetString(buffer, offset, count));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);

    private static void Varint(byte[] input)
    {
        ReadOnlySpan<byte> rest = input;
        while (!rest.IsEmpty)
        {
            P2PStack.Encoding.Varint.TryReadPrefix(rest, out _, out _);
            P2PStack.Encoding.Varint.Read(rest, out int read);
            rest = rest[read..];
        }
    }

    private static void MultiaddrBinary(byte[] input)
    {
        var address = Multiaddr.Decode(input);
        // Whatever decodes must print, and the printed form must parse back to the same bytes.
        var again = Multiaddr.Parse(address.ToString());
        if (!again.Bytes.Span.SequenceEqual(address.Bytes.Span))
            throw new InvalidOperationException($"multiaddr {address} does not survive text and back");
    }

    private static void MultiaddrText(byte[] input) => Multiaddr.Parse(System.Text.Encoding.UTF8.GetString(input));

    private static void Keys(byte[] input)
    {
        try
        {
            var key = PublicKey.FromProtobuf(input);
            var id = PeerId.FromPublicKey(key);
            if (!id.Matches(key)) throw new InvalidOperationException("a key's own peer id does not match it");
        }
        catch (P2PFormatException)
        {
        }
        try
        {
            var id = PeerId.FromBytes(input);
            if (!PeerId.Parse(id.ToString()).Equals(id)) throw new InvalidOperationException($"peer id {id} does not survive text and back");
        }
        catch (P2PFormatException)
        {
        }
        PeerId.TryParse(System.Text.Encoding.UTF8.GetString(input), out _);
    }

    private static IEnumerable<byte[]> KeySeeds()
    {
        foreach (var type in new[] { KeyType.Ed25519, KeyType.Secp256k1, KeyType.Ecdsa })
        {
            using var key = PrivateKey.Generate(type);
            yield return key.PublicKey.ToProtobuf();
            yield return PeerId.FromPublicKey(key.PublicKey).Bytes.ToArray();
        }
        yield return System.Text.Encoding.UTF8.GetBytes(Self.ToString());
    }

    private static void Envelope(byte[] input)
    {
        var envelope = SignedEnvelope.Open(input, PeerRecord.Domain);
        PeerRecord.FromEnvelope(envelope);
    }

    private static byte[] PeerRecordEnvelope() =>
        new PeerRecord(Self, 1, SampleAddresses.Take(4).Select(a => Multiaddr.Parse(a))).Seal(Key).ToBytes();

    private static void Multistream(byte[] input)
    {
        var reader = PipeReader.Create(new ReadOnlySequence<byte>(input));
        for (int i = 0; i < 64; i++)
            MultistreamCodec.ReadTokenAsync(reader, 1024, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        MultistreamCodec.ParseList(new ReadOnlySequence<byte>(input), 1024);
    }

    private static IEnumerable<byte[]> MultistreamSeeds()
    {
        var writer = new ArrayBufferWriter<byte>();
        MultistreamCodec.WriteToken(writer, "/multistream/1.0.0");
        MultistreamCodec.WriteToken(writer, "/noise");
        MultistreamCodec.WriteToken(writer, "na");
        yield return writer.WrittenSpan.ToArray();
        var list = new ArrayBufferWriter<byte>();
        MultistreamCodec.WriteList(list, ["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0", "/yamux/1.0.0"]);
        yield return list.WrittenSpan.ToArray();
    }

    private static void NoisePayload(byte[] input)
    {
        var sequence = new ReadOnlySequence<byte>(input);
        while (NoiseFraming.TryReadFrame(ref sequence, out _))
        {
        }
        if (input.Length < 32) return;
        HandshakePayload.Verify(input.AsSpan(32), input.AsSpan(0, 32));
    }

    private static IEnumerable<byte[]> NoiseSeeds()
    {
        byte[] staticKey = Enumerable.Range(100, 32).Select(i => (byte)i).ToArray();
        foreach (var muxers in new[] { Array.Empty<string>(), ["/yamux/1.0.0"] })
            yield return [.. staticKey, .. HandshakePayload.Create(Key, staticKey, muxers)];
    }

    private static void Yamux(byte[] input)
    {
        var sequence = new ReadOnlySequence<byte>(input);
        while (YamuxFrameCodec.TryRead(sequence, out var header))
        {
            // In long arithmetic: a constant int plus a uint is uint in C#, and 12 + 0xFFFFFFF4 wraps to 0 (the first
            // long run found that hang in this harness).
            long skip = YamuxFrameCodec.HeaderLength + (header.Type == YamuxFrameType.Data ? (long)header.Length : 0L);
            if (skip > sequence.Length) break;
            sequence = sequence.Slice(skip);
        }
    }

    private static IEnumerable<byte[]> YamuxSeeds()
    {
        var frames = new byte[][]
        {
            Header(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0)),
            [.. Header(new YamuxFrameHeader(YamuxFrameType.Data, YamuxFlags.None, 1, 5)), .. "hello"u8],
            Header(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFlags.Syn, 0, 7)),
            Header(new YamuxFrameHeader(YamuxFrameType.Data, YamuxFlags.Fin, 1, 0)),
            Header(new YamuxFrameHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, 0)),
        };
        yield return [.. frames.SelectMany(f => f)];
        foreach (var frame in frames) yield return frame;
        // The input of the first long run's hang: a data frame whose length is 2^32 - 12.
        yield return [0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0xc3, 0x01, 0xff, 0xff, 0xff, 0xf4];

        static byte[] Header(YamuxFrameHeader header)
        {
            var bytes = new byte[YamuxFrameCodec.HeaderLength];
            YamuxFrameCodec.Write(bytes, header);
            return bytes;
        }
    }

    private static void Identify(byte[] input)
    {
        var reader = PipeReader.Create(new ReadOnlySequence<byte>(input));
        var message = IdentifyProtocol.ReadAsync(reader, 8 * 1024, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        // What IdentifyService.Consume decodes from it.
        if (message.HasPublicKey) PublicKey.FromProtobuf(message.PublicKey.Span);
        if (message.HasSignedPeerRecord) PeerRecord.FromEnvelope(SignedEnvelope.Open(message.SignedPeerRecord.Span, PeerRecord.Domain));
        foreach (var address in message.ListenAddrs) Multiaddr.TryDecode(address.Span, out _);
        if (message.HasObservedAddr) Multiaddr.TryDecode(message.ObservedAddr.Span, out _);
    }

    private static IEnumerable<byte[]> IdentifySeeds()
    {
        var message = new P2PStack.Protocols.Identify.Pb.Identify
        {
            ProtocolVersion = "ipfs/0.1.0",
            AgentVersion = "synaptic-mesh/fuzz",
            PublicKey = ByteString.CopyFrom(Key.PublicKey.ToProtobuf()),
            ObservedAddr = ByteString.CopyFrom(Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001").Bytes.Span),
            SignedPeerRecord = ByteString.CopyFrom(PeerRecordEnvelope()),
        };
        message.Protocols.Add(["/ipfs/id/1.0.0", "/ipfs/ping/1.0.0"]);
        foreach (var address in SampleAddresses.Take(3)) message.ListenAddrs.Add(ByteString.CopyFrom(Multiaddr.Parse(address).Bytes.Span));
        yield return LengthPrefixedBytes(message);
    }

    private static void Kad(byte[] input)
    {
        var reader = PipeReader.Create(new ReadOnlySequence<byte>(input));
        for (int i = 0; i < 16; i++)
        {
            var message = KadProtocol.ReadOrEndAsync(reader, 64 * 1024, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            if (message is null) return;
            foreach (var peer in message.CloserPeers.Concat(message.ProviderPeers)) KadProtocol.ToPeerInfo(peer, 16);
            if (message.Record is { } record) KadProtocol.ParseTimeReceived(record.TimeReceived);
        }
    }

    private static IEnumerable<byte[]> KadSeeds()
    {
        yield return Convert.FromHexString("0742ffffffff070a"); // a nested length near int.MaxValue (Google.Protobuf 3.25.1 threw IndexOutOfRangeException)
        var message = new P2PStack.Protocols.Kademlia.Pb.Message
        {
            Type = P2PStack.Protocols.Kademlia.Pb.Message.Types.MessageType.FindNode,
            Key = ByteString.CopyFrom(Self.Bytes.Span),
        };
        var peer = new PeerInfo(Self, SampleAddresses.Take(2).Select(a => Multiaddr.Parse(a)).ToList());
        message.CloserPeers.Add(KadProtocol.ToWire(peer, P2PStack.Protocols.Kademlia.Pb.Message.Types.ConnectionType.Connected));
        yield return LengthPrefixedBytes(message);
        var put = new P2PStack.Protocols.Kademlia.Pb.Message
        {
            Type = P2PStack.Protocols.Kademlia.Pb.Message.Types.MessageType.PutValue,
            Key = ByteString.CopyFromUtf8("/pk/x"),
            Record = new P2PStack.Protocols.Kademlia.Pb.Record
            {
                Key = ByteString.CopyFromUtf8("/pk/x"),
                Value = ByteString.CopyFrom(Key.PublicKey.ToProtobuf()),
                TimeReceived = KadProtocol.FormatTimeReceived(DateTimeOffset.UnixEpoch),
            },
        };
        yield return LengthPrefixedBytes(put);
    }

    /// <summary>An RPC as a GossipSub router takes it: decoded, then for each published message the author, key and
    /// signature checked (<see cref="MessageSigning.Verify"/>, which answers null for any bad field) and its ids, and for
    /// each PRUNE's peer exchange the peer ids and signed peer records read as <c>ConnectToExchangedPeers</c> reads
    /// them (a bad one is skipped: only format errors are refusals).</summary>
    private static void GossipSubRpc(byte[] input)
    {
        var rpc = RpcCodec.Decode(input);
        foreach (var message in rpc.Publish)
        {
            if (MessageSigning.Verify(message) is { } author && !author.Bytes.Span.SequenceEqual(message.From.Span))
                throw new InvalidOperationException($"a message from {Convert.ToHexString(message.From.Span)} verified as {author}'s");
            MessageSigning.FromAndSeqnoId(message);
            MessageSigning.DataHashId(message);
        }
        foreach (var prune in rpc.Control?.Prune ?? [])
        {
            foreach (var info in prune.Peers)
            {
                PeerId peer;
                try
                {
                    peer = PeerId.FromBytes(info.PeerID.Span);
                }
                catch (P2PFormatException)
                {
                    continue;
                }
                if (!info.HasSignedPeerRecord) continue;
                try
                {
                    var envelope = SignedEnvelope.Open(info.SignedPeerRecord.Span, PeerRecord.Domain);
                    _ = PeerRecord.FromEnvelope(envelope).PeerId == peer;
                }
                catch (P2PFormatException)
                {
                }
            }
        }
    }

    private static IEnumerable<byte[]> GossipSubSeeds()
    {
        yield return Convert.FromHexString("0affffffff0708"); // a nested length near int.MaxValue (Google.Protobuf 3.25.1 threw IndexOutOfRangeException)
        var rpc = new P2PStack.Protocols.GossipSub.Pb.RPC();
        rpc.Subscriptions.Add(new P2PStack.Protocols.GossipSub.Pb.RPC.Types.SubOpts { Subscribe = true, Topicid = "fuzz" });
        rpc.Publish.Add(new P2PStack.Protocols.GossipSub.Pb.Message
        {
            From = ByteString.CopyFrom(Self.Bytes.Span), Data = ByteString.CopyFromUtf8("hello"), Seqno = ByteString.CopyFrom(new byte[8]), Topic = "fuzz",
        });
        rpc.Control = new P2PStack.Protocols.GossipSub.Pb.ControlMessage();
        rpc.Control.Ihave.Add(new P2PStack.Protocols.GossipSub.Pb.ControlIHave { TopicID = "fuzz", MessageIDs = { ByteString.CopyFromUtf8("id") } });
        rpc.Control.Graft.Add(new P2PStack.Protocols.GossipSub.Pb.ControlGraft { TopicID = "fuzz" });
        yield return rpc.ToByteArray();
        // A signed message (author and key, as go and js send them) and a PRUNE exchanging a peer with its signed record.
        var signed = new P2PStack.Protocols.GossipSub.Pb.RPC();
        var message = MessageSigning.CreateSigned("fuzz", "hello"u8, Key, 1);
        message.Key = ByteString.CopyFrom(Key.PublicKey.ToProtobuf());
        signed.Publish.Add(message);
        signed.Publish.Add(MessageSigning.CreateSigned("fuzz", "no key"u8, Key, 2));
        signed.Control = new P2PStack.Protocols.GossipSub.Pb.ControlMessage();
        var prune = new P2PStack.Protocols.GossipSub.Pb.ControlPrune { TopicID = "fuzz", Backoff = 60 };
        prune.Peers.Add(new P2PStack.Protocols.GossipSub.Pb.PeerInfo { PeerID = ByteString.CopyFrom(Self.Bytes.Span), SignedPeerRecord = ByteString.CopyFrom(PeerRecordEnvelope()) });
        prune.Peers.Add(new P2PStack.Protocols.GossipSub.Pb.PeerInfo { PeerID = ByteString.CopyFrom(Self.Bytes.Span) });
        signed.Control.Prune.Add(prune);
        yield return signed.ToByteArray();
    }

    /// <summary>A fixed clock, so that a seed's creation time stays inside the allowed skew in every run.</summary>
    private static readonly DateTimeOffset NeuralNow = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    private static void Neural(byte[] input)
    {
        var frame = NeuralMessageCodec.DecodeFrame(input);
        NeuralMessageCodec.Verify(frame.Envelope.Span, (int)Math.Min(frame.Hops, int.MaxValue), NeuralNow, Fixed.NeuralOptions);
    }

    private static IEnumerable<byte[]> NeuralSeeds()
    {
        IMessage[] bodies =
        [
            new Thought { Content = "the sky is blue", Confidence = 0.9, Tags = { "sky" } },
            new Command { Name = "echo", Args = { "hello" }, Content = "echo hello" },
            new ConsensusVote { ProposalId = "p-1", Round = 1, Accept = true, Content = "yes" },
        ];
        foreach (var body in bodies)
        {
            var message = new NeuralMessage
            {
                Id = ByteString.CopyFrom(Enumerable.Range(0, 16).Select(i => (byte)i).ToArray()),
                SourcePeer = ByteString.CopyFrom(Self.Bytes.Span),
                Destination = new Destination { Agent = "agent-001" },
                Priority = 5,
                TtlSeconds = 60,
                HopLimit = 4,
                CreatedAtMs = (ulong)NeuralNow.ToUnixTimeMilliseconds(),
            };
            NeuralMessageTypes.SetBody(message, body);
            yield return NeuralMessageCodec.EncodeFrame(NeuralMessageCodec.Seal(message, Key), 1);
        }
    }

    private static void Mdns(byte[] input)
    {
        var message = DnsMessageReader.Read(input);
        MdnsResponseParser.Parse(message, Fixed.MdnsOptions, "self." + Fixed.MdnsOptions.ServiceName, Self, IPAddress.Loopback);
        foreach (var record in message.Answers.Concat(message.Additionals))
        {
            if (record.Data is DnsTxtData txt)
                foreach (var text in txt.Strings) MdnsResponseParser.TryParseDnsAddr(text, out _, out _);
        }
    }

    private static IEnumerable<byte[]> MdnsSeeds()
    {
        using var other = PrivateKey.Generate();
        var responder = new MdnsResponder(PeerId.FromPublicKey(other.PublicKey), new MdnsOptions { PeerName = "fuzzpeer0123456789abcdefghijklmnopq" });
        var query = responder.Query();
        yield return DnsMessageWriter.Write(query);
        var answer = responder.Answer(query, SampleAddresses.Take(3).Select(a => Multiaddr.Parse(a)).ToList(), legacyUnicast: false);
        if (answer is not null) yield return DnsMessageWriter.Write(answer);
    }

    private static byte[] LengthPrefixedBytes(IMessage message)
    {
        byte[] body = message.ToByteArray();
        return [.. P2PStack.Encoding.Varint.Encode((ulong)body.Length), .. body];
    }
}
