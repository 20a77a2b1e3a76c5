using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Protocols.Kademlia.Pb;

namespace P2PStack.Protocols.Kademlia;

/// <summary>Wire format of the DHT: varint-length-prefixed <see cref="Message"/> protobufs, and conversions.</summary>
public static class KadProtocol
{
    public const string DefaultProtocolId = "/ipfs/kad/1.0.0";

    /// <summary>Parses one message body.</summary>
    /// <exception cref="KadProtocolException">Not a valid DHT message.</exception>
    public static Message Parse(ReadOnlySequence<byte> body)
    {
        try
        {
            return Message.Parser.ParseFrom(body);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new KadProtocolException($"malformed DHT message: {e.Message}", e);
        }
    }

    /// <summary>Parses one message body.</summary>
    /// <exception cref="KadProtocolException">Not a valid DHT message.</exception>
    public static Message Parse(ReadOnlySpan<byte> body) => Parse(new ReadOnlySequence<byte>(body.ToArray()));

    /// <summary>Reads one length-prefixed message.</summary>
    /// <exception cref="KadProtocolException">Malformed, over <paramref name="maxLength"/>, or the stream ended inside it.</exception>
    public static async ValueTask<Message> ReadAsync(PipeReader reader, int maxLength, CancellationToken cancellationToken) =>
        await ReadOrEndAsync(reader, maxLength, cancellationToken).ConfigureAwait(false)
        ?? throw new KadProtocolException("the stream ended before a DHT message");

    /// <summary>Reads one length-prefixed message, or null when the stream ends cleanly between messages.</summary>
    /// <exception cref="KadProtocolException">Malformed, over <paramref name="maxLength"/>, or the stream ended inside it.</exception>
    public static async ValueTask<Message?> ReadOrEndAsync(PipeReader reader, int maxLength, CancellationToken cancellationToken)
    {
        try
        {
            using var body = await LengthPrefixed.ReadMessageOrEndAsync(reader, maxLength, cancellationToken).ConfigureAwait(false);
            return body is null ? null : Parse(new ReadOnlySequence<byte>(body.Memory));
        }
        catch (LengthPrefixException e)
        {
            throw new KadProtocolException($"DHT message too large: {e.Message}", e);
        }
        catch (P2PFormatException e) when (e is not KadProtocolException)
        {
            throw new KadProtocolException($"malformed DHT message length: {e.Message}", e);
        }
        catch (EndOfStreamException e)
        {
            throw new KadProtocolException($"truncated DHT message: {e.Message}", e);
        }
    }

    /// <summary>Writes and flushes one length-prefixed message.</summary>
    /// <exception cref="KadProtocolException">The message is larger than <paramref name="maxLength"/>.</exception>
    public static async ValueTask WriteAsync(PipeWriter writer, Message message, int maxLength, CancellationToken cancellationToken)
    {
        int size = message.CalculateSize();
        if (size > maxLength) throw new KadProtocolException($"DHT message of {size} bytes is over the limit of {maxLength}");
        LengthPrefixed.WriteMessage(writer, message);
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Converts a wire peer; null when its id is not a valid peer id. Undecodable addresses are skipped (as go does) and
    /// at most <paramref name="maxAddresses"/> are kept.
    /// </summary>
    public static PeerInfo? ToPeerInfo(Message.Types.Peer peer, int maxAddresses)
    {
        PeerId id;
        try { id = PeerId.FromBytes(peer.Id.Span); }
        catch (PeerIdException) { return null; }
        var addresses = new List<Multiaddr>(Math.Min(peer.Addrs.Count, maxAddresses));
        foreach (var raw in peer.Addrs)
        {
            if (addresses.Count >= maxAddresses) break;
            if (Multiaddr.TryDecode(raw.Span, out var address)) addresses.Add(address);
        }
        return new PeerInfo(id, addresses);
    }

    public static Message.Types.Peer ToWire(PeerInfo info, Message.Types.ConnectionType connection)
    {
        var peer = new Message.Types.Peer { Id = ByteString.CopyFrom(info.Peer.Bytes.Span), Connection = connection };
        foreach (var address in info.Addresses) peer.Addrs.Add(ByteString.CopyFrom(address.Bytes.Span));
        return peer;
    }

    /// <summary>RFC 3339 UTC with up to 7 fractional digits, trailing zeros trimmed (go's RFC3339Nano form).</summary>
    public static string FormatTimeReceived(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture);

    /// <summary>Parses a timeReceived; null when absent or not RFC 3339.</summary>
    public static DateTimeOffset? ParseTimeReceived(string text) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time)
            ? time
            : null;
}
