using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Authentication;
using System.Text.Json;
using Microsoft.Extensions.Options;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Network;
using P2PStack.Registry;
using P2PStack.Security.Noise;
using P2PStack.Security.Noise.Protocol;

namespace P2PStack.Fuzz;

/// <summary>
/// Decoders that sit behind a first step the fuzzer cannot take by itself: the registry client's reading of the
/// registry's answers (behind HTTP), and the Noise handshake's payload and transport frames (behind the AEAD; the
/// target's own peer encrypts the input with the session's real keys).
/// </summary>
internal static class AnswerTargets
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(5);

    private static class Fixed
    {
        public static readonly PrivateKey Key = Ed25519PrivateKey.FromSeed(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());
        public static readonly PeerId Self = PeerId.FromPublicKey(Key.PublicKey);
        public static readonly PrivateKey OtherKey = Ed25519PrivateKey.FromSeed(Enumerable.Range(2, 32).Select(i => (byte)i).ToArray());
        public static readonly ILocalIdentity Identity = new Host.LocalIdentity(Key);

        /// <summary>The fuzzer's peer's static X25519 key: fixed, so seeds signed over it stay valid between runs.</summary>
        public static readonly byte[] PeerStatic = [.. Enumerable.Range(3, 32).Select(i => (byte)i)];
    }

    // ---- registry answers ----

    private static readonly string[] Endpoints = ["register", "heartbeat", "approve", "deny", "sovereign", "nodes", "node", "topology", "discover"];

    /// <summary>
    /// A <see cref="RegistryClient"/> call whose answer is the input: the first byte picks the call (register,
    /// heartbeat, approve, deny, sovereign/add, nodes, one node, topology, or <see cref="RegistryDiscovery"/>), the
    /// second the status (even: 200, odd: an error status), the rest is the body. The client must return a record or
    /// throw <see cref="RegistryRequestException"/>; discovery then reads the nodes' ids and addresses as the node
    /// agent does.
    /// </summary>
    public static void RegistryAnswer(byte[] input)
    {
        if (input.Length < 2) return;
        var status = (input[1] & 1) == 0 ? HttpStatusCode.OK : (HttpStatusCode)(400 + input[1] % 200);
        using var http = new HttpClient(new AnswerHandler(status, input[2..]));
        using var client = new RegistryClient(Fixed.Key, new RegistryClientOptions { BaseAddress = new Uri("http://registry.test:8190/") }, http);
        var ct = CancellationToken.None;
        switch (Endpoints[input[0] % Endpoints.Length])
        {
            case "register": Use(client.RegisterAsync(new RegisterRequest { Name = "n" }, ct).GetAwaiter().GetResult()); break;
            case "heartbeat": Use(client.HeartbeatAsync(new HeartbeatRequest(), ct).GetAwaiter().GetResult()); break;
            case "approve": Use(client.ApproveAsync(Fixed.Self.ToString(), "ok", ct).GetAwaiter().GetResult()); break;
            case "deny": Use(client.DenyAsync(Fixed.Self.ToString(), null, ct).GetAwaiter().GetResult()); break;
            case "sovereign": Use(client.AddSovereignAsync(Fixed.Self.ToString(), null, ct).GetAwaiter().GetResult()); break;
            case "nodes": Use(client.GetNodesAsync(NodeStatus.Active, ct).GetAwaiter().GetResult()); break;
            case "node": Use(client.GetNodeAsync(Fixed.Self.ToString(), ct).GetAwaiter().GetResult()); break;
            case "topology": Use(client.GetTopologyAsync(ct).GetAwaiter().GetResult()); break;
            default:
                foreach (var node in RegistryDiscovery.FindActiveAsync(client, Fixed.Self, ct).GetAwaiter().GetResult())
                    _ = node.Peer.ToString() + string.Join(' ', node.Addresses);
                break;
        }
    }

    /// <summary>Prints the record as the CLI does (record ToString walks every member).</summary>
    private static void Use(object answer) => _ = answer.ToString();

    /// <summary>The registry: answers every request with the status and body given.</summary>
    private sealed class AnswerHandler(HttpStatusCode status, byte[] body) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
            return Task.FromResult(new HttpResponseMessage(status) { Content = content, RequestMessage = request });
        }
    }

    public static IEnumerable<byte[]> RegistryAnswerSeeds()
    {
        var now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var other = PeerId.FromPublicKey(Fixed.OtherKey.PublicKey).ToString();
        var node = new NodeView
        {
            Id = other, Name = "b", Status = NodeStatus.Active, RegisteredAt = now, LastSeen = now, ConnectedPeers = 1,
            Addresses = ["/ip4/192.0.2.7/tcp/4001", "/ip4/192.0.2.7/tcp/4001/p2p/" + other, "/ip6/::1/tcp/1/ws", "not an address"],
            Services = [new ServiceInfo("mesh", "/p2p/1", 4001)], Metadata = new Dictionary<string, string> { ["k"] = "v" },
            Connections = [new ConnectionReport(Fixed.Self.ToString(), new RttStats(1, 0.5, 2, 1.2), "/ip4/1.2.3.4/tcp/1", null)],
        };
        byte[] Json<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, RegistryJson.Options);
        byte[] Seed(string endpoint, byte status, byte[] body) => [(byte)Array.IndexOf(Endpoints, endpoint), status, .. body];
        var statusAnswer = Json(new NodeStatusResponse(other, NodeStatus.Pending));
        yield return Seed("register", 0, statusAnswer);
        yield return Seed("heartbeat", 0, statusAnswer);
        yield return Seed("approve", 0, statusAnswer);
        yield return Seed("sovereign", 0, Json(new SovereignView(other, "admin", Fixed.Self.ToString(), now)));
        yield return Seed("nodes", 0, Json(new NodeList([node], 1)));
        yield return Seed("node", 0, Json(node));
        yield return Seed("topology", 0, Json(new Topology([node], [new TopologyLink(other, Fixed.Self.ToString(), new RttStats(1, 1, 1, 1), other, now, false)], now)));
        yield return Seed("discover", 0, Json(new NodeList([node, node with { Id = Fixed.Self.ToString() }], 2)));
        yield return Seed("register", 1, Json(new RegistryError("node is denied")));
    }

    // ---- Noise past the first decryption ----

    /// <summary>
    /// The <c>/noise</c> handshake through <see cref="NoiseSecureChannel"/> against a peer of the target's own
    /// (<see cref="HandshakeState"/> with a fixed static key) that follows the protocol, so every message decrypts:
    /// the input is the plaintext that peer sends. First byte: bit 0 the channel's role (0 responder, 1 initiator).
    /// Then a 2-byte length and the peer's identity payload (message 3 or 2: the signed libp2p payload, decoded by
    /// <c>HandshakePayload.Verify</c> after the AEAD), then transport frames (2-byte length, plaintext) that the peer
    /// encrypts with its half of the split and the secured connection decrypts and is read to its end. Bad payloads
    /// must fail with the handshake's typed error and documented causes.
    /// </summary>
    public static void NoiseSession(byte[] input) => NoiseSession(input, NoiseSuite.Classical);

    /// <summary>
    /// <see cref="NoiseSession(byte[])"/> for the hybrid suites (XXhfs with ML-KEM-512, -768, -1024 as the first byte's
    /// bits 1-2 say, 0 to 2; 3 is 512 again): the peer of the target's own runs the hybrid pattern with real ephemeral
    /// X25519 and ML-KEM keys, so its messages decrypt past the KEM's contribution to the keys, and the input is again
    /// the identity payload and the transport frames.
    /// </summary>
    public static void NoiseHybridSession(byte[] input)
    {
        if (input.Length == 0) return;
        NoiseSession(input, HybridSuites[(input[0] >> 1) % HybridSuites.Length]);
    }

    private static NoiseSuite[] HybridSuites => [NoiseSuite.MLKem512, NoiseSuite.MLKem768, NoiseSuite.MLKem1024];

    private static void NoiseSession(byte[] input, NoiseSuite suite)
    {
        if (input.Length < 3) return;
        bool initiator = (input[0] & 1) == 1;
        int payloadLength = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(input.AsSpan(1)), input.Length - 3);
        byte[] payload = input[3..(3 + payloadLength)];
        byte[] frames = input[(3 + payloadLength)..];
        var (ours, theirs) = DuplexPipe.CreatePair();
        var raw = new PairRawConnection(ours, initiator ? Direction.Outbound : Direction.Inbound);
        var channel = new NoiseSecureChannel(suite, Options.Create(new NoiseOptions { HandshakeTimeout = Guard }));
        using var guard = new CancellationTokenSource(Guard);
        var peer = Task.Run(() => PeerAsync(suite, theirs, !initiator, payload, frames, guard.Token));
        try
        {
            var secured = (initiator
                ? channel.SecureOutboundAsync(raw, Fixed.Identity, null, ["/yamux/1.0.0"], guard.Token)
                : channel.SecureInboundAsync(raw, Fixed.Identity, ["/yamux/1.0.0"], guard.Token)).AsTask().GetAwaiter().GetResult();
            try
            {
                // Accepted: the identity must be the one that signed the payload over the peer's static key.
                var signer = HandshakePayload.Verify(payload, PeerStaticPublic).PeerId;
                if (secured.RemotePeer != signer) throw new InvalidOperationException($"accepted {secured.RemotePeer}, the payload names {signer}");
                ReadToEnd(secured.Input, guard.Token).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is IOException or P2PFormatException or OperationCanceledException && !guard.IsCancellationRequested)
            {
            }
            finally
            {
                secured.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
        }
        catch (AuthenticationException e)
        {
            for (var cause = e.InnerException; cause is not null; cause = cause.InnerException)
            {
                if (cause is TimeoutException) throw new TimeoutException("the Noise handshake did not end after its input did", e);
                // A format error is the documented refusal; what it wraps (the platform's ASN.1 error, or for a string
                // field that is not UTF-8 the DecoderFallbackException under Google.Protobuf's error) is its detail.
                if (cause is P2PFormatException or Google.Protobuf.InvalidProtocolBufferException) break;
                if (cause is EndOfStreamException or IOException or AuthenticationException
                    or System.Security.Cryptography.CryptographicException or OperationCanceledException)
                    continue;
                throw new InvalidOperationException($"the handshake failed with an undocumented cause: {cause.GetType().FullName}", cause);
            }
        }
        finally
        {
            raw.Abort();
            if (guard.IsCancellationRequested) throw new TimeoutException("the Noise session did not end after its input did");
            peer.GetAwaiter().GetResult();
        }
    }

    private static byte[] PeerStaticPublic
    {
        get
        {
            using var key = X25519KeyPair.FromPrivateKey(Fixed.PeerStatic);
            return key.PublicKey.ToArray();
        }
    }

    private static async Task ReadToEnd(PipeReader input, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted || result.IsCanceled) return;
        }
    }

    /// <summary>The fuzzer's peer: runs the pattern honestly, with the input as its identity payload and transport
    /// plaintexts; stops quietly when the channel gives up.</summary>
    private static async Task PeerAsync(NoiseSuite suite, IDuplexPipe pipe, bool initiator, byte[] payload, byte[] frames, CancellationToken cancellationToken)
    {
        using var key = X25519KeyPair.FromPrivateKey(Fixed.PeerStatic);
        using var state = new HandshakeState(suite.Protocol, initiator, ReadOnlySpan<byte>.Empty, key);
        try
        {
            if (initiator)
            {
                await WriteAsync(pipe.Output, state, [], cancellationToken).ConfigureAwait(false);
                await ReadAsync(pipe.Input, state, cancellationToken).ConfigureAwait(false);
                await WriteAsync(pipe.Output, state, payload, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await ReadAsync(pipe.Input, state, cancellationToken).ConfigureAwait(false);
                await WriteAsync(pipe.Output, state, payload, cancellationToken).ConfigureAwait(false);
                await ReadAsync(pipe.Input, state, cancellationToken).ConfigureAwait(false);
            }
            var (send, receive) = state.Split();
            using (send)
            using (receive)
            {
                var rest = frames.AsMemory();
                while (rest.Length >= 2)
                {
                    int length = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(rest.Span), Math.Min(rest.Length - 2, NoiseFraming.MaxTransportPlaintext));
                    var frame = new byte[NoiseFraming.PrefixLength + length + CipherState.TagSize];
                    BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)(length + CipherState.TagSize));
                    send.EncryptWithAd([], rest.Span.Slice(2, length), frame.AsSpan(NoiseFraming.PrefixLength));
                    await pipe.Output.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
                    rest = rest[(2 + length)..];
                }
            }
        }
        catch (Exception e) when (e is NoiseException or EndOfStreamException or InvalidOperationException or OperationCanceledException
            or AuthenticationException)
        {
            // The channel refused the handshake and closed: the peer stops.
        }
        finally
        {
            await pipe.Output.CompleteAsync().ConfigureAwait(false);
            await pipe.Input.CompleteAsync().ConfigureAwait(false);
        }
    }

    private static async Task WriteAsync(PipeWriter output, HandshakeState state, byte[] payload, CancellationToken cancellationToken)
    {
        int length = state.GetNextMessageLength(payload.Length);
        if (length > NoiseFraming.MaxMessageLength) throw new InvalidOperationException("payload too long for one message");
        var frame = new byte[NoiseFraming.PrefixLength + length];
        BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)length);
        state.WriteMessage(payload, frame.AsSpan(NoiseFraming.PrefixLength));
        await output.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
    }

    private static async Task ReadAsync(PipeReader input, HandshakeState state, CancellationToken cancellationToken)
    {
        byte[] message = await NoiseFraming.ReadMessageAsync(input, state.MessageIndex + 1, cancellationToken).ConfigureAwait(false);
        state.ReadMessage(message, new byte[message.Length]);
    }

    public static IEnumerable<byte[]> NoiseSessionSeeds()
    {
        using var key = X25519KeyPair.FromPrivateKey(Fixed.PeerStatic);
        byte[] payload = HandshakePayload.Create(Fixed.OtherKey, key.PublicKey, ["/yamux/1.0.0", "/mplex/6.7.0"]);
        byte[] frames = [0, 5, .. "hello"u8, 0, 0, 0, 3, 1, 2, 3];
        foreach (byte role in new byte[] { 0, 1 })
        {
            yield return [role, (byte)(payload.Length >> 8), (byte)payload.Length, .. payload, .. frames];
            yield return [role, (byte)(payload.Length >> 8), (byte)payload.Length, .. payload];
        }
        // A payload signed over another static key: refused after decryption.
        byte[] wrong = HandshakePayload.Create(Fixed.OtherKey, new byte[32], []);
        yield return [0, (byte)(wrong.Length >> 8), (byte)wrong.Length, .. wrong];
    }

    /// <summary>The classical seeds for each hybrid suite (first byte: role in bit 0, suite in bits 1-2).</summary>
    public static IEnumerable<byte[]> NoiseHybridSessionSeeds()
    {
        foreach (var seed in NoiseSessionSeeds())
        {
            for (int suite = 0; suite < 3; suite++) yield return [(byte)((seed[0] & 1) | (suite << 1)), .. seed[1..]];
        }
    }

    private sealed class PairRawConnection(IDuplexPipe pipe, Direction direction) : IRawConnection
    {
        public PipeReader Input => pipe.Input;

        public PipeWriter Output => pipe.Output;

        public Addressing.Multiaddr LocalAddress { get; } = Addressing.Multiaddr.Parse("/ip4/127.0.0.1/tcp/1");

        public Addressing.Multiaddr RemoteAddress { get; } = Addressing.Multiaddr.Parse("/ip4/127.0.0.1/tcp/2");

        public Direction Direction => direction;

        public void Abort()
        {
            pipe.Input.Complete();
            pipe.Output.Complete();
        }

        public ValueTask DisposeAsync()
        {
            Abort();
            return ValueTask.CompletedTask;
        }
    }
}
