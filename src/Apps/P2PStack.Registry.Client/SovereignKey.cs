using P2PStack.Identity;

namespace P2PStack.Registry;

/// <summary>A sovereign key as operators write it: a peer id, or the base64url libp2p public key protobuf.</summary>
public static class SovereignKey
{
    /// <summary>The peer id the key stands for; sovereigns are stored and matched by peer id.</summary>
    /// <exception cref="FormatException">Neither a peer id nor a public key.</exception>
    public static PeerId Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = text.Trim();
        if (PeerId.TryParse(text, out var peer)) return peer;
        var bytes = RequestSigning.DecodeBase64Url(text, RequestSigning.MaxPublicKeyLength)
            ?? throw new FormatException($"'{Shorten(text)}' is neither a peer id nor a base64url libp2p public key");
        try
        {
            return PeerId.FromPublicKey(PublicKey.FromProtobuf(bytes));
        }
        catch (KeyFormatException e)
        {
            throw new FormatException($"'{Shorten(text)}' is neither a peer id nor a valid libp2p public key: {e.Message}", e);
        }
    }

    private static string Shorten(string text) => text.Length <= 60 ? text : text[..60] + "...";
}
