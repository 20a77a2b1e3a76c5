using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PStack.Privacy.ShadowAddresses;
using SynapticMesh.Home;

namespace SynapticMesh.Node;

/// <summary>Keeps the node's shadow address pool in home/shadow-keys.json: restores it at start (before the
/// publisher runs) and writes it after every change (generate, rotate, revoke, expiry of a grace period).</summary>
public sealed class ShadowKeyStore(ShadowAddressPool pool, NodeHome home, ILogger<ShadowKeyStore> logger) : IHostedService
{
    private readonly Lock _gate = new();

    public Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var (key, created, uses, retiresAt, rotateAt) in ShadowKeyFile.Load(home))
        {
            try
            {
                pool.Restore(key, created, uses, retiresAt, rotateAt);
            }
            catch (InvalidOperationException e)
            {
                logger.LogWarning("Shadow address {Address} not restored: {Reason}", key.Address, e.Message);
            }
        }
        pool.Changed += OnChanged;
        pool.Sweep(); // addresses past their lifetime while the node was down rotate now; the pool fills to its size
        Save();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        pool.Changed -= OnChanged;
        Save();
        return Task.CompletedTask;
    }

    private void OnChanged(object? sender, EventArgs e) => Save();

    private void Save()
    {
        try
        {
            lock (_gate) ShadowKeyFile.Save(home, pool.Export());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.LogError(e, "Cannot write the shadow keys");
        }
    }
}
