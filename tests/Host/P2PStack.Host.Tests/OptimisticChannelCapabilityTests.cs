using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Conformance.Security;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Muxers.Yamux;
using P2PStack.Network;

namespace P2PStack.Host.Tests;

/// <summary>
/// Optimistic security negotiation is a capability a channel opts in to (<see cref="IOptimisticSecureChannel"/>): a
/// channel shaped otherwise is negotiated in full on both sides, so that neither a dialer whose initiator reads first
/// nor a listener whose responder waits for more than one message is left waiting.
/// </summary>
public class OptimisticChannelCapabilityTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);
    private const string Protocol = "/plain-test/1.0.0";

    [Fact]
    public async Task A_dialer_remembering_a_channel_whose_responder_speaks_first_negotiates_it_in_full()
    {
        var (dialerIdentity, listenerIdentity) = (TestIdentity.Generate(), TestIdentity.Generate());
        var dialer = NewUpgrader(dialerIdentity, new PlainChannel(responderSpeaksFirst: true));
        var listener = NewUpgrader(listenerIdentity, new PlainChannel(responderSpeaksFirst: true));
        var (rawDialer, rawListener) = MemoryRawConnection.CreatePair();
        using var timeout = new CancellationTokenSource(Patience);

        // Proposed lazily, the proposal would wait in the dialer's output for a first handshake write that never
        // comes (its initiator reads first), and the listener would never answer.
        var inbound = listener.UpgradeInboundAsync(rawListener, timeout.Token);
        var outbound = dialer.UpgradeOutboundAsync(rawDialer, listenerIdentity.PeerId, new DialOptions(), timeout.Token,
            optimisticSecurity: Protocol);
        await using var dialed = (await outbound).Session;
        await using var accepted = (await inbound).Session;
        Assert.Equal(listenerIdentity.PeerId, (await outbound).Secure.RemotePeer);
        Assert.Equal(dialerIdentity.PeerId, (await inbound).Secure.RemotePeer);
    }

    [Fact]
    public async Task A_listener_sends_its_acceptance_of_a_channel_whose_responder_waits_at_once()
    {
        var listenerIdentity = TestIdentity.Generate();
        var listener = NewUpgrader(listenerIdentity, new PlainChannel(responderSpeaksFirst: false));
        var (rawDialer, rawListener) = MemoryRawConnection.CreatePair();
        using var timeout = new CancellationTokenSource(Patience);
        var inbound = listener.UpgradeInboundAsync(rawListener, timeout.Token);

        // A dialer that sends its first handshake message with its proposal and waits for the acceptance before its
        // second: the responder (waiting for both) does not write, so an acceptance left for its reply never leaves.
        var output = rawDialer.Output;
        LengthPrefixed.WriteMessage(output, "/multistream/1.0.0\n"u8);
        LengthPrefixed.WriteMessage(output, System.Text.Encoding.UTF8.GetBytes(Protocol + "\n"));
        LengthPrefixed.WriteMessage(output, TestIdentity.Generate().PrivateKey.PublicKey.ToProtobuf());
        await output.FlushAsync(timeout.Token);
        Assert.Equal("/multistream/1.0.0\n", await ReadTextAsync(rawDialer.Input, timeout.Token));
        Assert.Equal(Protocol + "\n", await ReadTextAsync(rawDialer.Input, timeout.Token));

        await rawDialer.DisposeAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => inbound);
    }

    private static Task<string> ReadTextAsync(PipeReader input, CancellationToken cancellationToken) =>
        LengthPrefixed.ReadMessageAsync(input, 1024, m => System.Text.Encoding.UTF8.GetString(m.ToArray()), cancellationToken).AsTask();

    private static Upgrader NewUpgrader(ILocalIdentity identity, ISecureChannel channel) =>
        new(identity, [], [channel], [new YamuxMuxer(Options.Create(new YamuxOptions()))], [], [], NullLogger<Upgrader>.Instance);

    /// <summary>
    /// A test channel unlike Noise (it does not implement <see cref="IOptimisticSecureChannel"/>): each side sends its
    /// public key in the clear; either the responder speaks first, or the initiator sends its key and then a second
    /// message the responder waits for before it answers. Nothing is encrypted.
    /// </summary>
    private sealed class PlainChannel(bool responderSpeaksFirst) : ISecureChannel
    {
        public string ProtocolId => Protocol;

        public async ValueTask<ISecureConnection> SecureOutboundAsync(IRawConnection connection, ILocalIdentity identity,
            PeerId? expectedRemotePeer, IReadOnlyList<string> muxers, CancellationToken cancellationToken)
        {
            PublicKey remote;
            if (responderSpeaksFirst)
            {
                remote = await ReadKeyAsync(connection, cancellationToken);
                await WriteAsync(connection, identity.PrivateKey.PublicKey.ToProtobuf(), cancellationToken);
            }
            else
            {
                await WriteAsync(connection, identity.PrivateKey.PublicKey.ToProtobuf(), cancellationToken);
                await WriteAsync(connection, "ready"u8.ToArray(), cancellationToken);
                remote = await ReadKeyAsync(connection, cancellationToken);
            }
            var peer = PeerId.FromPublicKey(remote);
            if (expectedRemotePeer is not null && expectedRemotePeer != peer) throw new PeerIdMismatchException(expectedRemotePeer, peer);
            return new PlainConnection(connection, remote, peer);
        }

        public async ValueTask<ISecureConnection> SecureInboundAsync(IRawConnection connection, ILocalIdentity identity,
            IReadOnlyList<string> muxers, CancellationToken cancellationToken)
        {
            PublicKey remote;
            if (responderSpeaksFirst)
            {
                await WriteAsync(connection, identity.PrivateKey.PublicKey.ToProtobuf(), cancellationToken);
                remote = await ReadKeyAsync(connection, cancellationToken);
            }
            else
            {
                remote = await ReadKeyAsync(connection, cancellationToken);
                await LengthPrefixed.ReadMessageAsync(connection.Input, 1024, _ => 0, cancellationToken);
                await WriteAsync(connection, identity.PrivateKey.PublicKey.ToProtobuf(), cancellationToken);
            }
            return new PlainConnection(connection, remote, PeerId.FromPublicKey(remote));
        }

        private static ValueTask<PublicKey> ReadKeyAsync(IRawConnection connection, CancellationToken cancellationToken) =>
            LengthPrefixed.ReadMessageAsync(connection.Input, 1024, m => PublicKey.FromProtobuf(m.ToArray()), cancellationToken);

        private static async ValueTask WriteAsync(IRawConnection connection, byte[] message, CancellationToken cancellationToken)
        {
            LengthPrefixed.WriteMessage(connection.Output, message);
            await connection.Output.FlushAsync(cancellationToken);
        }
    }

    private sealed class PlainConnection(IRawConnection raw, PublicKey remoteKey, PeerId remotePeer) : ISecureConnection
    {
        public PipeReader Input => raw.Input;

        public PipeWriter Output => raw.Output;

        public IRawConnection Raw => raw;

        public PeerId RemotePeer => remotePeer;

        public PublicKey RemotePublicKey => remoteKey;

        public string SecurityProtocol => Protocol;

        public string? EarlyMuxer => null;

        public ValueTask DisposeAsync() => raw.DisposeAsync();
    }
}
