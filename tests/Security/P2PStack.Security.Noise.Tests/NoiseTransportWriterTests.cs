using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using P2PStack.Conformance.Security;
using P2PStack.IO;

namespace P2PStack.Security.Noise.Tests;

/// <summary>How written plaintext becomes Noise transport messages on the wire.</summary>
public sealed class NoiseTransportWriterTests
{
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(10);

    private static async Task<(SegmentingRawConnection Wire, INoiseSecureConnection Client, INoiseSecureConnection Server)> ConnectAsync()
    {
        var (rawClient, rawServer) = MemoryRawConnection.CreatePair();
        var wire = new SegmentingRawConnection(rawClient, 1 << 20);
        var server = TestIdentity.Generate();
        var options = Options.Create(new NoiseOptions());
        var outbound = new NoiseSecureChannel(NoiseSuite.Classical, options)
            .SecureOutboundAsync(wire, TestIdentity.Generate(), server.PeerId, [], default).AsTask();
        var inbound = new NoiseSecureChannel(NoiseSuite.Classical, options).SecureInboundAsync(rawServer, server, [], default).AsTask();
        await Task.WhenAll(outbound, inbound).WaitAsync(Prompt);
        return (wire, (INoiseSecureConnection)outbound.Result, (INoiseSecureConnection)inbound.Result);
    }

    /// <summary>Lengths of the client's transport messages (after its two handshake messages).</summary>
    private static List<int> TransportMessageLengths(SegmentingRawConnection wire)
    {
        var bytes = wire.Written;
        var lengths = new List<int>();
        for (int offset = 0; offset < bytes.Length;)
        {
            int length = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(offset));
            lengths.Add(length);
            offset += 2 + length;
        }

        return lengths.Skip(2).ToList();
    }

    private static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int count)
    {
        var result = await reader.ReadAtLeastAsync(count).AsTask().WaitAsync(Prompt);
        var data = result.Buffer.Slice(0, count).ToArray();
        reader.AdvanceTo(result.Buffer.GetPosition(count));
        return data;
    }

    [Fact]
    public async Task A_large_flush_goes_out_as_maximal_messages_whatever_the_write_boundaries()
    {
        var (wire, client, server) = await ConnectAsync();
        await using (client)
        await using (server)
        {
            // Three yamux data frames as the muxer writes them (12-byte header, 64 KiB payload), one flush: each frame
            // is 29 bytes more than a message holds, yet only the last message may be shorter than the maximum.
            var written = new MemoryStream();
            for (int frame = 0; frame < 3; frame++)
            {
                var header = RandomNumberGenerator.GetBytes(12);
                header.CopyTo(client.Output.GetSpan(12));
                client.Output.Advance(12);
                var payload = RandomNumberGenerator.GetBytes(65536);
                client.Output.Write(payload);
                written.Write(header);
                written.Write(payload);
            }

            await client.Output.FlushAsync().AsTask().WaitAsync(Prompt);

            var expected = written.ToArray();
            Assert.Equal(expected, await ReadExactlyAsync(server.Input, expected.Length));
            int total = expected.Length; // 196,644 bytes: three full messages of 65,519 plaintext bytes and 87 more
            Assert.Equal([65535, 65535, 65535, total - 3 * 65519 + 16], TransportMessageLengths(wire));
        }
    }

    [Theory]
    // A yamux data frame: its 12-byte header written before, 64 KiB of data: a 29-byte message, then a whole one
    // sealed from the data.
    [InlineData(12, 65536, new[] { 29 + 16, 65535 })]
    [InlineData(0, 3 * 65519 + 5, new[] { 5 + 16, 65535, 65535, 65535 })]
    [InlineData(0, 2 * 65519, new[] { 65535, 65535 })]
    [InlineData(12, 65519, new[] { 12 + 16, 65535 })]
    [InlineData(12, 1000, new[] { 1012 + 16 })] // shorter than a message: copied, as Write does
    [InlineData(65000, 1000, new[] { 65535, 481 + 16 })] // the head fills the open message and goes on in the next
    public async Task A_direct_write_seals_whole_messages_from_the_callers_bytes(int before, int length, int[] messages)
    {
        var (wire, client, server) = await ConnectAsync();
        await using (client)
        await using (server)
        {
            var first = RandomNumberGenerator.GetBytes(before);
            first.CopyTo(client.Output.GetSpan(before));
            client.Output.Advance(before);
            var data = RandomNumberGenerator.GetBytes(length);
            client.Output.WriteDirect(data);
            await client.Output.FlushAsync().AsTask().WaitAsync(Prompt);

            var received = await ReadExactlyAsync(server.Input, before + length);
            Assert.Equal(first.Concat(data).ToArray(), received);
            Assert.Equal(messages, TransportMessageLengths(wire));
        }
    }

    [Fact]
    public async Task Direct_writes_and_buffered_writes_interleave_in_order()
    {
        var (_, client, server) = await ConnectAsync();
        await using (client)
        await using (server)
        {
            var random = new Random(15);
            var pieces = Enumerable.Range(0, 20).Select(_ => new byte[random.Next(0, 3 * 65519)]).ToList();
            pieces.ForEach(random.NextBytes);
            var expected = pieces.SelectMany(p => p).ToArray();
            var read = ReadExactlyAsync(server.Input, expected.Length); // read while writing: the wire pushes back
            for (int i = 0; i < pieces.Count; i++)
            {
                if (i % 3 == 0)
                {
                    client.Output.Write(pieces[i]);
                }
                else
                {
                    client.Output.GetMemory(random.Next(1, 70_000)); // handed out and given up by the next write
                    client.Output.WriteDirect(pieces[i]);
                }

                if (i % 4 == 3)
                {
                    await client.Output.FlushAsync().AsTask().WaitAsync(Prompt);
                }
            }

            await client.Output.FlushAsync().AsTask().WaitAsync(Prompt);
            Assert.Equal(expected, await read);
        }
    }

    [Fact]
    public async Task Memory_handed_out_before_a_flush_is_advanced_after_it_only_if_nothing_was_sealed_before_it()
    {
        var (_, client, server) = await ConnectAsync();
        await using (client)
        await using (server)
        {
            // Nothing written before: the flush has nothing to seal, and the memory is still the open message's.
            new byte[] { 1, 2 }.CopyTo(client.Output.GetMemory(2));
            await client.Output.FlushAsync().AsTask().WaitAsync(Prompt);
            client.Output.Advance(2);
            await client.Output.FlushAsync().AsTask().WaitAsync(Prompt);
            Assert.Equal([1, 2], await ReadExactlyAsync(server.Input, 2));

            // Bytes written before: the flush seals them, and the memory behind them cannot join them any more.
            client.Output.Write(new byte[] { 3, 4, 5 });
            new byte[] { 6, 7, 8 }.CopyTo(client.Output.GetMemory(3));
            await client.Output.FlushAsync().AsTask().WaitAsync(Prompt);
            Assert.Throws<ArgumentOutOfRangeException>(() => client.Output.Advance(3));
            client.Output.Write(new byte[] { 9 });
            await client.Output.FlushAsync().AsTask().WaitAsync(Prompt);
            Assert.Equal([3, 4, 5, 9], await ReadExactlyAsync(server.Input, 4));
        }
    }

    [Fact]
    public async Task Every_flush_sends_what_was_written_without_holding_any_back()
    {
        var (wire, client, server) = await ConnectAsync();
        await using (client)
        await using (server)
        {
            await client.Output.WriteAsync("ping"u8.ToArray()).AsTask().WaitAsync(Prompt);
            Assert.Equal("ping"u8.ToArray(), await ReadExactlyAsync(server.Input, 4));

            "ab"u8.CopyTo(client.Output.GetSpan(2));
            client.Output.Advance(2);
            "cde"u8.CopyTo(client.Output.GetSpan(3));
            client.Output.Advance(3);
            await client.Output.FlushAsync().AsTask().WaitAsync(Prompt);
            await client.Output.FlushAsync().AsTask().WaitAsync(Prompt); // nothing new: no empty message
            Assert.Equal("abcde"u8.ToArray(), await ReadExactlyAsync(server.Input, 5));

            Assert.Equal([4 + 16, 5 + 16], TransportMessageLengths(wire));
        }
    }

    [Fact]
    public async Task A_size_hint_larger_than_one_message_is_split_into_messages()
    {
        var (wire, client, server) = await ConnectAsync();
        await using (client)
        await using (server)
        {
            var data = RandomNumberGenerator.GetBytes(200_000);
            var span = client.Output.GetSpan(data.Length);
            Assert.True(span.Length >= data.Length);
            data.CopyTo(span);
            client.Output.Advance(data.Length);
            await client.Output.FlushAsync().AsTask().WaitAsync(Prompt);

            Assert.Equal(data, await ReadExactlyAsync(server.Input, data.Length));
            Assert.Equal([65535, 65535, 65535, data.Length - 3 * 65519 + 16], TransportMessageLengths(wire));
        }
    }

    [Fact]
    public async Task Advancing_past_the_memory_handed_out_or_writing_after_complete_throws()
    {
        var (_, client, server) = await ConnectAsync();
        await using (client)
        await using (server)
        {
            var memory = client.Output.GetMemory(10);
            Assert.Throws<ArgumentOutOfRangeException>(() => client.Output.Advance(memory.Length + 1));
            await client.Output.CompleteAsync();
            Assert.Throws<InvalidOperationException>(() => client.Output.GetSpan(1));
            var end = await server.Input.ReadAsync().AsTask().WaitAsync(Prompt);
            Assert.True(end.IsCompleted);
            Assert.True(end.Buffer.IsEmpty);
        }
    }
}
