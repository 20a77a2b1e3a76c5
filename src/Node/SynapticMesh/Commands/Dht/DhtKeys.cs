using System.Text;
using P2PStack.Encoding;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Validation;
using SynapticMesh.Cli;
using SynapticMesh.Node;

namespace SynapticMesh.Commands;

/// <summary>
/// How the DHT commands read keys. A record key (<c>put</c>/<c>get</c>) is a <c>/namespace/name</c> path, or a plain
/// name standing for <c>/v/name</c> (<see cref="ValueRecordValidator"/>). A content key (<c>provide</c>/<c>findprovs</c>)
/// is a CID, or any other text standing for the CIDv1 (raw, sha2-256) of its UTF-8 bytes, as go and js key providers
/// by the CID's multihash.
/// </summary>
public static class DhtKeys
{
    /// <summary>Most bytes of a record key the commands accept (the record store's default limit).</summary>
    public const int MaxRecordKeyLength = 512;

    public static string RecordKey(string text)
    {
        if (string.IsNullOrEmpty(text)) throw CliException.Usage("the key is empty");
        string key = text.StartsWith('/') ? text : $"/{ValueRecordValidator.Namespace}/{text}";
        try
        {
            NamespacedValidator.SplitKey(Encoding.UTF8.GetBytes(key));
        }
        catch (InvalidRecordException e)
        {
            throw CliException.Usage($"'{text}' is not a DHT key: {e.Message}; use /namespace/name, or a plain name for /{ValueRecordValidator.Namespace}/name", e);
        }
        if (Encoding.UTF8.GetByteCount(key) > MaxRecordKeyLength) throw CliException.Usage($"the key is over {MaxRecordKeyLength} bytes");
        return key;
    }

    public static Cid ContentKey(string text)
    {
        if (string.IsNullOrEmpty(text)) throw CliException.Usage("the key is empty");
        return Cid.TryParse(text, out var cid) ? cid! : Cid.V1(Multicodec.Raw, Multihash.Sha2_256(Encoding.UTF8.GetBytes(text)));
    }

    /// <summary>A value as text when it is printable UTF-8, else null (the base64 form is always given).</summary>
    public static string? AsText(byte[] value)
    {
        try
        {
            return new UTF8Encoding(false, true).GetString(value);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }
}
