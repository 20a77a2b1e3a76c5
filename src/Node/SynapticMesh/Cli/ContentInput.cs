using System.Text;

namespace SynapticMesh.Cli;

/// <summary>
/// Where a command's payload comes from (<c>message</c>, <c>publish</c>): inline text, a file (<c>--file PATH</c>), or
/// stdin (<c>-</c> in place of the text, or <c>--file -</c>). Reads at most <c>cap</c> bytes plus one, so a huge
/// file is refused without reading it whole; the size limit itself is the node's (see <c>GET /v1/limits</c>).
/// </summary>
public static class ContentInput
{
    public const string Stdin = "-";

    /// <summary>The bytes, or <c>(bytes, truncated: true)</c> when the source holds more than <paramref name="cap"/>.</summary>
    public static async Task<(byte[] Bytes, bool OverCap, long? Size)> ReadAsync(string? inline, string? file, int cap, CancellationToken cancellationToken)
    {
        if (inline is not null && file is not null) throw CliException.Usage("give the content either inline or with --file, not both");
        if (inline is null && file is null) throw CliException.Usage("no content: give it inline, with --file PATH, or - to read stdin");
        if (inline is not null && inline != Stdin)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(inline);
            return (bytes, bytes.Length > cap, bytes.Length);
        }
        string source = file ?? Stdin;
        Stream stream;
        try
        {
            stream = source == Stdin ? Console.OpenStandardInput() : File.OpenRead(source);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new CliException($"cannot read {source}: {ErrorText.Of(e)}", inner: e);
        }
        await using (stream)
        {
            long? size = stream.CanSeek ? stream.Length : null;
            var buffer = new MemoryStream();
            byte[] chunk = new byte[81920];
            int read;
            while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
            {
                buffer.Write(chunk, 0, read);
                if (buffer.Length > cap) return (buffer.ToArray(), true, size);
            }
            return (buffer.ToArray(), false, buffer.Length);
        }
    }

    /// <summary>The bytes as text, refusing invalid UTF-8 (a message's content is a protobuf string).</summary>
    public static string AsText(byte[] bytes, string what)
    {
        try
        {
            return new UTF8Encoding(false, true).GetString(bytes);
        }
        catch (DecoderFallbackException e)
        {
            throw CliException.Usage($"{what} is not valid UTF-8 text", e);
        }
    }

    /// <summary>The one way every command states a size limit.</summary>
    public static string TooLarge(string what, long? size, long limit) =>
        size is { } bytes ? $"{what} is {bytes} bytes, over the limit of {limit} bytes" : $"{what} is over the limit of {limit} bytes";
}
