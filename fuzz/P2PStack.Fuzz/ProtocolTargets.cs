using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Consensus.Dag;
using P2PStack.Discovery.Signaling;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Nat;
using P2PStack.Nat.AutoNat;
using P2PStack.Nat.Dcutr;
using P2PStack.Nat.Relay;
using P2PStack.Nat.Stun;
using P2PStack.Privacy.Onion;
using P2PStack.Privacy.Onion.Wire;
using P2PStack.Privacy.Padding;
using P2PStack.Privacy.ShadowAddresses;
using P2PStack.Records;
using P2PStack.Security.Tls;

namespace P2PStack.Fuzz;

/// <summary>
/// Decoders of the protocols that landed after the first fuzz targets: TLS certificates, the daemon's control
/// protocol, circuit relay v2, DCUtR, AutoNAT v1 and v2, STUN, onion cells and relay descriptors, shadow descriptors,
/// DAG vertices, swarm signalling presence and padding frames. Each does with its input what the receiving code does.
/// </summary>
internal static class ProtocolTargets
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    private static class Fixed
    {
        public static readonly PrivateKey Key = Ed25519PrivateKey.FromSeed(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        public static readonly PeerId Self = PeerId.FromPublicKey(Key.PublicKey);
        public static readonly PrivateKey OtherKey = Ed25519PrivateKey.FromSeed(Enumerable.Range(2, 32).Select(i => (byte)i).ToArray());
        public static readonly PeerId Other = PeerId.FromPublicKey(OtherKey.PublicKey);
        public static readonly DagConsensusOptions Dag = new();
        public static readonly SwarmSignalingOptions Signaling = new();
        public static readonly byte[] Swarm = SignalingProtocol.SwarmId("fuzz");
    }

    private static PipeReader Reader(byte[] input) => PipeReader.Create(new ReadOnlySequence<byte>(input));

    private static byte[] Framed(params IMessage[] messages) =>
        [.. messages.SelectMany(m => (byte[])[.. Encoding.Varint.Encode((ulong)m.CalculateSize()), .. m.ToByteArray()])];

    // ---- TLS: the peer's certificate and its libp2p extension ----

    /// <summary>The peer certificate a TLS handshake hands to the verifier: X.509 parsing (the platform's), then
    /// Libp2pCertificate.Verify (validity, self-signature, the libp2p extension's key and signature).</summary>
    public static void TlsCertificate(byte[] input)
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadCertificate(input);
        }
        catch (System.Security.Cryptography.CryptographicException)
        {
            return; // not a certificate: the TLS stack refuses it before our code runs
        }
        using (certificate)
        {
            // Inside the validity period when it decodes (so the fuzzer gets past that check), else any time: Verify
            // reads the dates itself and must refuse what does not decode.
            DateTimeOffset now;
            try
            {
                now = certificate.NotBefore.ToUniversalTime().AddSeconds(1);
            }
            catch (System.Security.Cryptography.CryptographicException)
            {
                now = Now;
            }
            var key = Libp2pCertificate.Verify(certificate, now);
            PeerId.FromPublicKey(key);
        }
    }

    public static IEnumerable<byte[]> TlsCertificateSeeds()
    {
        foreach (var type in new[] { KeyType.Ed25519, KeyType.Ecdsa, KeyType.Secp256k1 })
        {
            using var key = PrivateKey.Generate(type);
            using var certificate = Libp2pCertificate.Create(key, TimeSpan.FromDays(1));
            yield return certificate.RawData;
        }
    }

    // ---- The libp2p daemon's control protocol ----

    /// <summary>What the daemon reads from a control client: length-prefixed <c>Request</c>s, each checked field by
    /// field as the server does before acting (peer ids, addresses, protocols, CIDs, timeouts).</summary>
    public static void Daemon(byte[] input)
    {
        var reader = Reader(input);
        var options = new P2PStack.Daemon.DaemonOptions();
        for (int i = 0; i < 16; i++)
        {
            using var message = LengthPrefixed.ReadMessageOrEndAsync(reader, 64 * 1024, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            if (message is null) return;
            P2PStack.Daemon.Pb.Request request;
            try
            {
                request = P2PStack.Daemon.Pb.Request.Parser.ParseFrom(message.Span);
            }
            catch (InvalidProtocolBufferException)
            {
                return; // the server answers an error and closes
            }
            try
            {
                Check(request, options);
            }
            catch (P2PStack.Daemon.DaemonRequestException)
            {
            }
        }
    }

    private static void Check(P2PStack.Daemon.Pb.Request request, P2PStack.Daemon.DaemonOptions options)
    {
        if (request.Connect is { } connect)
        {
            var peer = P2PStack.Daemon.RequestFields.Peer(connect.Peer, "peer");
            P2PStack.Daemon.RequestFields.PeerAddresses(connect.Addrs, peer, "addrs");
            P2PStack.Daemon.RequestFields.Timeout(connect.HasTimeout, connect.Timeout, options);
        }
        if (request.StreamOpen is { } open)
        {
            P2PStack.Daemon.RequestFields.Peer(open.Peer, "peer");
            P2PStack.Daemon.RequestFields.Protocols(open.Proto, "proto");
            P2PStack.Daemon.RequestFields.Timeout(open.HasTimeout, open.Timeout, options);
        }
        if (request.StreamHandler is { } handler)
        {
            P2PStack.Daemon.RequestFields.Address(handler.Addr, "addr");
            P2PStack.Daemon.RequestFields.Protocols(handler.Proto, "proto");
        }
        if (request.Dht is { } dht)
        {
            if (dht.HasPeer) P2PStack.Daemon.RequestFields.Peer(dht.Peer, "peer");
            if (dht.HasCid) P2PStack.Daemon.RequestFields.Cid(dht.HasCid, dht.Cid);
            P2PStack.Daemon.RequestFields.Bytes(dht.HasKey, dht.Key, "key");
            P2PStack.Daemon.RequestFields.Timeout(dht.HasTimeout, dht.Timeout, options);
        }
        if (request.Disconnect is { } disconnect) P2PStack.Daemon.RequestFields.Peer(disconnect.Peer, "peer");
        if (request.ConnManager is { HasPeer: true } manager) P2PStack.Daemon.RequestFields.Peer(manager.Peer, "peer");
    }

    public static IEnumerable<byte[]> DaemonSeeds()
    {
        // Found by the long run: a nested message of 2^31-1 bytes made Google.Protobuf 3.25.1 throw
        // IndexOutOfRangeException (fixed by 3.36.2); kept so every pass runs it again.
        yield return Convert.FromHexString("072affffffff0708");
        var connect = new P2PStack.Daemon.Pb.Request
        {
            Type = P2PStack.Daemon.Pb.Request.Types.Type.Connect,
            Connect = new P2PStack.Daemon.Pb.ConnectRequest { Peer = ByteString.CopyFrom(Fixed.Self.Bytes.Span), Timeout = 10 },
        };
        connect.Connect.Addrs.Add(ByteString.CopyFrom(Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001").Bytes.Span));
        var open = new P2PStack.Daemon.Pb.Request
        {
            Type = P2PStack.Daemon.Pb.Request.Types.Type.StreamOpen,
            StreamOpen = new P2PStack.Daemon.Pb.StreamOpenRequest { Peer = ByteString.CopyFrom(Fixed.Self.Bytes.Span), Proto = { "/echo/1.0.0" } },
        };
        var dht = new P2PStack.Daemon.Pb.Request
        {
            Type = P2PStack.Daemon.Pb.Request.Types.Type.Dht,
            Dht = new P2PStack.Daemon.Pb.DHTRequest { Type = P2PStack.Daemon.Pb.DHTRequest.Types.Type.GetValue, Key = ByteString.CopyFromUtf8("/pk/x") },
        };
        yield return Framed(connect, open, dht, new P2PStack.Daemon.Pb.Request { Type = P2PStack.Daemon.Pb.Request.Types.Type.Identify });
    }

    // ---- Circuit relay v2 ----

    /// <summary>What a relay reads on <c>/hop</c> (RESERVE, CONNECT) and what a client reads back (STATUS with a
    /// reservation: addresses, expiry, signed voucher; the limit), then a <c>/stop</c> CONNECT as the target reads it.</summary>
    public static void Relay(byte[] input)
    {
        var reader = Reader(input);
        var hop = ProtobufFraming.ReadAsync(reader, Nat.Relay.Pb.HopMessage.Parser, RelayProtocol.MaxMessageSize,
            (text, inner) => new RelayFormatException(text, inner), CancellationToken.None).GetAwaiter().GetResult();
        if (hop.Peer is { } target)
        {
            PeerIds.TryFromBytes(target.Id.Span, out _);
            foreach (var address in target.Addrs) Multiaddr.TryDecode(address.Span, out _);
        }
        if (hop.Reservation is { } reservation)
        {
            foreach (var address in reservation.Addrs) Multiaddr.TryDecode(address.Span, out _);
            if (reservation.HasVoucher) ReservationVoucher.Open(reservation.Voucher.Span, Fixed.Other, Fixed.Self);
        }
        RelayLimit.FromWire(hop.Limit, 1_000_000);
        var stop = ProtobufFraming.ReadAsync(reader, Nat.Relay.Pb.StopMessage.Parser, RelayProtocol.MaxMessageSize,
            (text, inner) => new RelayFormatException(text, inner), CancellationToken.None).GetAwaiter().GetResult();
        if (stop.Peer is { } from) PeerIds.TryFromBytes(from.Id.Span, out _);
        RelayLimit.FromWire(stop.Limit, 1_000_000);
    }

    public static IEnumerable<byte[]> RelaySeeds()
    {
        var voucher = new ReservationVoucher(Fixed.Other, Fixed.Self, Now.AddHours(1)).Seal(Fixed.OtherKey);
        var status = new Nat.Relay.Pb.HopMessage
        {
            Type = Nat.Relay.Pb.HopMessage.Types.Type.Status,
            Status = Nat.Relay.Pb.Status.Ok,
            Reservation = new Nat.Relay.Pb.Reservation
            {
                Expire = (ulong)Now.AddHours(1).ToUnixTimeSeconds(),
                Addrs = { ByteString.CopyFrom(Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001").Bytes.Span) },
                Voucher = ByteString.CopyFrom(voucher),
            },
            Limit = new Nat.Relay.Pb.Limit { Duration = 120, Data = 1 << 17 },
        };
        var stop = new Nat.Relay.Pb.StopMessage
        {
            Type = Nat.Relay.Pb.StopMessage.Types.Type.Connect,
            Peer = new Nat.Relay.Pb.Peer { Id = ByteString.CopyFrom(Fixed.Self.Bytes.Span) },
            Limit = new Nat.Relay.Pb.Limit { Duration = 120 },
        };
        yield return Framed(status, stop);
        var connect = new Nat.Relay.Pb.HopMessage
        {
            Type = Nat.Relay.Pb.HopMessage.Types.Type.Connect,
            Peer = new Nat.Relay.Pb.Peer { Id = ByteString.CopyFrom(Fixed.Other.Bytes.Span) },
        };
        yield return Framed(connect, stop);
    }

    // ---- DCUtR ----

    /// <summary>A hole punch's CONNECT (the observed addresses) and SYNC, as both sides read them.</summary>
    public static void Dcutr(byte[] input)
    {
        var reader = Reader(input);
        DcutrProtocol.ReadConnectAsync(reader, CancellationToken.None).GetAwaiter().GetResult();
        DcutrProtocol.ReadSyncAsync(reader, CancellationToken.None).GetAwaiter().GetResult();
    }

    public static IEnumerable<byte[]> DcutrSeeds()
    {
        var connect = new Nat.Dcutr.Pb.HolePunch { Type = Nat.Dcutr.Pb.HolePunch.Types.Type.Connect };
        connect.ObsAddrs.Add(ByteString.CopyFrom(Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001").Bytes.Span));
        connect.ObsAddrs.Add(ByteString.CopyFrom(Multiaddr.Parse("/ip6/2001:db8::1/tcp/4001").Bytes.Span));
        yield return Framed(connect, new Nat.Dcutr.Pb.HolePunch { Type = Nat.Dcutr.Pb.HolePunch.Types.Type.Sync });
    }

    // ---- AutoNAT v1 and v2 ----

    /// <summary>AutoNAT messages as servers and clients read them: v1 (DIAL with the peer's addresses, DIAL_RESPONSE
    /// with the dialed address), then v2 (dial request with addresses and nonce, dial-data request and response, dial
    /// response), then a v2 dial-back.</summary>
    public static void AutoNat(byte[] input)
    {
        var reader = Reader(input);
        static Exception Error(string text, Exception? inner) => new AutoNatFormatException(text, inner);
        var v1 = ProtobufFraming.ReadAsync(reader, Nat.AutoNat.Pb.V1.Message.Parser, 4096, Error, CancellationToken.None).GetAwaiter().GetResult();
        if (v1.Dial?.Peer is { } peer)
        {
            PeerIds.TryFromBytes(peer.Id.Span, out _);
            foreach (var address in peer.Addrs) Multiaddr.TryDecode(address.Span, out _);
        }
        if (v1.DialResponse is { HasAddr: true } response) Multiaddr.TryDecode(response.Addr.Span, out _);
        var v2 = ProtobufFraming.ReadAsync(reader, Nat.AutoNat.Pb.V2.Message.Parser, 4096, Error, CancellationToken.None).GetAwaiter().GetResult();
        if (v2.DialRequest is { } request)
            foreach (var address in request.Addrs) Multiaddr.TryDecode(address.Span, out _);
        ProtobufFraming.ReadAsync(reader, Nat.AutoNat.Pb.V2.DialBack.Parser, 64, Error, CancellationToken.None).GetAwaiter().GetResult();
    }

    public static IEnumerable<byte[]> AutoNatSeeds()
    {
        var dial = new Nat.AutoNat.Pb.V1.Message
        {
            Type = Nat.AutoNat.Pb.V1.Message.Types.MessageType.Dial,
            Dial = new Nat.AutoNat.Pb.V1.Message.Types.Dial
            {
                Peer = new Nat.AutoNat.Pb.V1.Message.Types.PeerInfo
                {
                    Id = ByteString.CopyFrom(Fixed.Self.Bytes.Span),
                    Addrs = { ByteString.CopyFrom(Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001").Bytes.Span) },
                },
            },
        };
        var request = new Nat.AutoNat.Pb.V2.Message
        {
            DialRequest = new Nat.AutoNat.Pb.V2.DialRequest
            {
                Nonce = 42,
                Addrs = { ByteString.CopyFrom(Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001").Bytes.Span) },
            },
        };
        yield return Framed(dial, request, new Nat.AutoNat.Pb.V2.DialBack { Nonce = 42 });
    }

    // ---- STUN ----

    /// <summary>A datagram a STUN client or server receives: StunCodec.Decode (attributes, fingerprint), then what the
    /// client and the server read from it (XOR-)MAPPED-ADDRESS, RESPONSE-ORIGIN, OTHER-ADDRESS, SOFTWARE, ERROR-CODE,
    /// CHANGE-REQUEST. First byte: with bit 0 set the target writes the header's length and a FINGERPRINT over the rest
    /// as a sender would, so that mutated attributes get past the CRC (otherwise nearly every mutation ends there).</summary>
    public static void Stun(byte[] input)
    {
        if (input.Length < 1) return;
        byte[] datagram = (input[0] & 1) != 0 ? WithFingerprint(input.AsSpan(1)) : input[1..];
        if (!StunCodec.LooksLikeStun(datagram)) return;
        var message = StunCodec.Decode(datagram);
        _ = message.MappedAddress;
        _ = message.ResponseOrigin;
        _ = message.OtherAddress;
        _ = message.Software;
        _ = message.Error;
        _ = message.ChangeRequest;
        StunCodec.Encode(message);
    }

    /// <summary>The header and attributes given (cut to whole words), its length field set, and a FINGERPRINT.</summary>
    private static byte[] WithFingerprint(ReadOnlySpan<byte> message)
    {
        if (message.Length < StunMessage.HeaderLength) return message.ToArray();
        int length = Math.Min((message.Length - StunMessage.HeaderLength) / 4 * 4, ushort.MaxValue - 8);
        var datagram = new byte[StunMessage.HeaderLength + length + 8];
        message[..(StunMessage.HeaderLength + length)].CopyTo(datagram);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(2), (ushort)(length + 8));
        int offset = StunMessage.HeaderLength + length;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(offset), StunAttributeType.Fingerprint);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(offset + 2), 4);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(datagram.AsSpan(offset + 4),
            System.IO.Hashing.Crc32.HashToUInt32(datagram.AsSpan(0, offset)) ^ 0x5354554E);
        return datagram;
    }

    public static IEnumerable<byte[]> StunSeeds()
    {
        byte[] transaction = [.. Enumerable.Range(1, 12).Select(i => (byte)i)];
        var request = new StunMessage(StunMessage.BindingMethod, StunClass.Request, transaction,
            [new StunAttribute(StunAttributeType.ChangeRequest, new byte[] { 0, 0, 0, 6 })]);
        yield return [0, .. StunCodec.Encode(request)];
        yield return [1, .. StunCodec.Encode(request, fingerprint: false)];
        var endpoint = new System.Net.IPEndPoint(System.Net.IPAddress.Parse("192.0.2.1"), 4001);
        var xor = new byte[StunAddress.EncodedLength(endpoint)];
        StunAddress.EncodeXor(endpoint, transaction, xor);
        var other = new System.Net.IPEndPoint(System.Net.IPAddress.Parse("2001:db8::1"), 3479);
        var plain = new byte[StunAddress.EncodedLength(other)];
        StunAddress.Encode(other, plain);
        var response = new StunMessage(StunMessage.BindingMethod, StunClass.SuccessResponse, transaction,
        [
            new StunAttribute(StunAttributeType.XorMappedAddress, xor),
            new StunAttribute(StunAttributeType.MappedAddress, plain),
            new StunAttribute(StunAttributeType.ResponseOrigin, plain),
            new StunAttribute(StunAttributeType.OtherAddress, plain),
            new StunAttribute(StunAttributeType.Software, "p2pstack"u8.ToArray()),
        ]);
        yield return [0, .. StunCodec.Encode(response)];
        yield return [1, .. StunCodec.Encode(response, fingerprint: false)];
        var error = new StunMessage(StunMessage.BindingMethod, StunClass.ErrorResponse, transaction,
            [new StunAttribute(StunAttributeType.ErrorCode, (byte[])[0, 0, 4, 20, .. "Unknown Attribute"u8])]);
        yield return [1, .. StunCodec.Encode(error, fingerprint: false)];
    }

    // ---- Onion: cells and relay descriptors ----

    /// <summary>
    /// Cells as a relay reads them off its link (the first two bytes choose the cell size, 128-2048): CREATE/CREATED
    /// handshake bodies through the handshake assembler, RELAY bodies (as decrypted) through the relay header and data
    /// reader and the relay message assembler.
    /// </summary>
    public static void OnionCells(byte[] input)
    {
        if (input.Length < 2) return;
        int size = CellLayout.MinCellSize + (((input[0] << 8) | input[1]) % (2048 - CellLayout.MinCellSize + 1));
        var layout = new CellLayout(size);
        var handshake = new HandshakeAssembler(layout, CellCommand.Create, 16 * 1024);
        var relay = new RelayMessageAssembler(64 * 1024);
        for (int offset = 2; offset + size <= input.Length; offset += size)
        {
            var cell = input.AsSpan(offset, size);
            var body = cell[1..];
            switch ((CellCommand)cell[0])
            {
                case CellCommand.Create or CellCommand.Created:
                    handshake.Add(body);
                    break;
                case CellCommand.Relay or CellCommand.RelayEarly:
                    var plaintext = body[..^Privacy.Onion.Crypto.LayerCipher.TagSize];
                    var header = CellCodec.ReadRelayHeader(plaintext);
                    relay.Add(header, CellCodec.RelayData(plaintext, header));
                    break;
            }
        }
    }

    public static IEnumerable<byte[]> OnionCellsSeeds()
    {
        var layout = new CellLayout(512);
        var create = new byte[layout.CellSize];
        CellCodec.WriteHandshake(create, layout, CellCommand.Create, new byte[100], 0);
        var relay = new byte[layout.CellSize];
        relay[0] = (byte)CellCommand.Relay;
        CellCodec.WriteRelayPlaintext(relay.AsSpan(1, layout.BodySize - Privacy.Onion.Crypto.LayerCipher.TagSize), RelayCommand.Data, 1, "hello"u8, more: false);
        yield return [0x01, 0x80, .. create, .. relay]; // 0x0180 % 1921 + 128 = 512
    }

    /// <summary>A relay descriptor as read from the DHT: RelayDescriptors.Open (envelope, signature, keys, addresses,
    /// lifetime).</summary>
    public static void OnionDescriptor(byte[] input) => Privacy.Onion.Directory.RelayDescriptors.Open(input, Now, TimeSpan.FromDays(2));

    public static IEnumerable<byte[]> OnionDescriptorSeeds()
    {
        // A crash of the evening run under Google.Protobuf 3.25.1 (the envelope's field 1 claims 2^31-1 bytes: the
        // limit overflow fixed by 3.36.2); kept so every pass runs it again.
        yield return Convert.FromHexString("0affffffff07e9084108080801122f79");
        var descriptor = new Privacy.Onion.Pb.RelayDescriptor
        {
            PeerId = ByteString.CopyFrom(Fixed.Self.Bytes.Span),
            OnionKeys = { new Privacy.Onion.Pb.OnionKey { PublicKey = ByteString.CopyFrom(new byte[1216]), ValidUntil = (ulong)Now.AddHours(12).ToUnixTimeSeconds() } },
            PublishedAt = (ulong)Now.ToUnixTimeSeconds(),
            ExpiresAt = (ulong)Now.AddHours(12).ToUnixTimeSeconds(),
            Addresses = { ByteString.CopyFrom(Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001").Bytes.Span) },
            Bandwidth = 1 << 20,
            MaxCircuits = 64,
            CellSize = 512,
            Protocol = "/synaptic/onion/1.0.0",
        };
        yield return Privacy.Onion.Directory.RelayDescriptors.Seal(descriptor, Fixed.Key);
    }

    // ---- Shadow descriptors ----

    /// <summary>A shadow descriptor as a DHT node checks it (first byte: the length of the DHT key that follows; then
    /// the value): ShadowDescriptor.Verify, and what verifies is decrypted with the fixed address of the seeds. With a
    /// first byte of 0xFF the rest is a descriptor body in the clear, which the target encrypts and signs with that
    /// fixed key, so that mutations of the body reach its decoder past the AEAD and the signature (they never would
    /// otherwise).</summary>
    public static void ShadowDescriptor(byte[] input)
    {
        if (input.Length < 1) return;
        Privacy.ShadowAddresses.ShadowDescriptor descriptor;
        if (input[0] == BodyMode)
        {
            descriptor = Privacy.ShadowAddresses.ShadowDescriptor.CreateFromBody(ShadowFixed.Key, ShadowFixed.Period, 1, Now.AddMinutes(30), input.AsSpan(1));
        }
        else
        {
            int keyLength = Math.Min(input[0], input.Length - 1);
            descriptor = Privacy.ShadowAddresses.ShadowDescriptor.Verify(input.AsSpan(1, keyLength), input.AsSpan(1 + keyLength), Now, TimeSpan.FromHours(1));
        }
        descriptor.Decrypt(ShadowFixed.Key.Address);
    }

    private const byte BodyMode = 0xFF;

    private static byte[] BodyOf(Privacy.ShadowAddresses.ShadowDescriptor descriptor) => descriptor.DecryptBody(ShadowFixed.Key.Address);

    /// <summary>The seeds are written by another process than the one fuzzing: the key must be the same in both (a
    /// random one, as before, left every seed failing at the address check, short of the body).</summary>
    private static class ShadowFixed
    {
        public static readonly ShadowKey Key = ShadowKey.Import(Convert.FromHexString("1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988"));
        public static readonly ShadowPeriod Period = ShadowPeriod.At(Now, TimeSpan.FromHours(1));
    }

    public static IEnumerable<byte[]> ShadowDescriptorSeeds()
    {
        var content = new ShadowDescriptorContent(
            [new IntroductionPoint(Fixed.Other, [Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001")], new byte[32])]);
        var descriptor = Privacy.ShadowAddresses.ShadowDescriptor.Create(ShadowFixed.Key, ShadowFixed.Period, 1, Now.AddMinutes(30), content);
        byte[] key = Privacy.ShadowAddresses.ShadowDescriptor.DhtKey(descriptor.BlindedKey);
        yield return [(byte)key.Length, .. key, .. descriptor.Encoded];
        // The same content as a body in the clear (what Decrypt recovers), and one with three introduction points.
        yield return [BodyMode, .. BodyOf(descriptor)];
        var three = new ShadowDescriptorContent([.. Enumerable.Range(0, 3).Select(i =>
            new IntroductionPoint(Fixed.Other, [Multiaddr.Parse($"/ip4/192.0.2.{i + 1}/tcp/4001"), Multiaddr.Parse($"/ip6/2001:db8::{i + 1}/udp/4001/quic-v1")], new byte[32]))]);
        yield return [BodyMode, .. BodyOf(Privacy.ShadowAddresses.ShadowDescriptor.Create(ShadowFixed.Key, ShadowFixed.Period, 2, Now.AddMinutes(30), three))];
    }

    // ---- DAG vertices ----

    /// <summary>A vertex as the DAG engine receives it: VertexCodec.Open (envelope, signature, parents, conflict keys,
    /// height, timestamp, payload).</summary>
    public static void DagVertex(byte[] input) => VertexCodec.Open(input, Fixed.Dag, Now);

    public static IEnumerable<byte[]> DagVertexSeeds()
    {
        var genesis = VertexCodec.Seal(Fixed.Dag, [], 0, Now, [], "genesis"u8, Fixed.Key);
        yield return genesis.Envelope;
        yield return VertexCodec.Seal(Fixed.Dag, [genesis.Id], 1, Now, [ConflictKey.FromBytes("coin-1"u8)], "spend"u8, Fixed.Key).Envelope;
    }

    // ---- Swarm signalling ----

    /// <summary>A presence announcement as a swarm member (and a signaling host relaying the swarm) receives it over
    /// gossipsub: SignalingProtocol.Open. First byte 0xFF: the rest is a Presence that the target signs with the fixed
    /// key (signing keys are free, so any sender reaches the checks behind the signature). What opens must be what the
    /// spec allows: signed by its peer, within the clock skew, an AVAILABLE one unexpired and within the longest TTL.</summary>
    public static void Signaling(byte[] input)
    {
        byte[] envelope = input.Length > 0 && input[0] == 0xFF
            ? SignedEnvelope.Seal(SignalingProtocol.PresenceDomain, SignalingProtocol.PresencePayloadType, input.AsSpan(1), Fixed.Key).ToBytes()
            : input;
        var options = Fixed.Signaling;
        var presence = SignalingProtocol.Open(envelope, Fixed.Swarm, Now, options);
        string? wrong = presence switch
        {
            { Since: var since } when since > Now + options.MaxClockSkew => "joined in the future",
            { Available: true, Until: var until } when until <= Now => "expired",
            { Available: true, Until: var until } when until > Now + options.MaxPresenceTtl + options.MaxClockSkew => "over the longest TTL",
            { Addresses.Count: var n } when n > options.MaxAddressesPerPresence => "too many addresses",
            { Hosts.Count: var n } when n > options.MaxAddressesPerPresence => "too many hosts",
            _ when input.Length > 0 && input[0] == 0xFF && presence.Peer != Fixed.Self => "a peer other than the signer",
            _ => null,
        };
        if (wrong is not null) throw new InvalidOperationException($"opened a presence that is {wrong}");
    }

    public static IEnumerable<byte[]> SignalingSeeds()
    {
        var presence = new Discovery.Signaling.Pb.Presence
        {
            Swarm = ByteString.CopyFrom(Fixed.Swarm),
            Peer = ByteString.CopyFrom(Fixed.Self.Bytes.Span),
            Kind = Discovery.Signaling.Pb.Presence.Types.Kind.Available,
            SinceMs = (ulong)Now.AddMinutes(-1).ToUnixTimeMilliseconds(),
            UntilMs = (ulong)Now.AddMinutes(1).ToUnixTimeMilliseconds(),
            Seq = 1,
            Addrs = { ByteString.CopyFrom(Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001").Bytes.Span) },
        };
        yield return SignalingProtocol.Seal(presence, Fixed.Key);
        // Behind the signature (the target signs): the same, a departure, a browser's presence naming its host.
        yield return [0xFF, .. presence.ToByteArray()];
        var left = presence.Clone();
        left.Kind = Discovery.Signaling.Pb.Presence.Types.Kind.Left;
        left.UntilMs = 0;
        yield return [0xFF, .. left.ToByteArray()];
        var browser = presence.Clone();
        browser.Addrs.Clear();
        browser.Hosts.Add(ByteString.CopyFrom(Fixed.Other.Bytes.Span));
        yield return [0xFF, .. browser.ToByteArray()];
    }

    // ---- Padding ----

    /// <summary>The padding filter's hello (the cell sizes a peer offers) and the cells read after the agreement
    /// (headers of cells of the agreed sizes).</summary>
    public static void Padding(byte[] input)
    {
        if (input.Length < 2) return;
        int helloLength = Math.Min(input[0], input.Length - 1);
        int[] remote = PaddingWire.ReadHello(input.AsSpan(1, helloLength));
        int[] agreed = PaddingWire.Agree([256, 1024, 4096], remote);
        if (agreed.Length == 0) return;
        var buffer = new ReadOnlySequence<byte>(input, 1 + helloLength, input.Length - 1 - helloLength);
        while (PaddingWire.TryReadHeader(buffer, agreed, out int cellSize, out _))
        {
            if (cellSize > buffer.Length) break;
            buffer = buffer.Slice(cellSize);
        }
    }

    public static IEnumerable<byte[]> PaddingSeeds()
    {
        int[] sizes = [256, 1024];
        var hello = new byte[64];
        PaddingWire.WriteHello(hello, sizes);
        int helloLength = Array.FindLastIndex(hello, b => b != 0) + 1;
        var cell = new byte[256];
        PaddingWire.WriteCell(cell, sizes, 0, new ReadOnlySequence<byte>("hello"u8.ToArray()));
        yield return [(byte)helloLength, .. hello.AsSpan(0, helloLength), .. cell];
    }
}
