using P2PStack.Identity;

namespace P2PStack.Nat;

/// <summary>Peer ids from protocol messages.</summary>
public static class PeerIds
{
    /// <summary>Decodes a binary peer id; false for anything that is not one.</summary>
    public static bool TryFromBytes(ReadOnlySpan<byte> bytes, out PeerId? peer)
    {
        try
        {
            peer = PeerId.FromBytes(bytes);
            return true;
        }
        catch (PeerIdException)
        {
            peer = null;
            return false;
        }
    }
}
