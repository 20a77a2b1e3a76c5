using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Privacy.Padding;

/// <summary>
/// Which dials ask for padding (circuit links and shadow connections by default, nothing else) and what happens when
/// the remote does not run it: refused when <see cref="PaddingOptions.Required"/>, else connected without padding and
/// counted.
/// </summary>
public sealed class PaddingPolicy(IOptions<PaddingOptions> options, PaddingMetrics metrics)
{
    private readonly PaddingOptions _options = options.Value;

    /// <summary>Whether connections for <paramref name="scope"/> are padded.</summary>
    public bool Pads(PaddingScope scope) => scope switch
    {
        PaddingScope.CircuitLink => _options.OnCircuitLinks,
        PaddingScope.ShadowConnection => _options.OnShadowConnections,
        _ => _options.OnOtherConnections,
    };

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
            metrics.FellBack();
            return await connect(dial).ConfigureAwait(false);
        }
    }
}
