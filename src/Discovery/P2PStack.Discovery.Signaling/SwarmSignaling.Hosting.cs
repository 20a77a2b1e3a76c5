using P2PStack.Network;
using Microsoft.Extensions.Logging;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia;

namespace P2PStack.Discovery.Signaling;

public sealed partial class SwarmSignaling
{
    private readonly Dictionary<long, (PeerId Peer, HashSet<string> Swarms)> _sessions = [];
    private long _nextSession;

    private int ServedCount
    {
        get { lock (_gate) return _swarms.Values.Count(s => s.ServedBy.Count > 0); }
    }

    internal long OpenSession(PeerId peer)
    {
        lock (_gate)
        {
            long session = ++_nextSession;
            _sessions[session] = (peer, []);
            return session;
        }
    }

    /// <summary>Relays the swarm for a light peer's session; returns the signed announcements of its live members,
    /// freshest (latest until) first.</summary>
    /// <exception cref="ResourceLimitExceededException">Over the per-peer or total limit of relayed swarms.</exception>
    internal IReadOnlyList<byte[]> Serve(long session, byte[] swarmId)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_lifetime.IsCancellationRequested, this);
            var (peer, swarms) = _sessions[session];
            string hex = Convert.ToHexStringLower(swarmId);
            if (!swarms.Contains(hex))
            {
                int perPeer = _sessions.Values.Where(s => s.Peer == peer).Sum(s => s.Swarms.Count);
                if (perPeer >= Options.MaxServedSwarmsPerPeer)
                    throw new ResourceLimitExceededException("signaling host", "swarms relayed for one peer", Options.MaxServedSwarmsPerPeer);
                if (!_swarms.ContainsKey(hex) && _swarms.Values.Count(s => s.ServedBy.Count > 0 || s.ReleaseAt is not null) >= Options.MaxServedSwarms)
                    throw new ResourceLimitExceededException("signaling host", "swarms relayed", Options.MaxServedSwarms);
            }
            var state = GetOrCreateState(swarmId);
            swarms.Add(hex);
            state.ServedBy.Add(session);
            state.ReleaseAt = null;
            var now = Now;
            // Freshest first: an answer cut at its size limit keeps the members most likely still there.
            return [.. state.Members.Values.Where(m => m.Until > now).OrderByDescending(m => m.Until).Select(m => m.Presence.Envelope)];
        }
    }

    /// <summary>Stops relaying the swarm for this session (after the grace period if nobody else needs it).</summary>
    internal void Release(long session, byte[] swarmId)
    {
        lock (_gate)
        {
            if (!_sessions.TryGetValue(session, out var s)) return;
            string hex = Convert.ToHexStringLower(swarmId);
            if (s.Swarms.Remove(hex)) ReleaseFrom(session, hex);
        }
    }

    /// <summary>The session's stream ended: its swarms stay relayed for the grace period, so a reload can rejoin.</summary>
    internal void CloseSession(long session)
    {
        lock (_gate)
        {
            if (!_sessions.Remove(session, out var s)) return;
            foreach (var hex in s.Swarms) ReleaseFrom(session, hex);
        }
    }

    // Under _gate.
    private void ReleaseFrom(long session, string hex)
    {
        if (!_swarms.TryGetValue(hex, out var state)) return;
        state.ServedBy.Remove(session);
        if (state.ServedBy.Count == 0 && state.Key is null) state.ReleaseAt = Now + Options.GracePeriod;
    }

    /// <summary>
    /// Host-to-host rendezvous: provides <see cref="SignalingProtocol.RendezvousCid"/> of the network in the DHT, looks up
    /// the other providers and dials those not connected (up to <see cref="SwarmSignalingOptions.MaxRendezvousDials"/>).
    /// Returns the number of hosts dialed.
    /// </summary>
    public async Task<int> RendezvousAsync(KademliaDht dht, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dht);
        var cid = SignalingProtocol.RendezvousCid(Options.NetworkName);
        try
        {
            await dht.ProvideAsync(cid, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogRendezvous("provide", e.Message);
        }
        IReadOnlyList<PeerInfo> providers;
        try
        {
            providers = await dht.FindProvidersAsync(cid, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogRendezvous("find providers", e.Message);
            return 0;
        }
        int dialed = 0;
        foreach (var provider in providers)
        {
            if (dialed >= Options.MaxRendezvousDials) break;
            if (provider.Peer == LocalPeer || _host.GetConnections(provider.Peer).Count > 0) continue;
            try
            {
                if (provider.Addresses.Count > 0) _host.PeerStore.AddAddresses(provider.Peer, provider.Addresses, TimeSpan.FromHours(1));
                await _host.DialAsync(provider.Peer, cancellationToken).ConfigureAwait(false);
                dialed++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogRendezvous($"dial {provider.Peer}", e.Message);
            }
        }
        return dialed;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "signaling rendezvous: {Step} failed: {Reason}")]
    private partial void LogRendezvous(string step, string reason);
}
