using P2PStack.Network;
namespace P2PStack.Neural;

public sealed partial class NeuralMesh
{
    /// <summary>
    /// A live feed of delivered messages; <paramref name="agent"/> keeps only those addressed to that agent. A slow
    /// reader loses the oldest messages (counted in <see cref="NeuralListener.Dropped"/>). Dispose to stop.
    /// </summary>
    /// <exception cref="ResourceLimitExceededException">Too many listeners.</exception>
    public NeuralListener Listen(string? agent = null)
    {
        if (agent is not null) NeuralProtocol.ValidateName(agent, "agent");
        lock (_listenersGate)
        {
            if (_listeners.Count >= Options.MaxListeners) throw new ResourceLimitExceededException("neural mesh", "listeners", Options.MaxListeners);
            var listener = new NeuralListener(agent, Options.ListenerCapacity, RemoveListener);
            _listeners.Add(listener);
            return listener;
        }
    }

    private void RemoveListener(NeuralListener listener)
    {
        lock (_listenersGate) _listeners.Remove(listener);
    }

    private void NotifyListeners(ReceivedMessage message)
    {
        lock (_listenersGate)
        {
            foreach (var listener in _listeners) listener.Offer(message);
        }
    }
}
