using Microsoft.Extensions.Options;
using P2PStack.Privacy.ShadowAddresses.Directory;
using P2PStack.Protocols.Kademlia;

namespace P2PStack.Privacy.ShadowAddresses;

/// <summary>
/// Publishes and resolves shadow descriptors in the DHT: a service publishes under the blinded key of the current
/// period (and of the next one near a period's end); a client computes the same blinded key from the address,
/// fetches, checks and decrypts. Both go through <see cref="Access"/>: over onion circuits under ephemeral identities
/// where the node has an onion client, else under the node's own identity (docs/specs/shadow.md, section 5.1).
/// </summary>
public sealed class ShadowDirectory(IShadowDhtAccess access, IOptions<ShadowOptions> options, ShadowMetrics metrics, TimeProvider? time = null)
{
    /// <summary>A directory that reaches the DHT under this node's own identity.</summary>
    public ShadowDirectory(KademliaDht dht, IOptions<ShadowOptions> options, ShadowMetrics metrics, TimeProvider? time = null)
        : this(new DirectShadowDhtAccess(dht), options, metrics, time)
    {
    }

    /// <summary>How publications and resolutions reach the DHT.</summary>
    public IShadowDhtAccess Access { get; } = access ?? throw new ArgumentNullException(nameof(access));

    private readonly ShadowOptions _options = Validated(options.Value);
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    // The last revision published per address and period: two publications within one millisecond (or under a
    // stopped clock) still get increasing revisions, else DHT nodes keep the first (equal revisions: the first wins).
    private readonly Dictionary<(ShadowAddress Address, ulong Period), ulong> _revisions = [];

    private static ShadowOptions Validated(ShadowOptions options)
    {
        options.Validate();
        return options;
    }

    /// <summary>The current period.</summary>
    public ShadowPeriod CurrentPeriod => ShadowPeriod.At(_time.GetUtcNow(), _options.PeriodLength);

    /// <summary>
    /// Publishes <paramref name="key"/>'s descriptor for <paramref name="period"/> (default: the current one); returns
    /// the descriptor and how many DHT peers stored it. <paramref name="notAfter"/> caps the expiry (a retiring address);
    /// <paramref name="directoryWait"/> replaces <see cref="ShadowOptions.DirectoryWaitTimeout"/> (the publisher waits before its round). The revision is the milliseconds since the period began (at
    /// least one more than this node's last revision of the address in that period): it grows with each publication within a
    /// period and says nothing that links two periods (a counter would).
    /// </summary>
    public async Task<(ShadowDescriptor Descriptor, int StoredOn)> PublishAsync(ShadowKey key, ShadowDescriptorContent content,
        CancellationToken cancellationToken, ShadowPeriod? period = null, DateTimeOffset? notAfter = null, TimeSpan? directoryWait = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        // First (before the revision and the period are taken): a fresh node may wait for its onion directory.
        await Access.WaitReadyAsync(directoryWait ?? _options.DirectoryWaitTimeout, cancellationToken).ConfigureAwait(false);
        var p = period ?? CurrentPeriod;
        var now = _time.GetUtcNow();
        ulong revision = now > p.Start ? (ulong)(now - p.Start).TotalMilliseconds : 0;
        lock (_revisions)
        {
            foreach (var old in _revisions.Keys.Where(k => k.Period + 1 < p.Number).ToList()) _revisions.Remove(old);
            if (_revisions.TryGetValue((key.Address, p.Number), out ulong last) && revision <= last) revision = last + 1;
            _revisions[(key.Address, p.Number)] = revision;
        }
        var expires = p.End + _options.DescriptorOverlap;
        if (notAfter is { } limit && limit < expires) expires = limit; // a retiring address stops resolving at its end
        var descriptor = ShadowDescriptor.Create(key, p, revision, expires, content);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.DhtTimeout);
        int stored = await Access.PutAsync(ShadowDescriptor.DhtKey(descriptor.BlindedKey), descriptor.Encoded, timeout.Token).ConfigureAwait(false);
        metrics.Publication();
        return (descriptor, stored);
    }

    /// <summary>
    /// Resolves <paramref name="address"/> for the current period: fetches, verifies and decrypts its descriptor. Within
    /// <see cref="ShadowOptions.AdjacentPeriodWindow"/> of a period boundary, when the current period yields no valid
    /// descriptor, the adjacent period's is tried (a clock skewed against the service's).
    /// </summary>
    /// <exception cref="DhtNotFoundException">No descriptor for this address and period, or the service retired the
    /// address (a signed retirement record; counted as <c>retired</c>).</exception>
    /// <exception cref="P2PStack.Privacy.Onion.Client.NoPathException">Over circuits: the onion directory did not list
    /// enough relays for a circuit within <see cref="ShadowOptions.DirectoryWaitTimeout"/>.</exception>
    /// <exception cref="ShadowFormatException">A descriptor was found but is not valid for this address.</exception>
    public async Task<ShadowDescriptorContent> ResolveAsync(ShadowAddress address, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        var now = _time.GetUtcNow();
        var period = ShadowPeriod.At(now, _options.PeriodLength);
        var window = _options.AdjacentPeriodWindow;
        ShadowPeriod? adjacent = window <= TimeSpan.Zero ? null
            : now - period.Start < window && period.Number > 0 ? period.Previous
            : period.End - now <= window ? period.Next
            : null;
        try
        {
            await Access.WaitReadyAsync(_options.DirectoryWaitTimeout, cancellationToken).ConfigureAwait(false);
            var content = await ResolveInAsync(address, period, cancellationToken).ConfigureAwait(false);
            if (content.Retired) throw Retired(address);
            metrics.Resolution("ok");
            return content;
        }
        catch (RetiredException retired)
        {
            // Signed by the address and newer than any descriptor it supersedes: final, no adjacent period is tried.
            metrics.Resolution("retired");
            throw retired.NotFound;
        }
        catch (P2PStack.Privacy.Onion.Client.NoPathException)
        {
            metrics.Resolution("no_path"); // over circuits: no circuit path to the DHT (the directory too short)
            throw;
        }
        catch (Exception first) when (first is DhtNotFoundException or ShadowFormatException)
        {
            if (adjacent is { } other)
            {
                ShadowDescriptorContent? content = null;
                try
                {
                    content = await ResolveInAsync(address, other, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is DhtNotFoundException or ShadowFormatException)
                {
                    // The current period's failure is the answer.
                }
                if (content is { Retired: true })
                {
                    metrics.Resolution("retired");
                    throw Retired(address).NotFound;
                }
                if (content is not null)
                {
                    metrics.Resolution("ok");
                    return content;
                }
            }
            metrics.Resolution(first is DhtNotFoundException ? "not_found" : "invalid");
            throw;
        }
    }

    private const string RetirementMark = "shadow.retired";

    /// <summary>Whether <paramref name="notFound"/> came from a retirement record (the service retired the address)
    /// rather than from no descriptor at all.</summary>
    public static bool IsRetirement(DhtNotFoundException notFound) => notFound?.Data[RetirementMark] is true;

    private static RetiredException Retired(ShadowAddress address)
    {
        var notFound = new DhtNotFoundException($"{address.ToUri()} was retired by its service (a signed retirement record)");
        notFound.Data[RetirementMark] = true;
        return new(notFound);
    }

    // Carries the answer out of the try whose catch tries the adjacent period.
    private sealed class RetiredException(DhtNotFoundException notFound) : Exception(notFound.Message)
    {
        public DhtNotFoundException NotFound { get; } = notFound;
    }

    // One period's descriptor: fetched, verified for that period, decrypted. A bad one is counted as refused.
    private async Task<ShadowDescriptorContent> ResolveInAsync(ShadowAddress address, ShadowPeriod period, CancellationToken cancellationToken)
    {
        byte[] key = ShadowDescriptor.DhtKey(address, period);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.DhtTimeout);
        byte[] value = await Access.GetAsync(key, timeout.Token).ConfigureAwait(false);
        try
        {
            var descriptor = ShadowDescriptor.Verify(key, value, _time.GetUtcNow(), _options.PeriodLength);
            if (descriptor.Period.Number != period.Number)
                throw new ShadowFormatException($"descriptor is for period {descriptor.Period.Number}, not {period.Number}") { Reason = "wrong_period" };
            return descriptor.Decrypt(address);
        }
        catch (ShadowFormatException ex)
        {
            metrics.DescriptorRefused(ex.Reason);
            throw;
        }
    }
}
