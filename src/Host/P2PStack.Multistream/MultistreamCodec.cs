using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using P2PStack.IO;

namespace P2PStack.Multistream;

/// <summary>Wire format of multistream-select: each message is a varint length, UTF-8 text and a trailing newline
/// (counted in the length). The <c>ls</c> response nests such messages inside one.</summary>
internal static class MultistreamCodec
{
    public const string NotAvailable = "na";
    public const string List = "ls";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static ReadOnlySpan<byte> HeaderText => "/multistream/1.0.0"u8;
    private static ReadOnlySpan<byte> NotAvailableText => "na"u8;
    private static ReadOnlySpan<byte> ListText => "ls"u8;

    /// <summary>Checks a protocol id we are about to send or advertise.</summary>
    public static void ValidateLocal(string protocol, MultistreamOptions options, string paramName)
    {
        ArgumentNullException.ThrowIfNull(protocol, paramName);
        if (protocol.Contains('\n')) throw new ArgumentException($"protocol id '{protocol}' contains a newline", paramName);
        int length;
        try { length = StrictUtf8.GetByteCount(protocol); }
        catch (EncoderFallbackException e) { throw new ArgumentException($"protocol id '{protocol}' is not valid Unicode", paramName, e); }
        if (length + 1 > options.MaxMessageLength)
            throw new ArgumentException($"protocol id of {length} bytes exceeds the {options.MaxMessageLength}-byte message limit", paramName);
    }

    public static int EncodedLength(string token)
    {
        int body = StrictUtf8.GetByteCount(token) + 1;
        return LengthPrefixed.GetEncodedLength(body);
    }

    public static void WriteToken(IBufferWriter<byte> writer, string token)
    {
        int textLength = StrictUtf8.GetByteCount(token);
        LengthPrefixed.WritePrefix(writer, textLength + 1);
        Span<byte> span = writer.GetSpan(textLength + 1);
        StrictUtf8.GetBytes(token, span);
        span[textLength] = (byte)'\n';
        writer.Advance(textLength + 1);
    }

    /// <summary>Writes the <c>ls</c> answer as go-multistream did: one message whose body is every protocol as its own
    /// message, followed by the outer message's newline.</summary>
    public static void WriteList(IBufferWriter<byte> writer, IEnumerable<string> protocols)
    {
        int inner = 0;
        foreach (string protocol in protocols) inner += EncodedLength(protocol);
        LengthPrefixed.WritePrefix(writer, inner + 1);
        foreach (string protocol in protocols) WriteToken(writer, protocol);
        writer.GetSpan(1)[0] = (byte)'\n';
        writer.Advance(1);
    }

    /// <summary>Decodes one message body to its text. The control tokens come back as interned constants, so only a
    /// real protocol id allocates.</summary>
    public static string ParseToken(ReadOnlySequence<byte> message)
    {
        if (message.IsEmpty) throw new MultistreamException("empty multistream message (it must at least hold the newline)");
        if (LastByte(message) != (byte)'\n') throw new MultistreamException("multistream message does not end with a newline");
        ReadOnlySequence<byte> text = message.Slice(0, message.Length - 1);
        if (text.FirstSpan.Length == text.Length)
        {
            ReadOnlySpan<byte> span = text.FirstSpan;
            if (span.SequenceEqual(HeaderText)) return MultistreamSelect.ProtocolId;
            if (span.SequenceEqual(NotAvailableText)) return NotAvailable;
            if (span.SequenceEqual(ListText)) return List;
        }
        try
        {
            return StrictUtf8.GetString(text);
        }
        catch (DecoderFallbackException e)
        {
            throw new MultistreamException("multistream message is not valid UTF-8", e);
        }
    }

    /// <summary>Splits the body of an <c>ls</c> answer into protocol ids.</summary>
    public static List<string> ParseList(ReadOnlySequence<byte> message, int maxItemLength)
    {
        if (message.IsEmpty || LastByte(message) != (byte)'\n')
            throw new MultistreamException("ls response does not end with a newline");
        ReadOnlySequence<byte> rest = message.Slice(0, message.Length - 1);
        var protocols = new List<string>();
        while (!rest.IsEmpty)
        {
            bool complete;
            ReadOnlySequence<byte> item;
            try
            {
                complete = LengthPrefixed.TryReadMessage(ref rest, maxItemLength, out item);
            }
            catch (P2PFormatException e)
            {
                throw new MultistreamException($"malformed entry in ls response: {e.Message}", e);
            }
            if (!complete) throw new MultistreamException("ls response ends inside an entry");
            protocols.Add(ParseToken(item));
        }
        return protocols;
    }

    public static async ValueTask<string> ReadTokenAsync(PipeReader reader, int maxLength, CancellationToken cancellationToken)
    {
        try
        {
            return await LengthPrefixed.ReadMessageAsync(reader, maxLength, ParseTokenDelegate, cancellationToken).ConfigureAwait(false);
        }
        catch (P2PFormatException e) when (e is not MultistreamException)
        {
            throw new MultistreamException($"malformed multistream message: {e.Message}", e);
        }
        catch (EndOfStreamException e)
        {
            throw new EndOfStreamException("the remote closed the stream during multistream-select negotiation", e);
        }
    }

    public static async ValueTask<List<string>> ReadListAsync(PipeReader reader, MultistreamOptions options, CancellationToken cancellationToken)
    {
        try
        {
            return await LengthPrefixed.ReadMessageAsync(reader, options.MaxListResponseLength,
                message => ParseList(message, options.MaxMessageLength), cancellationToken).ConfigureAwait(false);
        }
        catch (P2PFormatException e) when (e is not MultistreamException)
        {
            throw new MultistreamException($"malformed ls response: {e.Message}", e);
        }
        catch (EndOfStreamException e)
        {
            throw new EndOfStreamException("the remote closed the stream before answering ls", e);
        }
    }

    private static readonly int HeaderMessageLength = System.Text.Encoding.UTF8.GetByteCount(MultistreamSelect.ProtocolId) + 1;

    public static async ValueTask ExpectHeaderAsync(PipeReader reader, MultistreamOptions options, CancellationToken cancellationToken)
    {
        // The header has one length: a longer announcement fails now instead of waiting for bytes that may never come
        // (a peer behind another private network key sends noise that often announces a few hundred bytes).
        string header = await ReadTokenAsync(reader, HeaderMessageLength, cancellationToken).ConfigureAwait(false);
        if (header != MultistreamSelect.ProtocolId)
            throw new MultistreamException($"expected the multistream header '{MultistreamSelect.ProtocolId}', got '{Printable(header)}'");
    }

    /// <summary>Remote text for an error message: bounded and without control characters.</summary>
    public static string Printable(string text)
    {
        const int MaxShown = 100;
        var builder = new StringBuilder(Math.Min(text.Length, MaxShown));
        foreach (char c in text.Length > MaxShown ? text.AsSpan(0, MaxShown) : text)
            builder.Append(char.IsControl(c) ? '?' : c);
        if (text.Length > MaxShown) builder.Append("...");
        return builder.ToString();
    }

    private static readonly Func<ReadOnlySequence<byte>, string> ParseTokenDelegate = ParseToken;

    private static byte LastByte(in ReadOnlySequence<byte> sequence) => sequence.Slice(sequence.Length - 1).FirstSpan[0];
}
