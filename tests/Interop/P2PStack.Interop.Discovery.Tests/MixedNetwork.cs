using System.Text.Json.Nodes;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia;

namespace P2PStack.Interop.Discovery.Tests;

/// <summary>
/// Three js nodes and three C# nodes on 127.0.0.1, connected in a ring that alternates implementations
/// (J1-C1-J2-C2-J3-C3-J1; half the links dialled by js, half by C#), each node with its ring neighbours in its DHT
/// routing table, then one refresh on the C# side so the lookups spread knowledge of the whole network.
/// </summary>
public sealed class MixedNetwork : IAsyncLifetime
{
    public IReadOnlyList<JsNode> Js { get; private set; } = [];

    public IReadOnlyList<CSharpNode> CSharp { get; private set; } = [];

    public IEnumerable<PeerId> JsIds => Js.Select(j => j.PeerId);

    public IEnumerable<PeerId> CSharpIds => CSharp.Select(c => c.PeerId);

    public async Task InitializeAsync()
    {
        var js = Task.WhenAll(Enumerable.Range(1, 3).Select(i => JsNode.StartAsync($"J{i}")));
        var cs = Task.WhenAll(Enumerable.Range(1, 3).Select(i => CSharpNode.StartAsync($"C{i}")));
        try
        {
            await Task.WhenAll(js, cs);
        }
        finally
        {
            Js = js.IsCompletedSuccessfully ? js.Result : [];
            CSharp = cs.IsCompletedSuccessfully ? cs.Result : [];
        }
        if (Js.Count == 0 || CSharp.Count == 0)
        {
            await DisposeAsync();
            await Task.WhenAll(js, cs); // rethrows the start failure
        }

        // Each step has its own bound: one budget for the dials, the routing tables and the refresh together can be
        // spent by the first steps on a loaded machine, and the fixture would then fail every test of the collection.
        for (int i = 0; i < 3; i++)
        {
            // C(i) dials J(i); J(i+1) dials C(i).
            await CSharp[i].Host.DialAsync(Js[i].Addresses[0], CancellationToken.None).AsTask().WaitAsync(Eventually.Patience);
            await Js[(i + 1) % 3].CommandAsync("dial", new JsonObject { ["addr"] = CSharp[i].Address.ToString() });
        }
        await Eventually.WaitAsync(async () =>
        {
            foreach (var c in CSharp) if (c.Dht.RoutingTable.Count < 2) return false;
            foreach (var j in Js) if ((await j.CommandAsync("routingTable"))["size"]!.GetValue<int>() < 2) return false;
            return true;
        }, () => "every node has its two ring neighbours in its DHT routing table");
        using var refresh = new CancellationTokenSource(Eventually.Patience);
        await Task.WhenAll(CSharp.Select(c => c.Dht.RefreshAsync(refresh.Token)));
    }

    /// <summary>A C# DHT client (not in anyone's routing table) whose only contact is <paramref name="contact"/>.</summary>
    public static async Task<CSharpNode> StartQuerierAsync(JsNode contact)
    {
        var querier = await CSharpNode.StartAsync("Q", DhtMode.Client);
        try
        {
            await querier.Host.DialAsync(contact.Addresses[0], CancellationToken.None).AsTask().WaitAsync(Eventually.Patience);
            await Eventually.WaitAsync(() => querier.Dht.RoutingTable.Count >= 1, () => $"{contact} joined the querier's routing table");
            return querier;
        }
        catch
        {
            await querier.DisposeAsync();
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        await Task.WhenAll(Js.Select(j => j.DisposeAsync().AsTask()).Concat(CSharp.Select(c => c.DisposeAsync().AsTask())));
    }
}

[CollectionDefinition(Name)]
public sealed class MixedNetworkCollection : ICollectionFixture<MixedNetwork>
{
    public const string Name = "mixed js + C# network";
}
