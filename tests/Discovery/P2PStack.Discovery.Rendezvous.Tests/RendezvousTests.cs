using Google.Protobuf;
using P2PStack.Discovery.Rendezvous.Pb;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Records;
using P2PStack.Transports.Memory;
using Status = P2PStack.Discovery.Rendezvous.Pb.Message.Types.ResponseStatus;
using MessageType = P2PStack.Discovery.Rendezvous.Pb.Message.Types.MessageType;

namespace P2PStack.Discovery.Rendezvous.Tests;

/// <summary>Client and server on real hosts over the memory transport.</summary>
public sealed class RendezvousTests : IAsyncLifetime
{
    private readonly MemoryNetwork _network = new();
    private readonly List<RendezvousPeer> _peers = [];
    private RendezvousPeer _server = null!;

    public async Task InitializeAsync()
    {
        _server = await StartAsync(o =>
        {
            o.MaxRegistrationsPerPeer = 3;
            o.MaxRegistrationsPerNamespace = 4;
            o.DefaultDiscoverLimit = 20;
            o.MaxDiscoverLimit = 50;
        });
    }

    public async Task DisposeAsync()
    {
        foreach (var peer in _peers) await peer.DisposeAsync();
    }

    private async Task<RendezvousPeer> StartAsync(Action<RendezvousServerOptions>? server = null)
    {
        var peer = await RendezvousPeer.StartAsync(_network, server);
        _peers.Add(peer);
        if (_peers.Count > 1) await peer.ConnectAsync(_peers[0]);
        return peer;
    }

    [Fact]
    public async Task Registered_peers_are_discovered_with_their_signed_addresses_and_unregister_removes_them()
    {
        var alice = await StartAsync();
        var bob = await StartAsync();
        var granted = await alice.Client.RegisterAsync(_server.PeerId, "chat", TimeSpan.FromMinutes(10));
        Assert.Equal(TimeSpan.FromMinutes(10), granted);
        Assert.Equal(TimeSpan.FromHours(2), await bob.Client.RegisterAsync(_server.PeerId, "chat")); // the default TTL

        var page = await bob.Client.DiscoverAsync(_server.PeerId, "chat");
        Assert.Equal([alice.PeerId, bob.PeerId], page.Registrations.Select(r => r.Peer));
        var found = page.Registrations[0];
        Assert.Equal(alice.Host.AdvertisedAddresses, found.Addresses);
        Assert.InRange(found.Ttl, TimeSpan.FromMinutes(9), TimeSpan.FromMinutes(10));
        Assert.Equal(alice.PeerId, found.SignedPeerRecord.Signer);
        Assert.NotEmpty(bob.Host.PeerStore.GetAddresses(alice.PeerId));

        await alice.Client.UnregisterAsync(_server.PeerId, "chat");
        await WaitUntilAsync(() => _server.Server!.RegistrationCount == 1);
        Assert.Equal([bob.PeerId], (await bob.Client.DiscoverAsync(_server.PeerId, "chat")).Registrations.Select(r => r.Peer));
        Assert.Empty((await bob.Client.DiscoverAsync(_server.PeerId, "other")).Registrations);
    }

    [Fact]
    public async Task Discover_pages_with_cookies_and_a_cookie_returns_only_what_came_after_it()
    {
        var peers = new List<RendezvousPeer>();
        for (int i = 0; i < 4; i++) peers.Add(await StartAsync());
        foreach (var peer in peers) await peer.Client.RegisterAsync(_server.PeerId, "pages");
        var client = peers[0].Client;

        var first = await client.DiscoverAsync(_server.PeerId, "pages", limit: 3);
        Assert.Equal(peers.Take(3).Select(p => p.PeerId), first.Registrations.Select(r => r.Peer));
        var second = await client.DiscoverAsync(_server.PeerId, "pages", limit: 3, cookie: first.Cookie);
        Assert.Equal([peers[3].PeerId], second.Registrations.Select(r => r.Peer));
        var empty = await client.DiscoverAsync(_server.PeerId, "pages", limit: 3, cookie: second.Cookie);
        Assert.Empty(empty.Registrations);

        // A renewal is news to a poller holding the last cookie.
        await peers[1].Client.RegisterAsync(_server.PeerId, "pages");
        var renewed = await client.DiscoverAsync(_server.PeerId, "pages", cookie: empty.Cookie);
        Assert.Equal([peers[1].PeerId], renewed.Registrations.Select(r => r.Peer));

        Assert.Equal(4, (await client.DiscoverAllAsync(_server.PeerId, "pages", pageSize: 2)).Count);
        // Every namespace at once (no ns), and a cookie of another namespace is refused.
        Assert.Equal(4, (await client.DiscoverAsync(_server.PeerId, null)).Registrations.Count);
        var refused = await Assert.ThrowsAsync<RendezvousException>(() => client.DiscoverAsync(_server.PeerId, "other", cookie: first.Cookie));
        Assert.Equal(Status.EInvalidCookie, refused.Status);
        var forged = (byte[])first.Cookie.Clone();
        forged[3] ^= 1;
        Assert.Equal(Status.EInvalidCookie, (await Assert.ThrowsAsync<RendezvousException>(() =>
            client.DiscoverAsync(_server.PeerId, "pages", cookie: forged))).Status);
        Assert.Equal(2, _server.Server!.Metrics.RefusedCount("E_INVALID_COOKIE"));
    }

    [Fact]
    public async Task Registrations_over_the_limits_and_TTLs_out_of_range_are_refused_and_counted()
    {
        var alice = await StartAsync();
        for (int i = 0; i < 3; i++) await alice.Client.RegisterAsync(_server.PeerId, $"ns{i}");
        var overPeer = await Assert.ThrowsAsync<RendezvousException>(() => alice.Client.RegisterAsync(_server.PeerId, "ns3"));
        Assert.Equal(Status.ENotAuthorized, overPeer.Status);
        Assert.Contains("per peer", overPeer.StatusText);
        await alice.Client.RegisterAsync(_server.PeerId, "ns0"); // a renewal is not a new registration

        var others = new List<RendezvousPeer>();
        for (int i = 0; i < 4; i++) others.Add(await StartAsync());
        for (int i = 0; i < 3; i++) await others[i].Client.RegisterAsync(_server.PeerId, "ns0"); // 4 in ns0 now
        var overNamespace = await Assert.ThrowsAsync<RendezvousException>(() => others[3].Client.RegisterAsync(_server.PeerId, "ns0"));
        Assert.Equal(Status.EUnavailable, overNamespace.Status);

        var tooLong = await Assert.ThrowsAsync<RendezvousException>(() =>
            others[3].Client.RegisterAsync(_server.PeerId, "x", TimeSpan.FromHours(73)));
        Assert.Equal(Status.EInvalidTtl, tooLong.Status);
        Assert.Contains("maximum", tooLong.StatusText);
        var tooShort = await Assert.ThrowsAsync<RendezvousException>(() =>
            others[3].Client.RegisterAsync(_server.PeerId, "x", TimeSpan.FromSeconds(30)));
        Assert.Equal(Status.EInvalidTtl, tooShort.Status);
        var badNamespace = await Assert.ThrowsAsync<RendezvousException>(() =>
            others[3].Client.RegisterAsync(_server.PeerId, new string('n', 256)));
        Assert.Equal(Status.EInvalidNamespace, badNamespace.Status);

        var metrics = _server.Server!.Metrics;
        Assert.Equal(1, metrics.RefusedCount("E_NOT_AUTHORIZED"));
        Assert.Equal(1, metrics.RefusedCount("E_UNAVAILABLE"));
        Assert.Equal(2, metrics.RefusedCount("E_INVALID_TTL"));
        Assert.Equal(1, metrics.RefusedCount("E_INVALID_NAMESPACE"));
    }

    [Fact]
    public async Task A_record_signed_by_another_peer_or_not_signed_at_all_is_refused()
    {
        var mallory = await StartAsync();
        var victim = PrivateKey.Generate(KeyType.Ed25519);
        var victimRecord = new PeerRecord(PeerId.FromPublicKey(victim.PublicKey), 1, mallory.Host.AdvertisedAddresses).Seal(victim);
        var forged = await ExchangeAsync(mallory, Register("ns", victimRecord.ToBytes()));
        Assert.Equal(Status.EInvalidSignedPeerRecord, forged.RegisterResponse.Status);
        Assert.Contains("not of the registering peer", forged.RegisterResponse.StatusText);

        var ownRecord = new PeerRecord(mallory.PeerId, 1, mallory.Host.AdvertisedAddresses).Seal(mallory.Identity.PrivateKey).ToBytes();
        ownRecord[^1] ^= 0x55; // breaks the signature
        var tampered = await ExchangeAsync(mallory, Register("ns", ownRecord));
        Assert.Equal(Status.EInvalidSignedPeerRecord, tampered.RegisterResponse.Status);
        var missing = await ExchangeAsync(mallory, Register("ns", []));
        Assert.Equal(Status.EInvalidSignedPeerRecord, missing.RegisterResponse.Status);
        Assert.Equal(3, _server.Server!.Metrics.RefusedCount("E_INVALID_SIGNED_PEER_RECORD"));
        Assert.Equal(0, _server.Server.RegistrationCount);
    }

    [Fact]
    public async Task An_oversized_or_malformed_request_resets_the_stream_and_is_counted()
    {
        var mallory = await StartAsync();
        var stream = await mallory.Host.OpenStreamAsync(_server.PeerId, [RendezvousProtocol.Id], CancellationToken.None);
        await using (stream)
        {
            LengthPrefixed.WritePrefix(stream.Output, 1 << 20); // announces a 1 MiB message
            await stream.Output.FlushAsync();
            await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                while (true)
                {
                    var read = await stream.Input.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
                    if (read.IsCompleted) throw new EndOfStreamException();
                    stream.Input.AdvanceTo(read.Buffer.End);
                }
            });
        }
        var stream2 = await mallory.Host.OpenStreamAsync(_server.PeerId, [RendezvousProtocol.Id], CancellationToken.None);
        await using (stream2)
        {
            LengthPrefixed.WriteMessage(stream2.Output, [0x0a, 0xff]); // a truncated length-delimited field
            await stream2.Output.FlushAsync();
            await WaitUntilAsync(() => _server.Server!.Metrics.RefusedCount("malformed") == 2);
        }
        // A response type sent as a request is malformed too.
        var stream3 = await mallory.Host.OpenStreamAsync(_server.PeerId, [RendezvousProtocol.Id], CancellationToken.None);
        await using (stream3)
        {
            LengthPrefixed.WriteMessage(stream3.Output, new Message { Type = MessageType.RegisterResponse, RegisterResponse = new() });
            await stream3.Output.FlushAsync();
            await WaitUntilAsync(() => _server.Server!.Metrics.RefusedCount("malformed") == 3);
        }
    }

    private static Message Register(string ns, byte[] record) => new()
    {
        Type = MessageType.Register,
        Register = new Message.Types.Register { Ns = ns, SignedPeerRecord = ByteString.CopyFrom(record) },
    };

    private async Task<Message> ExchangeAsync(RendezvousPeer from, Message request)
    {
        var stream = await from.Host.OpenStreamAsync(_server.PeerId, [RendezvousProtocol.Id], CancellationToken.None);
        await using (stream)
        {
            await RendezvousProtocol.WriteAsync(stream.Output, request, CancellationToken.None);
            return (await RendezvousProtocol.ReadAsync(stream.Input, 1 << 20, CancellationToken.None))!;
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60); // hang guard only
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met");
            await Task.Delay(20);
        }
    }
}
