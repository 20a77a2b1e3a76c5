using System.Security.Cryptography;
using P2PStack.Identity;

namespace P2PStack.Protocols.Kademlia.Sqlite.Tests;

internal static class TestData
{
    public static readonly DateTimeOffset T0 = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <summary>A random sha2-256 peer id (valid, cheap: no key generation).</summary>
    public static PeerId RandomPeer(Random? random = null)
    {
        var bytes = new byte[34];
        bytes[0] = 0x12;
        bytes[1] = 0x20;
        if (random is null) RandomNumberGenerator.Fill(bytes.AsSpan(2));
        else random.NextBytes(bytes.AsSpan(2));
        return PeerId.FromBytes(bytes);
    }

    /// <summary>A provider key shaped like a sha2-256 multihash.</summary>
    public static byte[] ProviderKey(byte fill) => [0x12, 0x20, .. Enumerable.Repeat(fill, 32)];

    public static string TempDatabase() => Path.Combine(Path.GetTempPath(), "p2pstack-kad-tests", $"{Guid.NewGuid():N}", "dht.db");

    public static void DeleteDatabase(string path)
    {
        try { Directory.Delete(Path.GetDirectoryName(path)!, recursive: true); }
        catch (IOException) { }
    }
}
