using Microsoft.Extensions.Options;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Security.Noise;

/// <summary>
/// One libp2p Noise security protocol (<c>/noise</c> or a hybrid <c>/noise-mlkem*-hfs/0.1.0</c>), chosen by its
/// <see cref="NoiseSuite"/>. Connections it returns implement <see cref="INoiseSecureConnection"/>.
/// </summary>
public sealed class NoiseSecureChannel : IOptimisticSecureChannel
{
    private readonly NoiseOptions _options;
    private readonly NoiseKeyCaches _caches;

    /// <summary>A channel with static keys and verified payloads of its own (<c>AddNoise</c> shares them
    /// between the suites of a host).</summary>
    public NoiseSecureChannel(NoiseSuite suite, IOptions<NoiseOptions> options)
        : this(suite, options, new NoiseKeyCaches())
    {
    }

    internal NoiseSecureChannel(NoiseSuite suite, IOptions<NoiseOptions> options, NoiseKeyCaches caches)
    {
        ArgumentNullException.ThrowIfNull(suite);
        ArgumentNullException.ThrowIfNull(caches);
        Suite = suite;
        _options = options.Value;
        _options.Validate();
        _caches = caches;
    }

    public NoiseSuite Suite { get; }

    public string ProtocolId => Suite.ProtocolId;

    public ValueTask<ISecureConnection> SecureOutboundAsync(IRawConnection connection, ILocalIdentity identity,
        PeerId? expectedRemotePeer, IReadOnlyList<string> muxers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identity);
        return NoiseHandshake.RunAsync(Suite, identity, _options, _caches, connection, initiator: true, expectedRemotePeer, muxers,
            cancellationToken);
    }

    public ValueTask<ISecureConnection> SecureInboundAsync(IRawConnection connection, ILocalIdentity identity,
        IReadOnlyList<string> muxers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(identity);
        return NoiseHandshake.RunAsync(Suite, identity, _options, _caches, connection, initiator: false, null, muxers,
            cancellationToken);
    }

    public override string ToString() => ProtocolId;
}
