using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using P2PStack.Conformance.Security;
using P2PStack.Network;
using P2PStack.Security.Noise.Protocol;

namespace P2PStack.Security.Noise.Tests;

public class NoiseChannelTests
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(30);

    private static NoiseSecureChannel Channel(NoiseSuite suite, Action<NoiseOptions>? configure = null)
    {
        var options = new NoiseOptions();
        configure?.Invoke(options);
        return new NoiseSecureChannel(suite, Options.Create(options));
    }

    private static async Task<(INoiseSecureConnection Client, INoiseSecureConnection Server)> ConnectAsync(
        NoiseSuite clientSuite, NoiseSuite serverSuite, IReadOnlyList<string> clientMuxers, IReadOnlyList<string> serverMuxers,
        IRawConnection? rawClient = null, IRawConnection? rawServer = null)
    {
        if (rawClient is null || rawServer is null)
        {
            (rawClient, rawServer) = MemoryRawConnection.CreatePair();
        }

        var server = TestIdentity.Generate();
        var outbound = Channel(clientSuite).SecureOutboundAsync(rawClient, TestIdentity.Generate(), server.PeerId, clientMuxers, default).AsTask();
        var inbound = Channel(serverSuite).SecureInboundAsync(rawServer, server, serverMuxers, default).AsTask();
        await Task.WhenAll(outbound, inbound).WaitAsync(Prompt);
        return ((INoiseSecureConnection)outbound.Result, (INoiseSecureConnection)inbound.Result);
    }

    [Theory]
    [InlineData(new[] { "/yamux/1.0.0", "/mplex/6.7.0" }, new[] { "/mplex/6.7.0", "/yamux/1.0.0" }, "/yamux/1.0.0")]
    [InlineData(new[] { "/mplex/6.7.0", "/yamux/1.0.0" }, new[] { "/yamux/1.0.0" }, "/yamux/1.0.0")]
    [InlineData(new[] { "/yamux/1.0.0" }, new string[0], null)]
    [InlineData(new string[0], new[] { "/yamux/1.0.0" }, null)]
    public async Task EarlyMuxerIsTheInitiatorsFirstCommonChoiceOnBothSides(string[] clientMuxers, string[] serverMuxers, string? expected)
    {
        var (client, server) = await ConnectAsync(NoiseSuite.MLKem768, NoiseSuite.MLKem768, clientMuxers, serverMuxers);
        await using (client)
        await using (server)
        {
            Assert.Equal(expected, client.EarlyMuxer);
            Assert.Equal(expected, server.EarlyMuxer);
        }
    }

    [Fact]
    public async Task NoCommonMuxerFailsTheHandshake()
    {
        var error = await Assert.ThrowsAsync<HandshakeException>(() =>
            ConnectAsync(NoiseSuite.Classical, NoiseSuite.Classical, ["/yamux/1.0.0"], ["/mplex/6.7.0"]));
        Assert.Contains("no stream muxer in common", error.Message);
    }

    [Theory]
    [InlineData(PostQuantumLevel.Classical)]
    [InlineData(PostQuantumLevel.MLKem512)]
    [InlineData(PostQuantumLevel.MLKem768)]
    [InlineData(PostQuantumLevel.MLKem1024)]
    public async Task ConnectionReportsSuiteLevelAndSharedHandshakeHash(PostQuantumLevel level)
    {
        var suite = NoiseSuite.ForLevel(level);
        var (client, server) = await ConnectAsync(suite, suite, [], []);
        await using (client)
        await using (server)
        {
            Assert.Same(suite, client.Suite);
            Assert.Equal(level, server.SecurityLevel);
            Assert.Equal(suite.ProtocolId, server.SecurityProtocol);
            Assert.Equal(32, client.HandshakeHash.Length);
            Assert.True(client.HandshakeHash.Span.SequenceEqual(server.HandshakeHash.Span));
        }
    }

    [Theory]
    [InlineData(PostQuantumLevel.Classical, 32)]
    [InlineData(PostQuantumLevel.MLKem512, 32 + 800)]
    [InlineData(PostQuantumLevel.MLKem768, 32 + 1184)]
    [InlineData(PostQuantumLevel.MLKem1024, 32 + 1568)]
    public async Task FirstMessageIsEphemeralKeysWithoutPayload(PostQuantumLevel level, int expectedLength)
    {
        var (rawClient, rawServer) = MemoryRawConnection.CreatePair();
        using var cts = new CancellationTokenSource();
        var outbound = Channel(NoiseSuite.ForLevel(level)).SecureOutboundAsync(rawClient, TestIdentity.Generate(), null, ["/yamux/1.0.0"], cts.Token).AsTask();
        var frame = await NoiseFraming.ReadMessageAsync(rawServer.Input, 1, default).AsTask().WaitAsync(Prompt);
        Assert.Equal(expectedLength, frame.Length);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => outbound.WaitAsync(Prompt));
    }

    [Fact]
    public async Task HandshakeTimeoutFailsWithHandshakeException()
    {
        var (rawClient, _) = MemoryRawConnection.CreatePair();
        var channel = Channel(NoiseSuite.Classical, o => o.HandshakeTimeout = TimeSpan.FromMilliseconds(150));
        var error = await Assert.ThrowsAsync<HandshakeException>(() =>
            channel.SecureOutboundAsync(rawClient, TestIdentity.Generate(), null, [], default).AsTask().WaitAsync(Prompt));
        Assert.IsType<TimeoutException>(error.InnerException);
        Assert.Contains("NoiseOptions.HandshakeTimeout (0.15 s)", error.Message); // the option to raise
        Assert.True(rawClient.IsAborted);
    }

    [Fact]
    public async Task DifferentSuitesDoNotInteroperate()
    {
        await Assert.ThrowsAsync<HandshakeException>(() => ConnectAsync(NoiseSuite.MLKem768, NoiseSuite.MLKem512, [], []));
        await Assert.ThrowsAsync<HandshakeException>(() => ConnectAsync(NoiseSuite.Classical, NoiseSuite.MLKem768, [], []));
    }

    public static TheoryData<string> BadResponderPayloads() => new() { "garbage", "no-identity-key", "signature-over-other-key", "truncated-message", "short-frame" };

    [Theory]
    [MemberData(nameof(BadResponderPayloads))]
    public async Task MaliciousResponderIsRejectedWithHandshakeException(string attack)
    {
        var (rawClient, rawServer) = MemoryRawConnection.CreatePair();
        var identity = TestIdentity.Generate();
        var outbound = Channel(NoiseSuite.Classical).SecureOutboundAsync(rawClient, TestIdentity.Generate(), null, [], default).AsTask();
        var fake = FakeResponderAsync(rawServer, staticKey => attack switch
        {
            "garbage" => [0xFF, 0xFF, 0xFF, 0x01],
            "no-identity-key" => new Pb.NoiseHandshakePayload { IdentitySig = Google.Protobuf.ByteString.CopyFrom(new byte[64]) }.ToByteArrayOf(),
            "signature-over-other-key" => HandshakePayload.Create(identity.PrivateKey, X25519KeyPair.Generate().PublicKey, []),
            _ => HandshakePayload.Create(identity.PrivateKey, staticKey.PublicKey, []),
        }, attack);
        var error = await Assert.ThrowsAsync<HandshakeException>(() => outbound.WaitAsync(Prompt));
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
        await fake.WaitAsync(Prompt);
    }

    [Fact]
    public async Task WellFormedFakeResponderIsAccepted()
    {
        // The fake responder used above, run honestly, completes the handshake: the rejections are the attacks'.
        var (rawClient, rawServer) = MemoryRawConnection.CreatePair();
        var identity = TestIdentity.Generate();
        var outbound = Channel(NoiseSuite.Classical).SecureOutboundAsync(rawClient, TestIdentity.Generate(), identity.PeerId, [], default).AsTask();
        await FakeResponderAsync(rawServer, s => HandshakePayload.Create(identity.PrivateKey, s.PublicKey, []), "honest");
        await using var connection = await outbound.WaitAsync(Prompt);
        Assert.Equal(identity.PeerId, connection.RemotePeer);
    }

    [Fact]
    public async Task OversizedHandshakePayloadFailsBeforeSending()
    {
        var muxers = Enumerable.Range(0, 3000).Select(i => $"/muxer-with-a-long-name/{i}").ToArray();
        var (rawClient, rawServer) = MemoryRawConnection.CreatePair();
        var outbound = Channel(NoiseSuite.Classical).SecureOutboundAsync(rawClient, TestIdentity.Generate(), null, [], default).AsTask();
        var inbound = Channel(NoiseSuite.Classical).SecureInboundAsync(rawServer, TestIdentity.Generate(), muxers, default).AsTask();
        var error = await Assert.ThrowsAsync<HandshakeException>(() => inbound.WaitAsync(Prompt));
        Assert.Contains("65535", error.Message);
        await Assert.ThrowsAsync<HandshakeException>(() => outbound.WaitAsync(Prompt));
    }

    [Fact]
    public async Task FramesSplitAcrossSegmentsDecryptAndStayWithinTheLimit()
    {
        var (rawClient, rawServer) = MemoryRawConnection.CreatePair(new PipeOptions(minimumSegmentSize: 512, useSynchronizationContext: false));
        var segmenting = new SegmentingRawConnection(rawClient, 700);
        var (client, server) = await ConnectAsync(NoiseSuite.MLKem768, NoiseSuite.MLKem768, [], [], segmenting, rawServer);
        await using (client)
        await using (server)
        {
            var data = RandomNumberGenerator.GetBytes(300_000);
            await client.Output.WriteAsync(data);
            var received = new byte[data.Length];
            int filled = 0;
            while (filled < data.Length)
            {
                var result = await server.Input.ReadAsync().AsTask().WaitAsync(Prompt);
                foreach (var segment in result.Buffer)
                {
                    segment.Span.CopyTo(received.AsSpan(filled));
                    filled += segment.Length;
                }

                server.Input.AdvanceTo(result.Buffer.End);
            }

            Assert.Equal(data, received);

            // The wire: length-prefixed frames of at most 65535 bytes; transport frames carry plaintext + 16.
            var wire = segmenting.Written;
            var lengths = new List<int>();
            for (int offset = 0; offset < wire.Length;)
            {
                int length = BinaryPrimitives.ReadUInt16BigEndian(wire.AsSpan(offset));
                lengths.Add(length);
                offset += 2 + length;
            }

            var transport = lengths.Skip(2).ToList(); // messages 1 and 3 were the client's handshake
            Assert.Equal(data.Length, transport.Sum(l => l - 16));
            Assert.All(transport, l => Assert.InRange(l, 17, 65535));
            Assert.Equal(65535, transport[0]);
        }
    }

    [Fact]
    public async Task AlteredTransportFrameFailsWithNoiseConnectionExceptionAndAbortsTheConnection()
    {
        var (rawClient, rawServer) = MemoryRawConnection.CreatePair();
        var tampering = new TamperingRawConnection(rawClient, frameIndex: 2, offset: -1);
        var (client, server) = await ConnectAsync(NoiseSuite.Classical, NoiseSuite.Classical, [], [], tampering, rawServer);
        await using (client)
        await using (server)
        {
            try
            {
                await client.Output.WriteAsync("x"u8.ToArray());
            }
            catch (IOException)
            {
                // The write may already see the reset the altered frame caused at the server.
            }

            var error = await Assert.ThrowsAsync<NoiseConnectionException>(async () => await server.Input.ReadAsync().AsTask().WaitAsync(Prompt));
            Assert.Contains("authentication tag", error.Message);
            Assert.True(rawServer.IsAborted);
        }
    }

    [Fact]
    public void DefaultSuiteOrderIsHybridFirstThenClassical()
    {
        var options = new NoiseOptions();
        Assert.Equal(["/noise-mlkem768-hfs/0.1.0", "/noise-mlkem1024-hfs/0.1.0", "/noise-mlkem512-hfs/0.1.0", "/noise"],
            options.PostQuantum.SuitesInPreferenceOrder().Select(s => s.ProtocolId));
    }

    [Fact]
    public void PostQuantumPolicyShapesTheOffer()
    {
        var preferred = new PostQuantumOptions { PreferredLevel = PostQuantumLevel.MLKem1024 };
        Assert.Equal([PostQuantumLevel.MLKem1024, PostQuantumLevel.MLKem768, PostQuantumLevel.MLKem512, PostQuantumLevel.Classical],
            preferred.SuitesInPreferenceOrder().Select(s => s.Level));

        var required = new PostQuantumOptions { RequirePostQuantum = true };
        Assert.DoesNotContain(NoiseSuite.Classical, required.SuitesInPreferenceOrder());
        Assert.False(required.Permits(PostQuantumLevel.Classical));
        Assert.True(required.Permits(PostQuantumLevel.MLKem512));

        var minimum = new PostQuantumOptions { MinimumLevel = PostQuantumLevel.MLKem768, PreferredLevel = PostQuantumLevel.MLKem512 };
        Assert.Equal([PostQuantumLevel.MLKem1024, PostQuantumLevel.MLKem768], minimum.SuitesInPreferenceOrder().Select(s => s.Level));

        var classicalOnly = new PostQuantumOptions { Enabled = false };
        Assert.Equal([NoiseSuite.Classical], classicalOnly.SuitesInPreferenceOrder());
        Assert.False(classicalOnly.Permits(PostQuantumLevel.MLKem768));

        var impossible = new NoiseOptions();
        impossible.PostQuantum.Enabled = false;
        impossible.PostQuantum.RequirePostQuantum = true;
        Assert.Throws<ArgumentException>(impossible.Validate);
    }

    [Fact]
    public void AddNoiseRegistersChannelsInPreferenceOrder()
    {
        var services = new ServiceCollection();
        services.AddSingleton<ILocalIdentity>(TestIdentity.Generate());
        new P2PBuilder(services).AddNoise(o => o.PostQuantum.PreferredLevel = PostQuantumLevel.MLKem512);
        using var provider = services.BuildServiceProvider();
        Assert.Equal(["/noise-mlkem512-hfs/0.1.0", "/noise-mlkem1024-hfs/0.1.0", "/noise-mlkem768-hfs/0.1.0", "/noise"],
            provider.GetServices<ISecureChannel>().Select(c => c.ProtocolId));

        var strict = new ServiceCollection();
        strict.AddSingleton<ILocalIdentity>(TestIdentity.Generate());
        new P2PBuilder(strict).AddNoise(o => o.PostQuantum.RequirePostQuantum = true);
        using var strictProvider = strict.BuildServiceProvider();
        Assert.DoesNotContain("/noise", strictProvider.GetServices<ISecureChannel>().Select(c => c.ProtocolId));
    }

    /// <summary>A responder driven by hand, sending message 2 with the payload (or attack) given.</summary>
    private static async Task FakeResponderAsync(MemoryRawConnection raw, Func<X25519KeyPair, byte[]> payloadFor, string attack)
    {
        using var staticKey = X25519KeyPair.Generate();
        using var state = new HandshakeState(NoiseSuite.Classical.Protocol, false, default, staticKey);
        var first = await NoiseFraming.ReadMessageAsync(raw.Input, 1, default);
        state.ReadMessage(first, new byte[first.Length]);
        var payload = payloadFor(staticKey);
        var message = new byte[state.GetNextMessageLength(payload.Length)];
        state.WriteMessage(payload, message);
        byte[] frame = attack switch
        {
            "short-frame" => [0x00, 0x05, 1, 2, 3, 4, 5],
            "truncated-message" => [.. Prefix(message.Length), .. message.AsSpan(0, message.Length / 2)],
            _ => [.. Prefix(message.Length), .. message],
        };
        try
        {
            await raw.Output.WriteAsync(frame);
            if (attack == "truncated-message")
            {
                await raw.Output.CompleteAsync(); // the peer sees the stream end inside the frame
            }
        }
        catch (IOException) when (attack != "honest")
        {
            // The initiator may reject the message and reset the connection before this flush returns.
        }
    }

    private static byte[] Prefix(int length)
    {
        var prefix = new byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(prefix, (ushort)length);
        return prefix;
    }
}

internal static class ProtobufTestExtensions
{
    public static byte[] ToByteArrayOf(this Google.Protobuf.IMessage message) => Google.Protobuf.MessageExtensions.ToByteArray(message);
}
