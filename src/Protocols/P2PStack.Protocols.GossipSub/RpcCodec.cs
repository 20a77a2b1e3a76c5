using System.Buffers;
using Google.Protobuf;
using P2PStack.Protocols.GossipSub.Pb;

namespace P2PStack.Protocols.GossipSub;

/// <summary>An RPC from a peer did not decode.</summary>
public sealed class PubSubFormatException(string message, Exception? inner = null) : P2PFormatException(message, inner);

/// <summary>Decoding of inbound RPCs and splitting of outbound RPCs that exceed the frame limit.</summary>
public static class RpcCodec
{
    private static readonly MessageParser<RPC> Parser = new(() => new RPC());

    /// <exception cref="PubSubFormatException">The bytes are not a valid RPC protobuf.</exception>
    public static RPC Decode(ReadOnlySequence<byte> bytes)
    {
        try
        {
            return Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new PubSubFormatException($"malformed pubsub RPC ({bytes.Length} bytes): {e.Message}", e);
        }
    }

    /// <inheritdoc cref="Decode(ReadOnlySequence{byte})"/>
    public static RPC Decode(ReadOnlySpan<byte> bytes) => Decode(new ReadOnlySequence<byte>(bytes.ToArray()));

    /// <summary>
    /// Splits <paramref name="rpc"/> into RPCs of at most <paramref name="maxSize"/> bytes each, keeping every
    /// subscription, message and control entry whole (id lists of IHAVE/IWANT/IDONTWANT may be split). A message that
    /// cannot fit even alone is dropped and counted in <paramref name="dropped"/>.
    /// </summary>
    public static List<RPC> Fragment(RPC rpc, int maxSize, out int dropped)
    {
        dropped = 0;
        if (rpc.CalculateSize() <= maxSize) return [rpc];
        var builder = new FragmentBuilder(maxSize);
        foreach (var sub in rpc.Subscriptions) builder.Add(sub.CalculateSize(), r => r.Subscriptions.Add(sub));
        foreach (var message in rpc.Publish)
        {
            int size = message.CalculateSize();
            if (Framed(size) + ControlReserve > maxSize)
            {
                dropped++;
                continue;
            }
            builder.Add(size, r => r.Publish.Add(message));
        }
        if (rpc.Control is { } control)
        {
            foreach (var graft in control.Graft) builder.Add(graft.CalculateSize(), r => Ctl(r).Graft.Add(graft));
            foreach (var prune in control.Prune)
            {
                var entry = prune;
                if (Framed(entry.CalculateSize()) + ControlReserve > maxSize)
                {
                    entry = prune.Clone();
                    entry.Peers.Clear(); // peer exchange is advisory: drop it rather than the PRUNE
                }
                builder.Add(entry.CalculateSize(), r => Ctl(r).Prune.Add(entry));
            }
            foreach (var ihave in control.Ihave)
                foreach (var chunk in SplitIds(ihave.MessageIDs, maxSize))
                {
                    var part = new ControlIHave { TopicID = ihave.TopicID };
                    part.MessageIDs.AddRange(chunk);
                    builder.Add(part.CalculateSize(), r => Ctl(r).Ihave.Add(part));
                }
            foreach (var iwant in control.Iwant)
                foreach (var chunk in SplitIds(iwant.MessageIDs, maxSize))
                {
                    var part = new ControlIWant();
                    part.MessageIDs.AddRange(chunk);
                    builder.Add(part.CalculateSize(), r => Ctl(r).Iwant.Add(part));
                }
            foreach (var idontwant in control.Idontwant)
                foreach (var chunk in SplitIds(idontwant.MessageIDs, maxSize))
                {
                    var part = new ControlIDontWant();
                    part.MessageIDs.AddRange(chunk);
                    builder.Add(part.CalculateSize(), r => Ctl(r).Idontwant.Add(part));
                }
        }
        return builder.Finish();
    }

    // Room for the control field's own tag and length around its entries.
    private const int ControlReserve = 1 + 5;

    private static int Framed(int size) => 1 + CodedOutputStream.ComputeLengthSize(size) + size;

    private static ControlMessage Ctl(RPC rpc) => rpc.Control ??= new ControlMessage();

    private static IEnumerable<List<ByteString>> SplitIds(IEnumerable<ByteString> ids, int maxSize)
    {
        int budget = maxSize - 2 * ControlReserve - 64;
        var chunk = new List<ByteString>();
        int size = 0;
        foreach (var id in ids)
        {
            int idSize = Framed(id.Length);
            if (idSize > budget) continue; // an id that large cannot be meaningful
            if (size + idSize > budget && chunk.Count > 0)
            {
                yield return chunk;
                chunk = [];
                size = 0;
            }
            chunk.Add(id);
            size += idSize;
        }
        if (chunk.Count > 0) yield return chunk;
    }

    private sealed class FragmentBuilder(int maxSize)
    {
        private readonly List<RPC> _done = [];
        private RPC _current = new();
        private int _size;

        public void Add(int entrySize, Action<RPC> add)
        {
            int framed = Framed(entrySize);
            if (_size > 0 && _size + framed + ControlReserve > maxSize)
            {
                _done.Add(_current);
                _current = new RPC();
                _size = 0;
            }
            add(_current);
            _size += framed;
        }

        public List<RPC> Finish()
        {
            if (_size > 0) _done.Add(_current);
            return _done;
        }
    }
}
