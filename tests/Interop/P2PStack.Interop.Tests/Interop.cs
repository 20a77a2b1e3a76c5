using System.Text.Json.Nodes;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Interop.Tests;

/// <summary>Helpers shared by the interop test classes.</summary>
internal static class Interop
{
    public const string NoiseProtocol = "/noise";
    public const string HybridNoiseProtocol = "/noise-mlkem768-hfs/0.1.0";
    public const string YamuxProtocol = "/yamux/1.0.0";
    public const int EchoPayload = 16 * 1024 * 1024;
    public const int ConcurrentStreams = 200;
    public const int ConcurrentStreamPayload = 64 * 1024;

    /// <summary>Budget of one network step (dial, identify, ping).</summary>
    public static readonly TimeSpan StepTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Budget of a bulk transfer (16 MiB echo, 200 streams).</summary>
    public static readonly TimeSpan BulkTimeout = TimeSpan.FromSeconds(60);

    public static string WithoutPeerId(Multiaddr address) => address.DecapsulateCode(MultiaddrProtocols.P2P.Code).ToString();

    public static string WithoutPeerId(string address) => WithoutPeerId(Multiaddr.Parse(address));

    /// <summary>The transport address with the /p2p of a peer that is not the one listening there.</summary>
    public static Multiaddr WithWrongPeerId(Multiaddr address, out PeerId wrong)
    {
        wrong = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
        return address.DecapsulateCode(MultiaddrProtocols.P2P.Code).Encapsulate($"/p2p/{wrong}");
    }

    public static string[] Strings(JsonNode? array) => [.. array!.AsArray().Select(n => n!.GetValue<string>())];

    /// <summary>A task completed by the first event that matches, subscribed now (before the action that causes it).</summary>
    public static Task<TEvent> NextEvent<TEvent>(IEventBus events, Func<TEvent, bool> match, out IDisposable subscription)
    {
        var seen = new TaskCompletionSource<TEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        subscription = events.Subscribe<TEvent>(e =>
        {
            if (match(e)) seen.TrySetResult(e);
        });
        return seen.Task;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails after <see cref="StepTimeout"/>.</summary>
    public static async Task Eventually(Func<bool> condition, Func<string> describe)
    {
        var deadline = DateTime.UtcNow + StepTimeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"condition not met within {StepTimeout}: {describe()}");
            await Task.Delay(20);
        }
    }

    /// <summary>The js peer's view of its open connection to <paramref name="peer"/>, polled until it shows up.</summary>
    public static async Task<JsonObject> JsConnectionTo(JsPeer js, PeerId peer)
    {
        var deadline = DateTime.UtcNow + StepTimeout;
        while (true)
        {
            var answer = await js.CommandAsync("peers");
            var connection = answer["connections"]!.AsArray().OfType<JsonObject>().FirstOrDefault(c =>
                c["remotePeer"]!.GetValue<string>() == peer.ToString() && c["status"]!.GetValue<string>() == "open");
            if (connection is not null) return connection;
            if (DateTime.UtcNow > deadline) Assert.Fail($"js has no open connection to {peer} after {StepTimeout}: {answer.ToJsonString()}");
            // The js side registers the connection a moment after our handshake completes.
            await Task.Delay(20);
        }
    }
}
