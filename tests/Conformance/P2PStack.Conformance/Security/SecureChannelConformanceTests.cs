using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Conformance.Security;

/// <summary>
/// Behaviour every <see cref="ISecureChannel"/> must show over a raw connection. A test project derives from this
/// class and supplies the channel; xunit runs every test against it.
/// </summary>
public abstract class SecureChannelConformanceTests
{
    /// <summary>How long an operation that must fail or finish "promptly" may take.</summary>
    protected virtual TimeSpan Prompt => TimeSpan.FromSeconds(30);

    /// <summary>How the channel frames its bytes, for the tests that alter one frame on the wire.</summary>
    protected virtual FrameLayout Framing => FrameLayout.Noise;

    /// <summary>Whether the responder's handshake may succeed when the initiator refuses the responder's identity
    /// (TLS 1.3 on a stack that checks the certificate after sending its Finished): its connection must then fail at
    /// the first read.</summary>
    protected virtual bool ResponderMayFinishBeforeInitiatorRejects => false;

    /// <summary>Index of the dialer's first frame after the handshake (its first application data frame).</summary>
    protected virtual int FirstDialerTransportFrame => 2;

    /// <summary>The channel under test (each handshake passes the identity to authenticate as).</summary>
    protected abstract ISecureChannel CreateChannel();

    /// <summary>A connected raw pair (dialer, listener); in memory unless a derived suite runs over a transport.</summary>
    protected virtual ValueTask<(IRawConnection Dialer, IRawConnection Listener)> CreateRawPairAsync()
    {
        var (dialer, listener) = MemoryRawConnection.CreatePair();
        return ValueTask.FromResult<(IRawConnection, IRawConnection)>((dialer, listener));
    }

    [Theory]
    [InlineData(KeyType.Ed25519, KeyType.Ed25519)]
    [InlineData(KeyType.Secp256k1, KeyType.Ed25519)]
    [InlineData(KeyType.Ed25519, KeyType.Ecdsa)]
    [InlineData(KeyType.Rsa, KeyType.Ed25519)]
    public async Task HandshakeAuthenticatesBothSidesInBothDirections(KeyType first, KeyType second)
    {
        var a = TestIdentity.Generate(first);
        var b = TestIdentity.Generate(second);
        foreach (var (dialer, listener) in new[] { (a, b), (b, a) })
        {
            var (client, server) = await ConnectAsync(dialer, listener, expected: listener.PeerId);
            await using (client)
            await using (server)
            {
                Assert.Equal(listener.PeerId, client.RemotePeer);
                Assert.Equal(listener.PrivateKey.PublicKey, client.RemotePublicKey);
                Assert.Equal(dialer.PeerId, server.RemotePeer);
                Assert.Equal(dialer.PrivateKey.PublicKey, server.RemotePublicKey);
                var protocolId = CreateChannel().ProtocolId;
                Assert.Equal(protocolId, client.SecurityProtocol);
                Assert.Equal(protocolId, server.SecurityProtocol);
                Assert.Equal(Direction.Outbound, client.Raw.Direction);
                Assert.Equal(Direction.Inbound, server.Raw.Direction);
            }
        }
    }

    [Fact]
    public async Task EchoesMessages()
    {
        var (client, server) = await ConnectAsync();
        await using (client)
        await using (server)
        {
            var echo = Task.Run(async () =>
            {
                for (int i = 0; i < 3; i++)
                {
                    var request = await ReadExactlyAsync(server.Input, 5 + i);
                    await server.Output.WriteAsync(request);
                }
            });
            for (int i = 0; i < 3; i++)
            {
                var message = System.Text.Encoding.ASCII.GetBytes("hello" + new string('!', i));
                await client.Output.WriteAsync(message);
                Assert.Equal(message, await ReadExactlyAsync(client.Input, message.Length));
            }

            await echo.WaitAsync(Prompt);
        }
    }

    [Fact]
    public async Task Transfers16MiBBothWaysIntact()
    {
        const int size = 16 << 20;
        var (client, server) = await ConnectAsync();
        await using (client)
        await using (server)
        {
            var upload = RandomNumberGenerator.GetBytes(size);
            var download = RandomNumberGenerator.GetBytes(size);
            var tasks = new[]
            {
                WriteInChunksAsync(client.Output, upload, seed: 1),
                WriteInChunksAsync(server.Output, download, seed: 2),
            };
            var received = await Task.WhenAll(ReadExactlyAsync(server.Input, size), ReadExactlyAsync(client.Input, size))
                .WaitAsync(TimeSpan.FromMinutes(2));
            await Task.WhenAll(tasks);
            Assert.True(SHA256.HashData(upload).AsSpan().SequenceEqual(SHA256.HashData(received[0])), "upload corrupted");
            Assert.True(SHA256.HashData(download).AsSpan().SequenceEqual(SHA256.HashData(received[1])), "download corrupted");
        }
    }

    [Theory]
    [InlineData(65_535)]
    [InlineData(65_536)]
    [InlineData(200_001)]
    [InlineData(1 << 20)]
    public async Task SingleWriteLargerThanOneFrameArrivesWhole(int size)
    {
        var (client, server) = await ConnectAsync();
        await using (client)
        await using (server)
        {
            var message = RandomNumberGenerator.GetBytes(size);
            var write = client.Output.WriteAsync(message).AsTask();
            var received = await ReadExactlyAsync(server.Input, size).WaitAsync(Prompt);
            await write;
            Assert.Equal(message, received);
        }
    }

    [Fact]
    public async Task ExpectedPeerMismatchFailsBothSides()
    {
        var clientIdentity = TestIdentity.Generate();
        var serverIdentity = TestIdentity.Generate();
        var someoneElse = TestIdentity.Generate().PeerId;
        var (rawClient, rawServer) = await CreateRawPairAsync();
        var outbound = CreateChannel().SecureOutboundAsync(rawClient, clientIdentity, someoneElse, [], CancellationToken.None).AsTask();
        var inbound = CreateChannel().SecureInboundAsync(rawServer, serverIdentity, [], CancellationToken.None).AsTask();

        var mismatch = await Assert.ThrowsAsync<PeerIdMismatchException>(() => outbound.WaitAsync(Prompt));
        Assert.Equal(someoneElse, mismatch.Expected);
        Assert.Equal(serverIdentity.PeerId, mismatch.Actual);
        var (accepted, error) = await Outcome(inbound).WaitAsync(Prompt);
        if (accepted is null)
        {
            Assert.IsAssignableFrom<HandshakeException>(error);
            return;
        }
        // A TLS 1.3 responder finishes before the initiator has checked it (the initiator's Finished comes last):
        // then the responder's connection must fail at its first read, never carry data.
        Assert.True(ResponderMayFinishBeforeInitiatorRejects, "the responder finished a handshake the initiator refused");
        await using (accepted)
        {
            await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                var result = await accepted.Input.ReadAsync().AsTask().WaitAsync(Prompt);
                if (result.IsCompleted && result.Buffer.IsEmpty) throw new EndOfStreamException();
                Assert.Fail("the responder received data over a connection the initiator refused");
            });
        }
    }

    /// <summary>Flips a bit in handshake frame <paramref name="frame"/> of one side: each must fail, none may hang.</summary>
    [Theory]
    [InlineData(true, 0, 3)]
    [InlineData(true, 0, -1)]
    [InlineData(false, 0, 3)]
    [InlineData(false, 0, 40)]
    [InlineData(false, 0, -1)]
    [InlineData(true, 1, 3)]
    [InlineData(true, 1, -1)]
    public async Task TamperedHandshakeFailsWithHandshakeException(bool tamperDialer, int frame, int offset)
    {
        var clientIdentity = TestIdentity.Generate();
        var serverIdentity = TestIdentity.Generate();
        var (rawClient, rawServer) = await CreateRawPairAsync();
        IRawConnection client = tamperDialer ? new TamperingRawConnection(rawClient, frame, offset, Framing) : rawClient;
        IRawConnection server = tamperDialer ? rawServer : new TamperingRawConnection(rawServer, frame, offset, Framing);

        var outbound = CreateChannel().SecureOutboundAsync(client, clientIdentity, serverIdentity.PeerId, [], CancellationToken.None).AsTask();
        var inbound = CreateChannel().SecureInboundAsync(server, serverIdentity, [], CancellationToken.None).AsTask();
        var results = await Task.WhenAll(Outcome(outbound), Outcome(inbound)).WaitAsync(Prompt);

        // The receiver of the altered message fails the handshake; the other side fails too, or (when the
        // dialer's last message was altered) finishes and then sees the connection fail.
        Assert.True(results.Any(r => r.Error is HandshakeException),
            $"expected a HandshakeException, got: {string.Join("; ", results.Select(r => r.Error?.GetType().Name ?? "success"))}");
        foreach (var (connection, error) in results)
        {
            if (connection is not null)
            {
                await using (connection)
                {
                    await Assert.ThrowsAnyAsync<Exception>(async () => await connection.Input.ReadAsync().AsTask().WaitAsync(Prompt));
                }
            }
            else
            {
                Assert.IsType<HandshakeException>(error);
            }
        }
    }

    [Fact]
    public async Task TamperedTransportBytesFailTheRead()
    {
        var clientIdentity = TestIdentity.Generate();
        var serverIdentity = TestIdentity.Generate();
        var (rawClient, rawServer) = await CreateRawPairAsync();
        var tampering = new TamperingRawConnection(rawClient, FirstDialerTransportFrame, offset: 4, Framing); // after the handshake
        var (client, server) = await HandshakeAsync(clientIdentity, serverIdentity, tampering, rawServer, serverIdentity.PeerId);
        await using (client)
        await using (server)
        {
            try
            {
                await client.Output.WriteAsync("this frame will be altered on the wire"u8.ToArray());
            }
            catch (IOException)
            {
                // The write may already see the reset the altered frame caused at the server.
            }

            var read = ReadExactlyAsync(server.Input, 10);
            var error = await Assert.ThrowsAnyAsync<Exception>(() => read.WaitAsync(Prompt));
            Assert.IsNotType<TimeoutException>(error);
            Assert.True(tampering.Tampered);
        }
    }

    [Fact]
    public async Task HalfCloseDeliversEndOfStreamAndKeepsTheOtherDirection()
    {
        var (client, server) = await ConnectAsync();
        await using (client)
        await using (server)
        {
            await client.Output.WriteAsync("request"u8.ToArray());
            await client.Output.CompleteAsync();

            Assert.Equal("request"u8.ToArray(), await ReadToEndAsync(server.Input).WaitAsync(Prompt));
            await server.Output.WriteAsync("response"u8.ToArray());
            await server.Output.CompleteAsync();
            Assert.Equal("response"u8.ToArray(), await ReadToEndAsync(client.Input).WaitAsync(Prompt));
        }
    }

    [Fact]
    public async Task AbortMidTransferFailsPendingOperationsPromptly()
    {
        var (client, server) = await ConnectAsync();
        await using (client)
        await using (server)
        {
            var pendingClientRead = Task.Run(async () => await client.Input.ReadAsync()); // the server never sends
            var writer = Task.Run(async () =>
            {
                var chunk = new byte[64 * 1024];
                while (true)
                {
                    var flush = await client.Output.WriteAsync(chunk);
                    if (flush.IsCompleted)
                    {
                        return;
                    }
                }
            });

            await ReadExactlyAsync(server.Input, 1 << 20);
            var pendingServerRead = Task.Run(async () =>
            {
                while (true)
                {
                    var result = await server.Input.ReadAsync();
                    server.Input.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted)
                    {
                        throw new InvalidOperationException("clean end of stream after an abort");
                    }
                }
            });
            server.Raw.Abort();

            await Assert.ThrowsAnyAsync<Exception>(() => pendingClientRead.WaitAsync(Prompt));
            await Assert.ThrowsAnyAsync<Exception>(() => pendingServerRead.WaitAsync(Prompt));
            await Task.WhenAny(writer, Task.Delay(Prompt));
            Assert.True(writer.IsCompleted, "the client's writes did not stop after the abort");
        }
    }

    [Fact]
    public async Task HandshakeCancellationIsHonouredPromptly()
    {
        var (rawClient, rawServer) = await CreateRawPairAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var outbound = CreateChannel().SecureOutboundAsync(rawClient, TestIdentity.Generate(), null, [], cts.Token).AsTask();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => outbound.WaitAsync(Prompt));

        var (rawClient2, rawServer2) = await CreateRawPairAsync();
        using var cts2 = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        var inbound = CreateChannel().SecureInboundAsync(rawServer2, TestIdentity.Generate(), [], cts2.Token).AsTask();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => inbound.WaitAsync(Prompt));
        await rawServer.DisposeAsync();
        await rawClient2.DisposeAsync();
    }

    /// <summary>Runs both handshakes over a fresh memory connection.</summary>
    protected async Task<(ISecureConnection Client, ISecureConnection Server)> ConnectAsync(
        ILocalIdentity? clientIdentity = null, ILocalIdentity? serverIdentity = null, PeerId? expected = null)
    {
        clientIdentity ??= TestIdentity.Generate();
        serverIdentity ??= TestIdentity.Generate();
        var (rawClient, rawServer) = await CreateRawPairAsync();
        return await HandshakeAsync(clientIdentity, serverIdentity, rawClient, rawServer, expected);
    }

    protected async Task<(ISecureConnection Client, ISecureConnection Server)> HandshakeAsync(ILocalIdentity clientIdentity,
        ILocalIdentity serverIdentity, IRawConnection rawClient, IRawConnection rawServer, PeerId? expected)
    {
        var outbound = CreateChannel().SecureOutboundAsync(rawClient, clientIdentity, expected, [], CancellationToken.None).AsTask();
        var inbound = CreateChannel().SecureInboundAsync(rawServer, serverIdentity, [], CancellationToken.None).AsTask();
        await Task.WhenAll(outbound, inbound).WaitAsync(Prompt);
        return (outbound.Result, inbound.Result);
    }

    protected static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int count)
    {
        var data = new byte[count];
        int filled = 0;
        while (filled < count)
        {
            var result = await reader.ReadAsync();
            var take = result.Buffer.Slice(0, Math.Min(result.Buffer.Length, count - filled));
            take.CopyTo(data.AsSpan(filled));
            filled += (int)take.Length;
            reader.AdvanceTo(take.End);
            if (filled < count && result.IsCompleted)
            {
                throw new EndOfStreamException($"stream ended after {filled} of {count} bytes");
            }
        }

        return data;
    }

    protected static async Task<byte[]> ReadToEndAsync(PipeReader reader)
    {
        var data = new ArrayBufferWriter<byte>();
        while (true)
        {
            var result = await reader.ReadAsync();
            foreach (var segment in result.Buffer)
            {
                data.Write(segment.Span);
            }

            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return data.WrittenSpan.ToArray();
            }
        }
    }

    private static async Task WriteInChunksAsync(PipeWriter writer, byte[] data, int seed)
    {
        var random = new Random(seed);
        int offset = 0;
        while (offset < data.Length)
        {
            int size = Math.Min(random.Next(1, 300_000), data.Length - offset);
            await writer.WriteAsync(data.AsMemory(offset, size));
            offset += size;
        }
    }

    private static async Task<(ISecureConnection? Connection, Exception? Error)> Outcome(Task<ISecureConnection> handshake)
    {
        try
        {
            return (await handshake, null);
        }
        catch (Exception e)
        {
            return (null, e);
        }
    }
}
