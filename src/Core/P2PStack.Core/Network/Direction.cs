namespace P2PStack.Network;

/// <summary>Who opened a connection or stream. The outbound side is the initiator of every upgrade step.</summary>
public enum Direction
{
    Inbound,
    Outbound,
}
