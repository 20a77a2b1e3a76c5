using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Discovery.Rendezvous;
using P2PStack.Discovery.Rendezvous.Pb;
using P2PStack.Discovery.SignedLan;
using P2PStack.Identity;
using P2PStack.Records;
using P2PStack.Registry;
using P2PStack.Registry.Security;
using P2PStack.Registry.Storage;
using MessageType = P2PStack.Discovery.Rendezvous.Pb.Message.Types.MessageType;

namespace P2PStack.Fuzz;

/// <summary>
/// Decoders of discovery and coordination services: rendezvous messages (as a point and as a client reads them),
/// signed LAN announcements, and the registry's HTTP API (signature headers and JSON bodies).
/// </summary>
internal static class ServiceTargets
{
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private static class Fixed
    {
        public static readonly PrivateKey Key = Ed25519PrivateKey.FromSeed(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        public static readonly PeerId Self = PeerId.FromPublicKey(Key.PublicKey);
        public static readonly PrivateKey OtherKey = Ed25519PrivateKey.FromSeed(Enumerable.Range(2, 32).Select(i => (byte)i).ToArray());
        public static readonly PeerId Other = PeerId.FromPublicKey(OtherKey.PublicKey);
        public static readonly RendezvousServerOptions Rendezvous = new();
        public static readonly LanAnnouncementOptions Lan = new();
    }

    private static byte[] Framed(params IMessage[] messages) =>
        [.. messages.SelectMany(m => (byte[])[.. Encoding.Varint.Encode((ulong)m.CalculateSize()), .. m.ToByteArray()])];

    private static ByteString Record(PrivateKey key, ulong seq) => ByteString.CopyFrom(
        new PeerRecord(PeerId.FromPublicKey(key.PublicKey), seq, [Multiaddr.Parse("/ip4/192.0.2.7/tcp/4001"), Multiaddr.Parse("/ip6/::1/tcp/4001/ws")])
            .Seal(key).ToBytes());

    // ---- rendezvous ----

    /// <summary>
    /// A stream's messages as a rendezvous point reads them from one peer (REGISTER with its signed peer record and
    /// TTL, UNREGISTER, DISCOVER with a cookie, against a point whose state the earlier messages made), and the
    /// DISCOVER_RESPONSEs among them as a client reads them (each registration's namespace and signed peer record).
    /// </summary>
    public static void Rendezvous(byte[] input)
    {
        using var server = new RendezvousServer(Options.Create(Fixed.Rendezvous), time: new FixedClock(Now));
        var reader = PipeReader.Create(new ReadOnlySequence<byte>(input));
        for (int i = 0; i < 32; i++)
        {
            var message = RendezvousProtocol.ReadAsync(reader, Fixed.Rendezvous.MaxRequestSize, CancellationToken.None).AsTask().GetAwaiter().GetResult();
            if (message is null) return;
            if (message.Type == MessageType.DiscoverResponse)
            {
                string? ns = i % 2 == 0 ? null : "fuzz";
                foreach (var registration in message.DiscoverResponse?.Registrations ?? [])
                    RendezvousClient.Verify(registration, ns);
                continue;
            }
            try
            {
                server.Handle(message, Fixed.Self);
            }
            catch (RendezvousFormatException)
            {
                // the point resets the stream; the next input is a new stream
                return;
            }
        }
    }

    public static IEnumerable<byte[]> RendezvousSeeds()
    {
        var register = new Message
        {
            Type = MessageType.Register,
            Register = new Message.Types.Register { Ns = "fuzz", Ttl = 7200, SignedPeerRecord = Record(Fixed.Key, 1) },
        };
        var discover = new Message { Type = MessageType.Discover, Discover = new Message.Types.Discover { Ns = "fuzz", Limit = 10 } };
        yield return Framed(register, discover);
        yield return Framed(register, discover, new Message
        {
            Type = MessageType.Discover,
            Discover = new Message.Types.Discover { Ns = "fuzz", Limit = 1, Cookie = ByteString.CopyFrom(new byte[24]) },
        });
        yield return Framed(register, new Message { Type = MessageType.Unregister, Unregister = new Message.Types.Unregister { Ns = "fuzz" } });
        var response = new Message.Types.DiscoverResponse { Status = Message.Types.ResponseStatus.Ok, Cookie = ByteString.CopyFrom(new byte[24]) };
        response.Registrations.Add(new Message.Types.Register { Ns = "fuzz", Ttl = 7200, SignedPeerRecord = Record(Fixed.Key, 1) });
        response.Registrations.Add(new Message.Types.Register { Ns = "fuzz", Ttl = 60, SignedPeerRecord = Record(Fixed.OtherKey, 5) });
        yield return Framed(new Message { Type = MessageType.DiscoverResponse, DiscoverResponse = response });
    }

    // ---- signed LAN announcements ----

    /// <summary>A LAN announcement datagram: <see cref="LanAnnouncement.Verify"/> (framing, envelope, record, time
    /// window) at a fixed clock.</summary>
    public static void SignedLan(byte[] input)
    {
        var verdict = LanAnnouncement.Verify(input, Now, Fixed.Lan.TimeWindow, Fixed.Lan.MaxDatagramSize, out var record);
        if (verdict == AnnouncementVerdict.Accepted && record is null) throw new InvalidOperationException("accepted without a record");
    }

    public static IEnumerable<byte[]> SignedLanSeeds() =>
    [
        LanAnnouncement.Create(Fixed.Key, [Multiaddr.Parse("/ip4/192.168.1.20/tcp/4001"), Multiaddr.Parse("/ip4/192.168.1.20/udp/4001/quic-v1")], Now),
        LanAnnouncement.Create(Fixed.OtherKey, [Multiaddr.Parse("/ip6/fe80::1/tcp/4001")], Now.AddSeconds(-30)),
    ];

    // ---- registry HTTP API ----

    private static class Endpoints
    {
        public static readonly string[] Paths = ["/register", "/heartbeat", "/approve/" + Fixed.Other, "/sovereign/add"];
    }

    private static class RegistryFixture
    {
        public static readonly RegistryOptions Options = new() { TimeProvider = new FixedClock(Now) };

        // The verifier's replay cache is the registry's SQLite store: a file in TMPDIR (fuzz/run.sh points TMPDIR at
        // its work directory, removed after the run; afl-fuzz kills its processes), one per process, removed at a
        // normal exit (replays).
        private static readonly string StoreDirectory = Path.Combine(Path.GetTempPath(), $"p2pstack-fuzz-registry-{Environment.ProcessId}");

        public static readonly RegistryStore Store = OpenStore();

        private static RegistryStore OpenStore()
        {
            var store = new RegistryStore(Path.Combine(StoreDirectory, "registry.db"), TimeSpan.FromSeconds(5));
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                store.Dispose();
                Directory.Delete(StoreDirectory, recursive: true);
            };
            return store;
        }

        public static readonly RequestVerifier Verifier = new(Options, Store);
    }

    /// <summary>
    /// A signed request to the registry as its handlers read it. First byte: the endpoint (register, heartbeat,
    /// approve, sovereign/add); then four lines, the Mesh-Public-Key, Mesh-Timestamp, Mesh-Nonce and Mesh-Signature
    /// header values; then the body. <c>RequestVerifier.VerifyAsync</c> checks the headers and signature at a fixed
    /// clock; the body is then parsed and checked as the endpoint does (whoever holds a key, and keys are free, gets
    /// that far), signed or not: JSON into the request record, then <c>RequestValidation.Check</c>, the decision's
    /// reason, or <c>SovereignKey.Parse</c>. Refusals are <see cref="RegistryException"/>s (answered 4xx).
    /// </summary>
    public static void RegistryRequest(byte[] input)
    {
        if (input.Length < 1 || input.Length - 1 > RegistryFixture.Options.MaxRequestBodyBytes + 8 * 1024) return;
        int endpoint = input[0] % 4;
        var rest = input.AsSpan(1);
        var headers = new string[4];
        for (int i = 0; i < headers.Length; i++)
        {
            int newline = rest.IndexOf((byte)'\n');
            if (newline < 0) return;
            headers[i] = System.Text.Encoding.UTF8.GetString(rest[..newline]);
            rest = rest[(newline + 1)..];
        }
        byte[] body = rest.ToArray();

        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("127.0.0.1:8080");
        context.Request.Path = Endpoints.Paths[endpoint];
        context.Request.Headers[RequestSigning.PublicKeyHeader] = headers[0];
        context.Request.Headers[RequestSigning.TimestampHeader] = headers[1];
        context.Request.Headers[RequestSigning.NonceHeader] = headers[2];
        context.Request.Headers[RequestSigning.SignatureHeader] = headers[3];
        context.Request.Body = new MemoryStream(body);
        context.Request.ContentLength = body.Length;
        context.Connection.RemoteIpAddress = System.Net.IPAddress.Loopback;
        try
        {
            RegistryFixture.Verifier.VerifyAsync(context).GetAwaiter().GetResult();
        }
        catch (RegistryException)
        {
        }
        RegistryBody(endpoint, body);
    }

    private static void RegistryBody(int endpoint, byte[] body)
    {
        var options = RegistryFixture.Options;
        switch (endpoint)
        {
            case 0:
                RequestValidation.Check(RequestValidation.Parse<RegisterRequest>(body), options, Fixed.Self, System.Net.IPAddress.Loopback);
                break;
            case 1:
                RequestValidation.Check(RequestValidation.Parse<HeartbeatRequest>(body), options, Fixed.Self, System.Net.IPAddress.Loopback);
                break;
            case 2:
                // Decide: the reason is checked inline by the endpoint (length, control characters).
                _ = RequestValidation.ParseOptional(body, new DecisionRequest()).Reason?.Any(char.IsControl);
                break;
            default:
                var request = RequestValidation.Parse<SovereignAddRequest>(body);
                if (string.IsNullOrWhiteSpace(request.Key)) return;
                try
                {
                    SovereignKey.Parse(request.Key);
                }
                catch (FormatException)
                {
                    // answered 400 by the endpoint
                }
                break;
        }
    }

    public static IEnumerable<byte[]> RegistryRequestSeeds()
    {
        var register = new RegisterRequest
        {
            NodeId = Fixed.Self.ToString(),
            Name = "fuzz-node",
            Addresses = ["/ip4/127.0.0.1/tcp/4001", "/ip6/::1/tcp/4001/ws"],
            Services = [new ServiceInfo("gossipsub", "/meshsub/1.1.0"), new ServiceInfo("metrics", Port: 9090)],
            MetricsUrl = "http://127.0.0.1:9090/metrics",
            Metadata = new Dictionary<string, string> { ["region"] = "eu" },
        };
        var heartbeat = new HeartbeatRequest
        {
            Connections = [new ConnectionReport(Fixed.Other.ToString(), new RttStats(1.5, 1, 2, 1.4), "/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/tcp/5001")],
            Addresses = ["/ip4/127.0.0.1/tcp/4001"],
        };
        object[] bodies =
        [
            register,
            heartbeat,
            new DecisionRequest("looks fine"),
            new SovereignAddRequest(Convert.ToBase64String(Fixed.OtherKey.PublicKey.ToProtobuf()).TrimEnd('=').Replace('+', '-').Replace('/', '_'), "second"),
        ];
        for (int endpoint = 0; endpoint < bodies.Length; endpoint++)
        {
            byte[] body = JsonSerializer.SerializeToUtf8Bytes(bodies[endpoint], bodies[endpoint].GetType(), RegistryJson.Options);
            var signed = RequestSigning.Sign(Fixed.Key, "POST", "127.0.0.1:8080", Endpoints.Paths[endpoint], body,
                Now.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture), $"fuzz-nonce-{endpoint:D6}-abcdef");
            yield return [(byte)endpoint, .. System.Text.Encoding.UTF8.GetBytes($"{signed.PublicKey}\n{signed.Timestamp}\n{signed.Nonce}\n{signed.Signature}\n"), .. body];
        }
        yield return [3, .. System.Text.Encoding.UTF8.GetBytes("\n\n\n\n{\"key\":\"" + Fixed.Other + "\"}")];
    }
}
