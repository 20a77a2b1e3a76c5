using System.Buffers.Binary;
using System.Security.Cryptography;
using P2PStack.Identity;
using Status = P2PStack.Discovery.Rendezvous.Pb.Message.Types.ResponseStatus;

namespace P2PStack.Discovery.Rendezvous;

/// <summary>A registration as a rendezvous point holds it.</summary>
public sealed record Registration(string Namespace, PeerId Peer, byte[] SignedPeerRecord, DateTimeOffset ExpiresAt, long Counter);

/// <summary>Outcome of <see cref="RegistrationStore.Register"/>.</summary>
public readonly record struct RegisterOutcome(Status Status, string Text, TimeSpan Ttl);

/// <summary>Outcome of <see cref="RegistrationStore.Discover"/>.</summary>
public readonly record struct DiscoverOutcome(Status Status, string Text, IReadOnlyList<Registration> Registrations, byte[] Cookie);

/// <summary>
/// The registrations of a rendezvous point, bounded in all, per peer and per namespace; expired ones are purged as
/// requests come. Every registration gets a counter value when it is stored (again when it is renewed), and a
/// DISCOVER cookie carries the last counter a client has seen, so a client paging or polling with the cookie gets
/// only registrations stored after it. Cookie layout (25 bytes): version 1, this store's random 8-byte instance id,
/// the counter (8 bytes big-endian), and the first 8 bytes of SHA-256 of the namespace (zero for "all"). A cookie of
/// another store (say, before a restart) or of another namespace is refused with E_INVALID_COOKIE.
/// Not thread-safe: the server serialises access.
/// </summary>
public sealed class RegistrationStore(RendezvousServerOptions options, TimeProvider time)
{
    private const byte CookieVersion = 1;
    private const int CookieLength = 25;
    private static readonly Comparer<Registration> ByCounter = Comparer<Registration>.Create((a, b) => a.Counter.CompareTo(b.Counter));

    private readonly byte[] _instance = RandomNumberGenerator.GetBytes(8);
    private readonly Dictionary<(string Ns, PeerId Peer), Registration> _byKey = [];
    private readonly Dictionary<string, SortedSet<Registration>> _byNamespace = new(StringComparer.Ordinal);
    private readonly SortedSet<Registration> _all = new(ByCounter);
    private readonly Dictionary<PeerId, int> _perPeer = [];
    private readonly PriorityQueue<Registration, DateTimeOffset> _expiries = new();
    private long _counter;

    public int Count => _byKey.Count;

    public int CountOf(PeerId peer) => _perPeer.GetValueOrDefault(peer);

    /// <summary>Stores or renews (namespace, peer). The caller has checked the namespace, TTL and record.</summary>
    public RegisterOutcome Register(string ns, PeerId peer, byte[] signedPeerRecord, TimeSpan ttl)
    {
        var now = time.GetUtcNow();
        Purge(now);
        bool renewal = _byKey.TryGetValue((ns, peer), out var existing);
        if (!renewal)
        {
            if (_perPeer.GetValueOrDefault(peer) >= options.MaxRegistrationsPerPeer)
                return new(Status.ENotAuthorized, $"registration limit of {options.MaxRegistrationsPerPeer} per peer reached", default);
            if (_byNamespace.TryGetValue(ns, out var inNs) && inNs.Count >= options.MaxRegistrationsPerNamespace)
                return new(Status.EUnavailable, $"registration limit of {options.MaxRegistrationsPerNamespace} per namespace reached", default);
            if (_byKey.Count >= options.MaxRegistrations)
                return new(Status.EUnavailable, $"registration limit of {options.MaxRegistrations} reached", default);
        }
        else
        {
            Remove(existing!);
        }
        var registration = new Registration(ns, peer, signedPeerRecord, now + ttl, ++_counter);
        _byKey[(ns, peer)] = registration;
        if (!_byNamespace.TryGetValue(ns, out var set)) _byNamespace[ns] = set = new SortedSet<Registration>(ByCounter);
        set.Add(registration);
        _all.Add(registration);
        _perPeer[peer] = _perPeer.GetValueOrDefault(peer) + 1;
        _expiries.Enqueue(registration, registration.ExpiresAt);
        return new(Status.Ok, "", ttl);
    }

    /// <summary>Removes (namespace, peer); true when it was there.</summary>
    public bool Unregister(string ns, PeerId peer)
    {
        Purge(time.GetUtcNow());
        if (!_byKey.TryGetValue((ns, peer), out var existing)) return false;
        Remove(existing);
        return true;
    }

    /// <summary>Up to <paramref name="limit"/> live registrations of <paramref name="ns"/> ("" for all) stored after
    /// the cookie's counter, oldest first, and the cookie to continue from.</summary>
    public DiscoverOutcome Discover(string ns, int limit, ReadOnlySpan<byte> cookie)
    {
        var now = time.GetUtcNow();
        Purge(now);
        long after = 0;
        var fingerprint = Fingerprint(ns);
        if (!cookie.IsEmpty)
        {
            if (cookie.Length != CookieLength || cookie[0] != CookieVersion || !cookie.Slice(1, 8).SequenceEqual(_instance))
                return new(Status.EInvalidCookie, "cookie is not from this rendezvous point", [], []);
            if (!cookie.Slice(17, 8).SequenceEqual(fingerprint))
                return new(Status.EInvalidCookie, "cookie belongs to another namespace", [], []);
            after = BinaryPrimitives.ReadInt64BigEndian(cookie.Slice(9, 8));
            if (after < 0 || after > _counter) return new(Status.EInvalidCookie, "cookie counter is out of range", [], []);
        }
        var source = ns.Length == 0 ? _all : _byNamespace.GetValueOrDefault(ns);
        var found = new List<Registration>(Math.Min(limit, 64));
        long last = after;
        if (source is { Count: > 0 } && after < _counter)
        {
            var view = source.GetViewBetween(Probe(after + 1), Probe(long.MaxValue));
            foreach (var registration in view)
            {
                if (found.Count >= limit) break;
                found.Add(registration);
                last = registration.Counter;
            }
        }
        return new(Status.Ok, "", found, Cookie(last, fingerprint));
    }

    private byte[] Cookie(long counter, byte[] fingerprint)
    {
        var cookie = new byte[CookieLength];
        cookie[0] = CookieVersion;
        _instance.CopyTo(cookie, 1);
        BinaryPrimitives.WriteInt64BigEndian(cookie.AsSpan(9), counter);
        fingerprint.CopyTo(cookie, 17);
        return cookie;
    }

    private static byte[] Fingerprint(string ns) =>
        ns.Length == 0 ? new byte[8] : SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(ns)).AsSpan(0, 8).ToArray();

    private static Registration Probe(long counter) => new("", null!, [], default, counter);

    private void Remove(Registration registration)
    {
        _byKey.Remove((registration.Namespace, registration.Peer));
        if (_byNamespace.TryGetValue(registration.Namespace, out var set))
        {
            set.Remove(registration);
            if (set.Count == 0) _byNamespace.Remove(registration.Namespace);
        }
        _all.Remove(registration);
        int left = _perPeer[registration.Peer] - 1;
        if (left == 0) _perPeer.Remove(registration.Peer);
        else _perPeer[registration.Peer] = left;
    }

    private void Purge(DateTimeOffset now)
    {
        while (_expiries.TryPeek(out var registration, out var expires) && expires <= now)
        {
            _expiries.Dequeue();
            // Renewed or removed entries leave stale queue items behind: only the current one is removed.
            if (_byKey.TryGetValue((registration.Namespace, registration.Peer), out var current) && ReferenceEquals(current, registration))
                Remove(registration);
        }
        // Stale items of renewed registrations are bounded by the renewals within one TTL; compact when they dominate.
        if (_expiries.Count > 4 * Math.Max(_byKey.Count, 1024))
        {
            var live = _byKey.Values.ToList();
            _expiries.Clear();
            foreach (var registration in live) _expiries.Enqueue(registration, registration.ExpiresAt);
        }
    }
}
