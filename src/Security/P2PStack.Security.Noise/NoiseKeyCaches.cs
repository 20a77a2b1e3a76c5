namespace P2PStack.Security.Noise;

/// <summary>What the Noise channels of one host share across handshakes: the local static keys with their
/// signatures (<see cref="NoiseStaticKeys"/>) and the remote signatures already verified (<see cref="VerifiedPayloadCache"/>).
/// Disposed with the host's services (a DI singleton): the static keys are freed then, not by the finalizer.</summary>
internal sealed class NoiseKeyCaches(NoiseStaticKeys? staticKeys = null, VerifiedPayloadCache? verifiedPayloads = null) : IDisposable
{
    public NoiseStaticKeys StaticKeys { get; } = staticKeys ?? new NoiseStaticKeys();

    public VerifiedPayloadCache VerifiedPayloads { get; } = verifiedPayloads ?? new VerifiedPayloadCache();

    public void Dispose() => StaticKeys.Dispose();
}
