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

    /// <summary>
    /// Known answers for onion.md's layer transform, from an independent reference (Python: AES-256 from OpenSSL's ECB
    /// through the `cryptography` package, counter mode and POLYVAL written out from SP 800-38A and RFC 8452): keys
    /// (7i + 3) mod 256, body byte i = (31i + length) mod 251; two cells (counter 0 and 1), SHA-256 of each output.
    /// Lengths: the 513-byte body of a 514-byte cell, a short body, whole blocks, one byte after the tag, and 48 blocks.
    /// </summary>
    [Theory]
    [InlineData(513, false, "3b03556fa3511c6bbb56aba2dad473505e23d0109820fc57954e473710378d9e", "6c6827a55aa019a2ad68f81ee95dcf0978e2e7ea0b9d0abae00523c6015b8467")]
    [InlineData(513, true, "3b03556fa3511c6bbb56aba2dad473505e23d0109820fc57954e473710378d9e", "6c6827a55aa019a2ad68f81ee95dcf0978e2e7ea0b9d0abae00523c6015b8467")]
    [InlineData(100, false, "dada1272808add8b9d3abb5b923018f17b387fab4956937a29d1d0578cf57709", "fe1da4a20375965b9cca3deaef4b244979af3cb89ceffd8e1b9b94e68a8c80ef")]
    [InlineData(100, true, "dada1272808add8b9d3abb5b923018f17b387fab4956937a29d1d0578cf57709", "fe1da4a20375965b9cca3deaef4b244979af3cb89ceffd8e1b9b94e68a8c80ef")]
    [InlineData(32, false, "df0bc54d7e3731b7038a4d4466cbe80efccececdf944e7ccb605c18f81423cff", "9ddcb1cc6ab0a4d84e2dc2ae9e825a03c5fbc1975d3e87e14cdcbf7ed70b8c10")]
    [InlineData(17, false, "91b7a2ede4f6e456f6e363db63966f9f2dd3f23367623383904ceb5fe4e1fff3", "191d4bca2c70a2ef1aee07845979c4c84878d20d7d99f0d285526d0b535d7fed")]
    [InlineData(784, false, "93cc0585cb319519d6243a56a20a29c469b2de0ebf221798701e75ca7213ef29", "b4682f850cd5e699783cd6b5eccf60515f8ac80e060d24f68dc7e793199fa90d")]
    [InlineData(784, true, "93cc0585cb319519d6243a56a20a29c469b2de0ebf221798701e75ca7213ef29", "b4682f850cd5e699783cd6b5eccf60515f8ac80e060d24f68dc7e793199fa90d")]
    public void The_layer_matches_known_answers_and_its_inverse_restores_the_body(int length, bool portable, string first, string second)
    {
        var keys = new byte[LayerCipher.KeyMaterialSize];
        for (int i = 0; i < keys.Length; i++) keys[i] = (byte)((7 * i + 3) % 256);
        var body = new byte[length];
        for (int i = 0; i < length; i++) body[i] = (byte)((31 * i + length) % 251);
        var original = (byte[])body.Clone();
        using var relay = new LayerCipher(keys, decrypting: false, forcePortable: portable);
        using var client = new LayerCipher(keys, decrypting: true, forcePortable: portable);
        relay.Encrypt(body);
        Assert.Equal(first, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body)));
        var once = (byte[])body.Clone();
        relay.Encrypt(body);
        Assert.Equal(second, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body)));
        client.Decrypt(once);
        Assert.Equal(original, once);
    }

    /// <summary>
    /// The client's transform of two cells at once (how it layers DATA) is the one-cell transform on each, in order:
    /// the first cell takes counter n, the second n + 1, on both paths; cells one at a time between the pairs keep the
    /// counter in step. Checked against the known-answer-tested one-cell transform and by the relay's layer, which
    /// must restore every body.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Two_cells_at_a_time_give_what_one_at_a_time_gives(bool portable)
    {
        var random = new Random(portable ? 2 : 1);
        var keys = new byte[LayerCipher.KeyMaterialSize];
        random.NextBytes(keys);
        using var paired = new LayerCipher(keys, decrypting: true, forcePortable: portable);
        using var single = new LayerCipher(keys, decrypting: true, forcePortable: portable);
        using var relay = new LayerCipher(keys, decrypting: false, forcePortable: portable);
        for (int round = 0; round < 20; round++)
        {
            var first = new byte[Layout.BodySize];
            var second = new byte[Layout.BodySize];
            random.NextBytes(first);
            random.NextBytes(second);
            byte[] firstPlain = [.. first], secondPlain = [.. second];
            byte[] firstAlone = [.. first], secondAlone = [.. second];

            paired.Decrypt(first, second);
            single.Decrypt(firstAlone);
            single.Decrypt(secondAlone);
            Assert.Equal(firstAlone, first);
            Assert.Equal(secondAlone, second);
            Assert.NotEqual(firstPlain, first);
            relay.Encrypt(first);
            relay.Encrypt(second);
            Assert.Equal(firstPlain, first);
            Assert.Equal(secondPlain, second);

            if (round % 3 == 0)
            {
                // An odd cell between pairs (a batch of odd length, or a control cell).
                var odd = new byte[Layout.BodySize];
                random.NextBytes(odd);
                byte[] oddPlain = [.. odd], oddAlone = [.. odd];
                paired.Decrypt(odd);
                single.Decrypt(oddAlone);
                Assert.Equal(oddAlone, odd);
                relay.Encrypt(odd);
                Assert.Equal(oddPlain, odd);
            }
        }
        Assert.Equal(single.Counter, paired.Counter);
    }

    /// <summary>
    /// The accelerated layer (eight-block counter groups with a last partial group, the one-pass POLYVAL with its
    /// shifted last block) against the portable one, for every body length from a bare tag to 800 bytes: past the
    /// one-pass hash's 48 blocks, and every remainder of the keystream's 128-byte groups and of a block.
    /// </summary>
    [Fact]
    public void Accelerated_and_portable_layers_agree_on_every_body_length()
    {
        if (!Aes256.HardwareAccelerated || !Polyval.HardwareAccelerated) return; // nothing to compare against here
        var random = new Random(514);
        for (int length = LayerCipher.TagSize; length <= 800; length++)
        {
            var keys = new byte[LayerCipher.KeyMaterialSize];
            random.NextBytes(keys);
            using var fastRelay = new LayerCipher(keys, decrypting: false);
            using var slowRelay = new LayerCipher(keys, decrypting: false, forcePortable: true);
            using var fastClient = new LayerCipher(keys, decrypting: true);
            using var slowClient = new LayerCipher(keys, decrypting: true, forcePortable: true);
            var body = new byte[length];
            random.NextBytes(body);
            if (length % 3 == 0) body.AsSpan(12, 4).Fill(0xFF); // the first counter block wraps at once on decryption
            var fast = (byte[])body.Clone();
            var slow = (byte[])body.Clone();
            Assert.Equal(slowRelay.Encrypt(slow), fastRelay.Encrypt(fast));
            Assert.Equal(slow, fast);
            Assert.Equal(slowClient.Decrypt(slow), fastClient.Decrypt(fast));
            Assert.Equal(slow, fast);
            Assert.Equal(body, fast); // the client's transform undoes the relay's with the same keys
        }
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
