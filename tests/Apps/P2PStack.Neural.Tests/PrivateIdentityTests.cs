using Microsoft.Extensions.DependencyInjection;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Neural.Messages;
using P2PStack.Transports.Memory;

namespace P2PStack.Neural.Tests;

/// <summary>
/// A connection where this node goes by another identity (a shadow address's, docs/specs/shadow.md, section 7.4):
/// messages addressed to that identity are delivered, messages sent over it can be signed by that identity, and the
/// sealing-key record (signed by the node key) is never served on it.
/// </summary>
public class PrivateIdentityTests
{
    private static readonly TimeSpan Patience = NeuralPeer.Patience;

    [Fact]
    public async Task A_connection_under_another_identity_delivers_to_it_signs_as_it_and_names_no_node()
    {
        var network = new MemoryNetwork();
        static void OptIn(IServiceCollection services) => services.Configure<HostOptions>(o =>
        {
            o.AnonymousConnectionProtocols.Add(NeuralProtocol.ProtocolId);
            o.AnonymousConnectionProtocols.Add(NeuralProtocol.SealingKeyProtocolId);
        });
        await using var a = await NeuralPeer.StartAsync(network, services: OptIn);
        await using var b = await NeuralPeer.StartAsync(network, services: OptIn);
        // A dials B under a private identity: on A's side the connection's local peer is not A.
        var hidden = new LocalIdentity(PrivateKey.Generate(KeyType.Ed25519));
        var atA = await a.Host.DialAsync(b.Address, new DialOptions { Identity = hidden, ForceNewConnection = true }, CancellationToken.None)
            .AsTask().WaitAsync(Patience);
        Assert.Equal(hidden.PeerId, atA.LocalPeer);
        IConnection atB = null!;
        await WaitUntil(() => (atB = b.Host.GetConnections(hidden.PeerId).FirstOrDefault()!) is not null);

        // B sends to the hidden identity over that connection: A delivers it.
        await b.Mesh.SendOverAsync(atB, NeuralDestination.ToPeer(hidden.PeerId), new Thought { Content = "to the hidden one" },
            new SendOptions { Seal = false }, CancellationToken.None).WaitAsync(Patience);
        await WaitUntil(() => a.Recorder.Messages.Any(m => m.Body is Thought { Content: "to the hidden one" }));

        // A signs what it sends over it with the hidden identity: B sees that identity as the source, never A.
        await a.Mesh.SendOverAsync(atA, NeuralDestination.ToPeer(b.PeerId), new Thought { Content = "from nobody" }, null, hidden,
            CancellationToken.None).WaitAsync(Patience);
        await WaitUntil(() => b.Recorder.Messages.Any(m => m.Body is Thought { Content: "from nobody" }));
        var received = b.Recorder.Messages.Single(m => m.Body is Thought { Content: "from nobody" });
        Assert.Equal(hidden.PeerId, received.SourcePeer);
        // Asking for a seal with another identity is refused before anything is sent.
        await Assert.ThrowsAsync<ArgumentException>(() => a.Mesh.SendOverAsync(atA, NeuralDestination.ToPeer(b.PeerId),
            new Thought { Content = "x" }, new SendOptions { Seal = true }, hidden, CancellationToken.None));

        // B asks A for its sealing key over that connection: refused (the record would name A). Over a normal connection
        // the same request is answered.
        await using (var stream = await atB.OpenStreamAsync([NeuralProtocol.SealingKeyProtocolId], CancellationToken.None).AsTask().WaitAsync(Patience))
        {
            bool refused;
            try
            {
                var read = await stream.Input.ReadAsync().AsTask().WaitAsync(Patience);
                refused = read.Buffer.IsEmpty;
                stream.Input.AdvanceTo(read.Buffer.End);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                refused = true;
            }
            Assert.True(refused, "the sealing key record was served under another identity");
        }
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(20);
        }
    }
}
