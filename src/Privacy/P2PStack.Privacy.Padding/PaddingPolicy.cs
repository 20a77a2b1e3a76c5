using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Privacy.Padding;

/// <summary>
/// Which dials ask for padding (circuit links and shadow connections by default, nothing else) and what happens when
/// the remote does not run it: refused when <see cref="PaddingOptions.Required"/>, else connected without padding and
/// counted. Onion circuit links dial their connections through it (<see cref="PaddingScope.CircuitLink"/>) and ask it
/// for their circuits' cover schedule (<see cref="Cover"/>).
/// </summary>
public sealed class PaddingPolicy
{
    private readonly PaddingOptions _options;
    private readonly PaddingMetrics _metrics;

    public PaddingPolicy(IOptions<PaddingOptions> options, PaddingMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _options.Validate();
        _metrics = metrics;
    }

    /// <summary>Whether connections for <paramref name="scope"/> are padded.</summary>
    public bool Pads(PaddingScope scope) => scope switch
    {
        PaddingScope.CircuitLink => _options.OnCircuitLinks,
        PaddingScope.ShadowConnection => _options.OnShadowConnections,
        _ => _options.OnOtherConnections,
    };

    /// <summary>
    /// The cover traffic for links of <paramref name="scope"/> that carry units of <paramref name="cellSize"/> bytes
    /// (an onion circuit link: one cover cell is one onion cell): the configured process at
    /// min(<see cref="PaddingOptions.CoverRate"/>, <see cref="PaddingOptions.CoverBudgetBytesPerSecond"/> /
    /// <paramref name="cellSize"/>); null when the scope is not padded or cover traffic is off.
    /// </summary>
    public CoverSchedule? Cover(PaddingScope scope, int cellSize) =>
        Pads(scope) ? CoverSchedule.For(_options.Cover, _options.CoverRate, _options.CoverBudgetBytesPerSecond, cellSize, _options.CoverMaxLag) : null;

    /// <summary><paramref name="dial"/> with the padding filter added when <paramref name="scope"/> is padded.</summary>
    public DialOptions Apply(DialOptions dial, PaddingScope scope)
    {
        ArgumentNullException.ThrowIfNull(dial);
        if (!Pads(scope) || dial.Filters?.Contains(PaddingFilter.Id) == true) return dial;
        return dial with { Filters = [.. dial.Filters ?? [], PaddingFilter.Id] };
    }

    /// <summary>Dials <paramref name="address"/> under the policy for <paramref name="scope"/>.</summary>
    public ValueTask<IConnection> DialAsync(IPeerHost host, Multiaddr address, DialOptions dial, PaddingScope scope,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        return DialAsync(dial, scope, d => host.DialAsync(address, d, cancellationToken));
    }

    /// <summary>Dials <paramref name="peer"/> under the policy for <paramref name="scope"/>.</summary>
    public ValueTask<IConnection> DialAsync(IPeerHost host, PeerId peer, DialOptions dial, PaddingScope scope,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(host);
        return DialAsync(dial, scope, d => host.DialAsync(peer, d, cancellationToken));
    }

    private async ValueTask<IConnection> DialAsync(DialOptions dial, PaddingScope scope, Func<DialOptions, ValueTask<IConnection>> connect)
    {
        var padded = Apply(dial, scope);
        if (ReferenceEquals(padded, dial)) return await connect(dial).ConfigureAwait(false);
        try
        {
            return await connect(padded).ConfigureAwait(false);
        }
        catch (ProtocolNotSupportedException) when (!_options.Required)
        {
            _metrics.FellBack();
            // Explicitly none: the host's default filters (padding on every connection) must not ask again.
            return await connect(dial with { Filters = dial.Filters ?? [] }).ConfigureAwait(false);
        }
        catch (ProtocolNotSupportedException)
        {
            _metrics.Refused(Direction.Outbound);
            throw;
        }
    }
}
