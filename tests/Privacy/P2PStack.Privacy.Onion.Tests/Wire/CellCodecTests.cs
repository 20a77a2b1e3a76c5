using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Tests.Wire;

/// <summary>The cell codec: fixed sizes, handshake fragmentation, relay headers and multi-cell messages; malformed
/// input only ever raises <see cref="OnionFormatException"/>.</summary>
public class CellCodecTests
{
    [Theory]
    [InlineData(128)]
    [InlineData(514)]
    [InlineData(1024)]
    [InlineData(4096)]
    public void Handshake_messages_fragment_into_whole_cells_and_reassemble(int cellSize)
    {
        var layout = new CellLayout(cellSize);
        foreach (int length in new[] { 1, OnionHandshake.CreatedSize, OnionHandshake.CreateSize })
        {
            var message = new byte[length];
            new Random(length).NextBytes(message);
            var assembler = new HandshakeAssembler(layout, CellCommand.Create, 4096);
            int cells = layout.HandshakeCells(length);
            byte[]? result = null;
            for (int i = 0; i < cells; i++)
            {
                var cell = new byte[cellSize];
                CellCodec.WriteHandshake(cell, layout, CellCommand.Create, message, i);
                Assert.Equal((byte)CellCommand.Create, cell[0]);
                Assert.Null(result);
                result = assembler.Add(cell.AsSpan(1));
            }
            Assert.Equal(message, result);
        }
    }

    [Fact]
    public void Relay_headers_round_trip_and_multi_cell_messages_reassemble()
    {
        var layout = new CellLayout(514);
        var message = new byte[3000];
        new Random(1).NextBytes(message);
        var assembler = new RelayMessageAssembler(8192);
        byte[]? whole = null;
        int count = layout.RelayCells(message.Length);
        for (int i = 0; i < count; i++)
        {
            var chunk = message.AsSpan(i * layout.RelayDataCapacity, Math.Min(layout.RelayDataCapacity, message.Length - i * layout.RelayDataCapacity));
            var body = new byte[layout.BodySize];
            CellCodec.WriteRelayPlaintext(body, RelayCommand.Extend, 0, chunk, more: i < count - 1);
            Assert.True(LayerCipher.IsRecognised(body));
            var header = CellCodec.ReadRelayHeader(body);
            Assert.Equal(RelayCommand.Extend, header.Command);
            Assert.Equal(chunk.Length, header.Length);
            whole = assembler.Add(header, CellCodec.RelayData(body, header));
        }
        Assert.Equal(message, whole);
    }

    [Fact]
    public void Messages_over_the_limit_and_interleaved_messages_are_refused()
    {
        var assembler = new RelayMessageAssembler(1000);
        var data = new byte[491];
        Assert.Null(assembler.Add(new RelayHeader(RelayCommand.Extend, 0, data.Length, true), data));
        Assert.Throws<OnionFormatException>(() => assembler.Add(new RelayHeader(RelayCommand.Begin, 1, 3, false), new byte[3]));
        var other = new RelayMessageAssembler(1000);
        Assert.Null(other.Add(new RelayHeader(RelayCommand.Extend, 0, data.Length, true), data));
        Assert.Null(other.Add(new RelayHeader(RelayCommand.Extend, 0, data.Length, true), data));
        Assert.Throws<OnionFormatException>(() => other.Add(new RelayHeader(RelayCommand.Extend, 0, data.Length, true), data));
        var layout = new CellLayout(514);
        Assert.Throws<OnionFormatException>(() => new HandshakeAssembler(layout, CellCommand.Create, 4096).Add(new byte[513]));
        var tooLong = new byte[513];
        tooLong[0] = 0xFF;
        Assert.Throws<OnionFormatException>(() => new HandshakeAssembler(layout, CellCommand.Create, 4096).Add(tooLong));
    }

    [Fact]
    public void Random_and_mutated_relay_bodies_only_raise_the_typed_exception()
    {
        var random = new Random(4);
        var body = new byte[513];
        for (int i = 0; i < 20_000; i++)
        {
            random.NextBytes(body);
            if (i % 2 == 0)
            {
                CellCodec.WriteRelayPlaintext(body, (RelayCommand)random.Next(1, 10), 3, new byte[random.Next(0, 492)], random.Next(2) == 0);
                body[LayerCipher.TagSize + random.Next(6)] ^= (byte)random.Next(256);
            }
            try
            {
                var header = CellCodec.ReadRelayHeader(body);
                Assert.InRange(header.Length, 0, 491);
                _ = CellCodec.RelayData(body, header);
            }
            catch (OnionFormatException)
            {
            }
        }
    }

    [Fact]
    public void Cell_sizes_outside_the_range_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new CellLayout(100));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CellLayout(70_000));
        Assert.Equal(491, new CellLayout(514).RelayDataCapacity);
    }
}
