namespace P2PStack.Nat.Testing;

/// <summary>
/// The shape of a class fixture that builds a <see cref="NetLab"/>: finds out whether namespaces work here (tests skip
/// with <see cref="Unavailable"/> otherwise), creates the lab, lets the fixture add its hosts, routers and processes,
/// and removes all of it on dispose. When the setup throws, what it had started goes before the exception leaves
/// (xUnit disposes the fixture too, later; disposing twice is harmless). A fixture derives from it and declares
/// <c>IAsyncLifetime</c>, which these public methods implement.
/// </summary>
public abstract class LabFixture
{
    /// <summary>Why namespace tests cannot run on this machine, or null.</summary>
    public string? Unavailable { get; private set; }

    public NetLab Lab { get; private set; } = null!;

    /// <summary>The hang guard of the whole setup (package installs included).</summary>
    protected virtual TimeSpan SetupTimeout => TimeSpan.FromMinutes(5);

    /// <summary>Adds the fixture's hosts and processes to <see cref="Lab"/>.</summary>
    protected abstract Task SetUpAsync(CancellationToken cancellationToken);

    /// <summary>Stops what the lab does not own (it kills only processes it started itself); runs before the lab goes.</summary>
    protected virtual ValueTask TearDownAsync() => ValueTask.CompletedTask;

    public async Task InitializeAsync()
    {
        Unavailable = await NetLab.UnavailableReasonAsync().ConfigureAwait(false);
        if (Unavailable is not null) return;
        using var timeout = new CancellationTokenSource(SetupTimeout);
        Lab = await NetLab.CreateAsync(timeout.Token).ConfigureAwait(false);
        try
        {
            await SetUpAsync(timeout.Token).ConfigureAwait(false);
        }
        catch
        {
            await DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task DisposeAsync()
    {
        try
        {
            await TearDownAsync().ConfigureAwait(false);
        }
        finally
        {
            if (Lab is not null) await Lab.DisposeAsync().ConfigureAwait(false);
        }
    }
}
