namespace P2PStack.Privacy.ShadowAddresses.Service;

/// <summary>Chooses the introduction points a service publishes for one of its addresses.</summary>
public interface IShadowIntroductionSource
{
    /// <summary>The introduction points of <paramref name="address"/> now; the same points (and auth keys) while they
    /// stay usable, so that republishing does not change them.</summary>
    /// <exception cref="ShadowIntroductionUnavailableException">Not enough relays are known yet.</exception>
    ValueTask<ShadowDescriptorContent> GetAsync(ShadowAddress address, CancellationToken cancellationToken);

    /// <summary>Forgets what was chosen for <paramref name="address"/> (it left the pool, or its points are renewed:
    /// the next <see cref="GetAsync"/> chooses afresh).</summary>
    void Forget(ShadowAddress address);

    /// <summary>Raised when the points of an address changed on the source's own initiative (renewed at the end of
    /// their lifetime): its descriptors are to be published again at once.</summary>
    event Action<ShadowAddress>? Changed;
}

/// <summary>No introduction point can be chosen now (for example the onion directory is still empty).</summary>
public sealed class ShadowIntroductionUnavailableException(string message) : Exception(message);
