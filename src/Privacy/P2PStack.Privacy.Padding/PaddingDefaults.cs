using Microsoft.Extensions.Options;
using P2PStack.Network;

namespace P2PStack.Privacy.Padding;

/// <summary>
/// The padding policy's rule for connections of no particular purpose (<see cref="PaddingScope.Other"/>), as the host
/// applies it to every dial that names no filters and, when required, to every inbound connection: with
/// <see cref="PaddingOptions.OnOtherConnections"/> the host pads them; a remote without padding is refused when
/// <see cref="PaddingOptions.Required"/>, else reached without it in the same negotiation (counted as a fallback).
/// </summary>
public sealed class PaddingDefaults : IDefaultConnectionFilters
{
    private readonly PaddingMetrics _metrics;

    public PaddingDefaults(IOptions<PaddingOptions> options, PaddingMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(options);
        var value = options.Value;
        Filters = value.OnOtherConnections ? [PaddingFilter.Id] : [];
        Required = value.Required;
        _metrics = metrics;
    }

    public IReadOnlyList<string> Filters { get; }

    public bool Required { get; }

    public void WentWithout(string filter) => _metrics.FellBack();

    public void Refused(Direction direction) => _metrics.Refused(direction);
}
