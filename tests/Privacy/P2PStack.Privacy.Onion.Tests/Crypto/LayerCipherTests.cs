using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Tests.Crypto;

/// <summary>The layered encryption of relay cells: round trips through 1-8 hops in both directions, each cell
/// recognised by exactly the hop it is for, changed cells detected, replayed and reordered cells refused.</summary>
public class LayerCipherTests
{
    private static readonly CellLayout Layout = new(514);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    [InlineData(8)]
    public void Cells_round_trip_through_every_hop_count_in_both_directions(int hops)
    {
        using var circuit = new TestCircuit(hops, seed: hops);
        var random = new Random(hops);
        for (int round = 0; round < 40; round++)
        {
            int target = random.Next(hops);
            var data = new byte[random.Next(0, Layout.RelayDataCapacity + 1)];
            random.NextBytes(data);

            var cell = circuit.ClientSend(target, data);
            Assert.Equal(target, circuit.RelaysReceive(cell, out var received));
            Assert.Equal(data, received);

            var back = circuit.RelaySend(target, data);
            Assert.Equal(target, circuit.ClientReceive(back, out var returned));
            Assert.Equal(data, returned);
        }
    }

    [Fact]
    public void A_changed_cell_is_recognised_by_no_hop_and_the_hops_after_the_change_see_only_noise()
    {
        var random = new Random(3);
        for (int round = 0; round < 200; round++)
        {
            using var circuit = new TestCircuit(3, seed: round);
            var data = new byte[100];
            var cell = circuit.ClientSend(2, data);
            // The first hop changes one bit after removing its layer: the middle hop transforms the changed cell.
            circuit.Forward[0].Encrypt(cell);
            int position = random.Next(cell.Length);
            cell[position] ^= (byte)(1 << random.Next(8));
            Assert.False(circuit.Forward[1].Encrypt(cell));
            Assert.False(circuit.Forward[2].Encrypt(cell));
            // Nothing of the zero data survives at the exit: no tag pattern to recognise.
            int zeros = cell.AsSpan(LayerCipher.TagSize + CellLayout.RelayHeaderSize, 100).Count((byte)0);
            Assert.True(zeros < 10, $"{zeros} zero bytes survived");
        }
    }

    [Fact]
    public void A_changed_backward_cell_fails_at_the_client()
    {
        using var circuit = new TestCircuit(3, seed: 9);
        var cell = circuit.RelaySend(2, new byte[10]);
        cell[200] ^= 1;
        Assert.Equal(-1, circuit.ClientReceive(cell, out _));
    }

    [Fact]
    public void Replayed_and_reordered_cells_are_refused()
    {
        using var circuit = new TestCircuit(3, seed: 5);
        var first = circuit.ClientSend(2, [1, 2, 3]);
        var second = circuit.ClientSend(2, [4, 5, 6]);
        var replay = (byte[])first.Clone();
        Assert.Equal(2, circuit.RelaysReceive(first, out _));
        Assert.Equal(-1, circuit.RelaysReceive(replay, out _)); // the counter moved on

        using var other = new TestCircuit(3, seed: 6);
        var a = other.ClientSend(2, [1]);
        var b = other.ClientSend(2, [2]);
        Assert.Equal(-1, other.RelaysReceive(b, out _)); // b before a
        _ = a;
        _ = second;
    }

    [Fact]
    public void Portable_and_accelerated_layers_interoperate()
    {
        var keys = new byte[LayerCipher.KeyMaterialSize];
        new Random(1).NextBytes(keys);
        using var relay = new LayerCipher(keys, decrypting: false, forcePortable: true);
        using var client = new LayerCipher(keys, decrypting: true);
        var body = new byte[Layout.BodySize];
        CellCodec.WriteRelayPlaintext(body, RelayCommand.Data, 7, [9, 9, 9], more: false);
        var original = (byte[])body.Clone();
        Assert.False(relay.Encrypt(body)); // a layer added: the tag is no longer zero
        Assert.NotEqual(original, body);
        Assert.True(client.Decrypt(body));
        Assert.Equal(original, body);
    }

    /// <summary>A client and its hops' layers in memory: the transforms without the network.</summary>
    internal sealed class TestCircuit : IDisposable
    {
        public TestCircuit(int hops, int seed)
        {
            var random = new Random(seed);
            for (int i = 0; i < hops; i++)
            {
                var forward = new byte[LayerCipher.KeyMaterialSize];
                var backward = new byte[LayerCipher.KeyMaterialSize];
                random.NextBytes(forward);
                random.NextBytes(backward);
                Forward.Add(new LayerCipher(forward, decrypting: false));
                Backward.Add(new LayerCipher(backward, decrypting: false));
                ClientForward.Add(new LayerCipher(forward, decrypting: true));
                ClientBackward.Add(new LayerCipher(backward, decrypting: true));
            }
        }

        public List<LayerCipher> Forward { get; } = [];
        public List<LayerCipher> Backward { get; } = [];
        public List<LayerCipher> ClientForward { get; } = [];
        public List<LayerCipher> ClientBackward { get; } = [];

        public byte[] ClientSend(int target, byte[] data)
        {
            var body = new byte[Layout.BodySize];
            CellCodec.WriteRelayPlaintext(body, RelayCommand.Data, 1, data, more: false);
            for (int hop = target; hop >= 0; hop--) ClientForward[hop].Decrypt(body);
            return body;
        }

        /// <summary>Passes the cell along the relays; returns the hop that recognised it, or -1.</summary>
        public int RelaysReceive(byte[] body, out byte[] data)
        {
            data = [];
            for (int hop = 0; hop < Forward.Count; hop++)
            {
                if (!Forward[hop].Encrypt(body)) continue;
                var header = CellCodec.ReadRelayHeader(body);
                data = CellCodec.RelayData(body, header).ToArray();
                return hop;
            }
            return -1;
        }

        public byte[] RelaySend(int origin, byte[] data)
        {
            var body = new byte[Layout.BodySize];
            CellCodec.WriteRelayPlaintext(body, RelayCommand.Data, 1, data, more: false);
            for (int hop = origin; hop >= 0; hop--) Backward[hop].Encrypt(body);
            return body;
        }

        public int ClientReceive(byte[] body, out byte[] data)
        {
            data = [];
            for (int hop = 0; hop < ClientBackward.Count; hop++)
            {
                if (!ClientBackward[hop].Decrypt(body)) continue;
                var header = CellCodec.ReadRelayHeader(body);
                data = CellCodec.RelayData(body, header).ToArray();
                return hop;
            }
            return -1;
        }

        public void Dispose()
        {
            foreach (var layer in Forward.Concat(Backward).Concat(ClientForward).Concat(ClientBackward)) layer.Dispose();
        }
    }
}
