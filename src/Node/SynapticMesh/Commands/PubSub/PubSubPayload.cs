using System.Text;

namespace SynapticMesh.Commands;

/// <summary>Pubsub data as the commands show it: UTF-8 text when it is text, base64 otherwise (with its encoding named).</summary>
public static class PubSubPayload
{
    public const string Utf8 = "utf-8";

    public const string Base64 = "base64";

    public static (string Data, string Encoding) Encode(ReadOnlySpan<byte> data)
    {
        try
        {
            return (new UTF8Encoding(false, true).GetString(data), Utf8);
        }
        catch (DecoderFallbackException)
        {
            return (Convert.ToBase64String(data), Base64);
        }
    }

    /// <summary>A topic as given on the command line or in a request: 1..1024 bytes, no control characters.</summary>
    public static string? TopicError(string? topic) =>
        string.IsNullOrEmpty(topic) ? "the topic is empty"
        : Encoding.UTF8.GetByteCount(topic) > 1024 ? "the topic is over 1024 bytes"
        : topic.Any(char.IsControl) ? "the topic holds control characters"
        : null;
}
