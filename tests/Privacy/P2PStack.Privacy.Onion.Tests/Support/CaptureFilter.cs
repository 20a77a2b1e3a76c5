using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using P2PStack.Network;

namespace P2PStack.Privacy.Onion.Tests;

/// <summary>
/// A pass-through secured-connection filter that records the bytes the muxer sends and receives on a connection: what
/// Noise encrypts onto the socket, in the order it goes out. Tests parse the yamux frames in it.
/// </summary>
public sealed class CaptureFilter : ISecuredConnectionFilter
{
    public const string Id = "/test/capture/1.0.0";

    private readonly List<Capture> _captures = [];

    public string ProtocolId => Id;

    public IReadOnlyList<Capture> Captures
    {
        get { lock (_captures) return [.. _captures]; }
    }

    public IFilteredPipe Apply(IDuplexPipe connection, Direction direction)
    {
        var capture = new Capture(connection, direction);
        lock (_captures) _captures.Add(capture);
        return capture;
    }

    public sealed class Capture : IFilteredPipe
    {
        private readonly IDuplexPipe _inner;
        private readonly Pipe _fromMuxer = new();
        private readonly Pipe _toMuxer = new();
        private readonly MemoryStream _sent = new();
        private readonly MemoryStream _received = new();
        private readonly Task _sending;
        private readonly Task _receiving;

        public Capture(IDuplexPipe inner, Direction direction)
        {
            _inner = inner;
            Direction = direction;
            _sending = PumpAsync(_fromMuxer.Reader, _inner.Output, _sent);
            _receiving = PumpAsync(_inner.Input, _toMuxer.Writer, _received);
        }

        public Direction Direction { get; }

        public PipeReader Input => _toMuxer.Reader;

        public PipeWriter Output => _fromMuxer.Writer;

        public byte[] Sent
        {
            get { lock (_sent) return _sent.ToArray(); }
        }

        public byte[] Received
        {
            get { lock (_received) return _received.ToArray(); }
        }

        private static async Task PumpAsync(PipeReader from, PipeWriter to, MemoryStream log)
        {
            Exception? error = null;
            try
            {
                while (true)
                {
                    var result = await from.ReadAsync();
                    foreach (var segment in result.Buffer)
                    {
                        lock (log) log.Write(segment.Span);
                        await to.WriteAsync(segment);
                    }
                    from.AdvanceTo(result.Buffer.End);
                    if (result.IsCompleted) break;
                }
            }
            catch (Exception e)
            {
                error = e;
            }
            await from.CompleteAsync(error);
            await to.CompleteAsync(error);
        }

        public async ValueTask DisposeAsync()
        {
            await _fromMuxer.Writer.CompleteAsync();
            await Task.WhenAll(_sending, _receiving).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }
}

/// <summary>Yamux frames (12-byte header, then the payload of data frames) in one direction of a capture.</summary>
public static class YamuxFrames
{
    public sealed record Frame(byte Type, ushort Flags, uint StreamId, byte[] Payload);

    /// <summary>The frames after the muxer's own multistream-select negotiation (it runs over the filtered pipe).</summary>
    public static List<Frame> Parse(byte[] bytes)
    {
        var frames = new List<Frame>();
        int offset = 0;
        // "/multistream/1.0.0\n", "/yamux/1.0.0\n" (and "na\n" retries): varint-length text lines.
        while (offset < bytes.Length && bytes[offset] < 0x80 && bytes[offset] > 0 && offset + 1 + bytes[offset] <= bytes.Length
               && bytes[offset + bytes[offset]] == (byte)'\n' && (bytes[offset + 1] == (byte)'/' || bytes[offset + 1] == (byte)'n'))
            offset += 1 + bytes[offset];
        while (offset + 12 <= bytes.Length)
        {
            byte type = bytes[offset + 1];
            ushort flags = BinaryPrimitives.ReadUInt16BigEndian(bytes.AsSpan(offset + 2));
            uint stream = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(offset + 4));
            uint length = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(offset + 8));
            offset += 12;
            byte[] payload = [];
            if (type == 0)
            {
                if (offset + length > bytes.Length) break; // the capture ends inside a frame
                payload = bytes.AsSpan(offset, (int)length).ToArray();
                offset += (int)length;
            }
            frames.Add(new Frame(type, flags, stream, payload));
        }
        return frames;
    }

    /// <summary>Skips the multistream-select messages (varint length, text ending in a newline) at the start of a
    /// stream's bytes; returns how many bytes they take.</summary>
    public static int NegotiationLength(ReadOnlySpan<byte> data, string protocol)
    {
        int offset = 0;
        for (int message = 0; message < 2 && offset < data.Length; message++)
        {
            int length = data[offset];
            if (length >= 0x80 || offset + 1 + length > data.Length) break;
            var text = System.Text.Encoding.ASCII.GetString(data.Slice(offset + 1, length));
            if (text != "/multistream/1.0.0\n" && text != protocol + "\n") break;
            offset += 1 + length;
        }
        return offset;
    }
}
