using System.Text.Json;

namespace P2PStack.Discovery.Mdns.Tests;

/// <summary>Packets captured from js-libp2p's @libp2p/mdns (TestData/capture-js-mdns.mjs).</summary>
internal static class TestPackets
{
    public static byte[] JsQuery => Convert.FromHexString(Read("js-mdns-query.hex").Trim());

    public static byte[] JsResponse => Convert.FromHexString(Read("js-mdns-response.hex").Trim());

    public static JsonElement JsResponseInfo => JsonDocument.Parse(Read("js-mdns-response.json")).RootElement;

    private static string Read(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "TestData", name));
}
