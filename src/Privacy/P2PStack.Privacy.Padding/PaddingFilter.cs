using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Network;

namespace P2PStack.Privacy.Padding;

/// <summary>
/// The traffic padding filter <c>/synaptic/padding/1.0.0</c>: between the secure channel and the muxer, every burst
/// leaves as whole cells of one size from the agreed set, padding is random bytes inside the encryption, and cover
/// cells, jitter and batching follow <see cref="PaddingOptions"/>. Wire format: docs/specs/padding.md.
/// </summary>
public sealed class PaddingFilter : ISecuredConnectionFilter
{
    public const string Id = PaddingWire.ProtocolId;

    private readonly PaddingOptions _options;
    private readonly PaddingMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    /// <param name="time">The clock of the jitter and batching delays and of the cover process (default: the system's).</param>
    public PaddingFilter(IOptions<PaddingOptions> options, PaddingMetrics metrics, ILogger<PaddingFilter>? logger = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _options.Validate();
        _metrics = metrics;
        _logger = logger ?? NullLogger<PaddingFilter>.Instance;
        _time = time ?? TimeProvider.System;
    }

    public string ProtocolId => Id;

    public IFilteredPipe Apply(IDuplexPipe connection, Direction direction)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return new PaddedPipe(connection, _options, _metrics, _logger, _time);
    }
}
