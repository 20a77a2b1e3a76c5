using System.Buffers;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Network;
using P2PStack.Testing;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests;

/// <summary>
/// A stream opened for a protocol whose dialer speaks first (<see cref="IConnection.OpenStreamForFirstWriteAsync"/>)
/// sends its yamux SYN and multistream proposal with its first message in one write, and a listener whose handler always replies
/// (<see cref="IProtocolHandler.RepliesToFirstMessage"/>) sends its header and acceptance with that reply. Counted from
/// the secured writes on the wire (one per flush): same bytes, fewer writes.
/// </summary>
public class FirstWriteStreamTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private const string Protocol = "/test/first-write/1.0.0";
    private const int Message = 100;
    // "/multistream/1.0.0\n" and "/test/first-write/1.0.0\n", each behind its one-byte length.
    private const int HeaderAndProposal = 20 + 25;
    private const int YamuxHeader = 12;

    private sealed class ReplyingHandler : IProtocolHandler
    {
        public IReadOnlyList<string> Protocols { get; } = [Protocol];

        public bool RepliesToFirstMessage => true;

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            await using (stream)
            {
                var read = await stream.Input.ReadAtLeastAsync(Message, cancellationToken);
                stream.Input.AdvanceTo(read.Buffer.GetPosition(Message));
                await stream.Output.WriteAsync(new byte[Message], cancellationToken);
                await stream.Output.CompleteAsync();
                while (!(await stream.Input.ReadAsync(cancellationToken)).IsCompleted) { }
            }
        }
    }

    // Keepalive pings off: no write the test did not cause.
    private static void Traced(IP2PBuilder p2p, WireTraceProtector trace)
    {
        p2p.Services.AddSingleton<IConnectionProtector>(trace);
        p2p.Services.Configure<P2PStack.Muxers.Yamux.YamuxOptions>(o => o.EnableKeepAlive = false);
    }

    [Fact]
    public async Task The_proposal_leaves_with_the_first_message_and_the_acceptance_with_the_reply()
    {
        var network = new MemoryNetwork();
        var serverTrace = new WireTraceProtector();
        var clientTrace = new WireTraceProtector();
        await using var server = await TestPeer.StartAsync("/memory/0", network, p2p => Traced(p2p, serverTrace));
        await using var client = await TestPeer.StartAsync("/memory/0", network, p2p => Traced(p2p, clientTrace));
        using var registration = server.Host.AddHandler(new ReplyingHandler());
        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);

        // The secured transport's overhead per write, from a frame of known size: a stream's SYN (a yamux header alone).
        var (flushed, _) = await ExchangeAsync(client, server, connection, clientTrace, serverTrace, firstWrite: false);
        int overhead = flushed.Min(w => w.Length) - YamuxHeader;
        // The ordinary open: the proposal alone, then the message.
        Assert.Contains(flushed, w => w.Length == overhead + YamuxHeader + HeaderAndProposal);
        Assert.Contains(flushed, w => w.Length == overhead + YamuxHeader + Message);

        Assert.Equal(overhead + YamuxHeader, flushed[0].Length); // the SYN went alone, first

        var (client2, server2) = await ExchangeAsync(client, server, connection, clientTrace, serverTrace, firstWrite: true);
        // The stream's SYN, then proposal and message in one data frame, all in the stream's first write.
        Assert.Equal(overhead + 2 * YamuxHeader + HeaderAndProposal + Message, client2[0].Length);
        Assert.DoesNotContain(client2, w => w.Length == overhead + YamuxHeader + HeaderAndProposal);
        // The listener's header and acceptance in the write of its reply.
        Assert.Contains(server2, w => w.Length == overhead + YamuxHeader + HeaderAndProposal + Message);
        Assert.DoesNotContain(server2, w => w.Length == overhead + YamuxHeader + HeaderAndProposal);
    }

    // Until the connection carries nothing but what the test sends: identify has run both ways and every stream (identify's,
    // the last exchange's) has closed at both ends, so that each stream's frames have all been written. With keepalive
    // off nothing else writes; events, not a quiet period of the real clock (which load stretches).
    private static async Task SettledAsync(TestPeer client, TestPeer server, IConnection connection)
    {
        using var patience = new CancellationTokenSource(Patience);
        var atServer = server.Host.GetConnections(client.Host.PeerId);
        while (client.Host.PeerStore.GetProtocols(server.Host.PeerId).Count == 0
               || server.Host.PeerStore.GetProtocols(client.Host.PeerId).Count == 0
               || connection.StreamCount != 0 || (atServer = server.Host.GetConnections(client.Host.PeerId)).Count != 1
               || atServer[0].StreamCount != 0)
        {
            await Task.Delay(10, patience.Token);
        }
    }

    // One stream: the dialer writes a message, the listener replies; the writes each side made meanwhile.
    private static async Task<(List<byte[]> Client, List<byte[]> Server)> ExchangeAsync(TestPeer client, TestPeer server,
        IConnection connection, WireTraceProtector clientTrace, WireTraceProtector serverTrace, bool firstWrite)
    {
        await SettledAsync(client, server, connection);
        int clientBefore = clientTrace.Connections[0].Writes.Count, serverBefore = serverTrace.Connections[0].Writes.Count;
        var stream = firstWrite
            ? await connection.OpenStreamForFirstWriteAsync(Protocol, CancellationToken.None).AsTask().WaitAsync(Patience)
            : await connection.OpenStreamAsync([Protocol], CancellationToken.None).AsTask().WaitAsync(Patience);
        await using (stream)
        {
            await stream.Output.WriteAsync(new byte[Message]).AsTask().WaitAsync(Patience);
            var reply = await stream.Input.ReadAtLeastAsync(Message).AsTask().WaitAsync(Patience);
            Assert.Equal(Message, reply.Buffer.Length);
            stream.Input.AdvanceTo(reply.Buffer.End);
            await stream.Output.CompleteAsync();
        }
        // Every write asserted on was made before the reply arrived: the dialer's before the listener could answer, the
        // listener's reply before it was read.
        return ([.. clientTrace.Connections[0].Writes.Skip(clientBefore)], [.. serverTrace.Connections[0].Writes.Skip(serverBefore)]);
    }
}
