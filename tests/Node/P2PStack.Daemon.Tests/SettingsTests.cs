using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Daemon.Tests;

public sealed class SettingsTests
{
    [Theory]
    [InlineData("0", 0)]
    [InlineData("300ms", 300)]
    [InlineData("1.5s", 1500)]
    [InlineData("2m30s", 150_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1500us", 1.5)]
    [InlineData("-2s", -2000)]
    public void GoDurationsParse(string text, double milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), GoDuration.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("10")]
    [InlineData("s")]
    [InlineData("5 s")]
    [InlineData("3d")]
    [InlineData("1..2s")]
    public void BadGoDurationsAreRefused(string text) => Assert.Throws<FormatException>(() => GoDuration.Parse(text));

    [Theory]
    [InlineData("/ip4/10.0.0.1/tcp/0")]
    [InlineData("/ip6/::/tcp/0")]
    public void ANonLoopbackControlSocketNeedsExplicitConsent(string address)
    {
        var error = Assert.Throws<ArgumentException>(() => ControlEndpoint.Listen(Multiaddr.Parse(address), allowNonLoopback: false));
        Assert.Contains("no authentication", error.Message);
    }

    [Theory]
    [InlineData("/ip4/127.0.0.1/udp/1")]
    [InlineData("/dns4/localhost/tcp/1")]
    [InlineData("/ip4/127.0.0.1/tcp/1/ws")]
    public void OnlyUnixAndTcpAddressesAreControlSockets(string address) =>
        Assert.Throws<ArgumentException>(() => ControlEndpoint.ToEndPoint(Multiaddr.Parse(address)));

    [Fact]
    public void WhatThisBuildLacksIsRefusedByName()
    {
        var tls = new DaemonNodeSettings();
        tls.Security.Add("tls");
        Assert.Equal(DaemonCapabilities.Security.Contains("tls"), Record.Exception(tls.Validate) is null);
        var mplex = new DaemonNodeSettings();
        mplex.Muxers.Insert(0, "mplex");
        Assert.Contains("mplex", Assert.Throws<ArgumentException>(mplex.Validate).Message);
        var relay = new DaemonNodeSettings { Relay = true };
        Assert.Equal(DaemonCapabilities.Relay, Record.Exception(relay.Validate) is null);
        var bootstrap = new DaemonNodeSettings { Bootstrap = true };
        Assert.Contains("bootstrap", Assert.Throws<ArgumentException>(bootstrap.Validate).Message);
        var none = new DaemonNodeSettings();
        none.Security.Clear();
        Assert.Throws<ArgumentException>(none.Validate);
    }

    [Theory]
    [InlineData(KeyType.Ed25519)]
    [InlineData(KeyType.Secp256k1)]
    [InlineData(KeyType.Rsa)]
    public void KeyFilesInP2pdAndSynapticMeshFormats(KeyType type)
    {
        string raw = Path.Combine(Path.GetTempPath(), $"daemon-key-{Guid.NewGuid():N}");
        string ours = raw + ".p2pkey";
        try
        {
            using var key = PrivateKey.Generate(type);
            File.WriteAllBytes(raw, key.ToProtobuf());
            KeyFile.Save(ours, key, "secret", new KeyFileOptions { ScryptLogN = 10 });
            using var fromRaw = DaemonKeyFile.Load(raw, passphrase: null);
            using var fromOurs = DaemonKeyFile.Load(ours, "secret");
            Assert.Equal(key.PublicKey, fromRaw.PublicKey);
            Assert.Equal(key.PublicKey, fromOurs.PublicKey);
            File.WriteAllBytes(raw, [1, 2, 3]);
            Assert.ThrowsAny<FormatException>(() => DaemonKeyFile.Load(raw, null));
        }
        finally
        {
            File.Delete(raw);
            File.Delete(ours);
        }
    }
}
