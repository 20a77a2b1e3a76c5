using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace P2PStack.Interop.Daemon.Tests;

/// <summary>
/// The libp2p project's interop suite (@libp2p/interop 14.0.16) with our daemon as its "go" node: nothing fails, every
/// case our node supports passes both ways for each key type, and every skip names something our node lacks (or the
/// suite skips itself). Plus our daemon client test and the pubsub cases the suite leaves out.
/// </summary>
public sealed partial class InteropSuiteTests(InteropRun run, ITestOutputHelper output) : IClassFixture<InteropRun>
{
    private static readonly string[] KeyTypes = ["ed25519", "rsa", "secp256k1"];

    private void AssertPassed(IEnumerable<string> titles)
    {
        var byTitle = run.Tests.GroupBy(t => t.FullTitle).ToDictionary(g => g.Key, g => g.First());
        var problems = new List<string>();
        foreach (string title in titles)
        {
            if (!byTitle.TryGetValue(title, out var test)) problems.Add($"missing: {title}");
            else if (test.State != "passed") problems.Add($"{test.State}: {title} {test.Reason ?? test.Error}");
        }
        Assert.True(problems.Count == 0, string.Join('\n', problems) + $"\n(results in {InteropRun.ResultsDirectory})");
    }

    [Fact]
    public void NothingFails()
    {
        output.WriteLine(run.Summary);
        var failed = run.Tests.Where(t => t.State == "failed").ToList();
        Assert.True(failed.Count == 0, string.Join("\n\n", failed.Select(t => $"{t.FullTitle}\n{t.Error}"))
            + $"\n\n(results in {InteropRun.ResultsDirectory})\n" + run.OutputTail);
        Assert.True(run.Tests.Count(t => t.State == "passed") >= 60, $"only {run.Tests.Count(t => t.State == "passed")} passed:\n{run.OutputTail}");
    }

    [Fact]
    public void EchoStreamsPassBothWaysForEveryKeyTypeAndSecurityWeOffer()
    {
        var encryptions = run.Capabilities.Security.Intersect(["noise", "tls", "plaintext"]).ToList();
        Assert.Contains("noise", encryptions);
        AssertPassed(
            from key in KeyTypes
            from encryption in encryptions
            from direction in new[] { "js sender to go listener", "go sender to js listener" }
            select $"{key}/{encryption}/yamux echo {direction}");
    }

    [Fact]
    public void ConnectionsDhtAndFloodsubPassBothWays()
    {
        AssertPassed([
            "connection.tcp js peer to go peer over tcp",
            "connection.tcp go peer to js peer over tcp",
            .. from test in new[] { "dht.contentFetching", "dht.peerRouting", "pubsub.floodSub" }
               from pair in new[] { "js peer to go peer", "go peer to js peer", "go peer to go peer" }
               select $"{test} {pair}",
            "dht.contentRouting js peer to go peer",
            "dht.contentRouting go peer to js peer",
        ]);
    }

    [Fact]
    public void RelayPassesWhenWeOfferIt()
    {
        var relayTests = run.Tests.Where(t => RelaySuite().IsMatch(t.FullTitle)).ToList();
        Assert.Equal(16, relayTests.Count);
        if (run.Capabilities.Relay) AssertPassed(relayTests.Select(t => t.FullTitle));
        else AssertPassed(relayTests.Where(t => t.FullTitle.StartsWith("js to js over relay js", StringComparison.Ordinal)).Select(t => t.FullTitle));
    }

    [Fact]
    public void SkipsNameOnlyWhatOurNodeLacksOrWhatTheSuiteSkipsItself()
    {
        var caps = run.Capabilities;
        var unjustified = new List<string>();
        foreach (var test in run.Tests.Where(t => t.State == "skipped"))
        {
            string reason = test.Reason ?? "";
            bool justified = reason.StartsWith("declared skipped in @libp2p/interop itself", StringComparison.Ordinal)
                || Lacks(NoTransport(), reason, caps.Transports)
                || Lacks(NoSecurity(), reason, caps.Security)
                || Lacks(NoMuxer(), reason, caps.Muxers)
                || (reason.Contains("has no circuit relay v2", StringComparison.Ordinal) && !caps.Relay)
                // The js node lacks it too: fine between two js nodes, or when ours lacks it as well.
                || (JsLacksTransport().Match(reason) is { Success: true } js
                    && (test.FullTitle.Contains("js peer to js peer", StringComparison.Ordinal) || !caps.Transports.Contains(js.Groups[1].Value)));
            if (!justified) unjustified.Add($"{test.FullTitle}: {reason}");
        }
        Assert.True(unjustified.Count == 0, string.Join('\n', unjustified));
    }

    private static bool Lacks(Regex pattern, string reason, IReadOnlyList<string> offered) =>
        pattern.Match(reason) is { Success: true } m && !offered.Contains(m.Groups[1].Value);

    [Fact]
    public void TheDaemonClientDrivesEveryRequestType()
    {
        var client = run.Tests.Where(t => t.FullTitle.StartsWith("daemon client drives synaptic-mesh", StringComparison.Ordinal)).ToList();
        Assert.True(client.Count >= 16, $"{client.Count} daemon client tests");
        AssertPassed(client.Select(t => t.FullTitle));
        foreach (string type in new[] { "IDENTIFY", "CONNECT", "LIST_PEERS", "DISCONNECT", "STREAM_OPEN", "STREAM_HANDLER", "PUT_VALUE",
            "GET_VALUE", "SEARCH_VALUE", "PROVIDE", "FIND_PROVIDERS", "FIND_PEER", "FIND_PEERS_CONNECTED_TO_PEER", "GET_CLOSEST_PEERS",
            "GET_PUBLIC_KEY", "SUBSCRIBE", "GET_TOPICS", "LIST_PEERS", "PUBLISH", "GET_PROTOCOLS", "GET_PEER_INFO", "TAG_PEER", "UNTAG_PEER",
            "TRIM", "bad requests" })
            Assert.Contains(client, t => t.FullTitle.Contains(type, StringComparison.Ordinal));
    }

    [Fact]
    public void GossipsubAndHybridCasesTheSuiteSkipsPassHere()
    {
        var pubsub = run.Tests.Where(t => t.FullTitle.Contains("(skipped in the suite, run here)", StringComparison.Ordinal)).ToList();
        Assert.Equal(8, pubsub.Count);
        AssertPassed(pubsub.Select(t => t.FullTitle));
    }

    [GeneratedRegex(@"^(js|go) to (js|go) over relay (js|go) ")]
    private static partial Regex RelaySuite();

    [GeneratedRegex(@"synaptic-mesh has no (\S+) transport")]
    private static partial Regex NoTransport();

    [GeneratedRegex(@"does not offer (\S+) security")]
    private static partial Regex NoSecurity();

    [GeneratedRegex(@"does not offer the (\S+) muxer")]
    private static partial Regex NoMuxer();

    [GeneratedRegex(@"^the js node of this runner has no (\S+) transport installed$")]
    private static partial Regex JsLacksTransport();
}
