namespace P2PStack.Privacy.Onion;

/// <summary>Why a circuit was destroyed: the reason byte of a DESTROY cell and of TRUNCATED (docs/specs/onion.md).</summary>
public enum DestroyReason : byte
{
    /// <summary>No reason given.</summary>
    None = 0,

    /// <summary>The other side broke the protocol (a cell out of place, a malformed message, a window overrun).</summary>
    Protocol = 1,

    /// <summary>An internal error at the hop.</summary>
    Internal = 2,

    /// <summary>The client closed the circuit.</summary>
    Requested = 3,

    /// <summary>A limit was reached (circuits, build rate, queued cells); the hop refused or dropped the circuit.</summary>
    ResourceLimit = 4,

    /// <summary>The next relay could not be reached.</summary>
    ConnectFailed = 5,

    /// <summary>The CREATE named an onion key the relay does not hold (rotated out, or never its own).</summary>
    UnknownOnionKey = 6,

    /// <summary>The link to a neighbour closed.</summary>
    LinkClosed = 7,

    /// <summary>The circuit ended normally (its lifetime is over, or it was idle).</summary>
    Finished = 8,

    /// <summary>A step took longer than its time limit.</summary>
    Timeout = 9,

    /// <summary>A neighbour destroyed the circuit.</summary>
    Destroyed = 10,

    /// <summary>A relay cell reached the end of the circuit without being meant for any hop: changed on the way,
    /// replayed or reordered.</summary>
    Integrity = 11,

    /// <summary>The relay does not serve circuits now (not a relay, shutting down).</summary>
    Hibernating = 12,
}

/// <summary>Why a stream over a circuit ended: the reason byte of END.</summary>
public enum EndReason : byte
{
    /// <summary>The sender finished writing (a half-close); the stream ends when both sides have sent it.</summary>
    Done = 0,

    /// <summary>The stream was reset by its user.</summary>
    Reset = 1,

    /// <summary>The exit's policy does not allow this destination.</summary>
    ExitPolicy = 2,

    /// <summary>The exit could not reach the destination, or the destination does not accept circuit streams.</summary>
    ConnectFailed = 3,

    /// <summary>A limit was reached (streams per circuit, buffered data).</summary>
    ResourceLimit = 4,

    /// <summary>The peer broke the stream protocol (data past its window, a malformed BEGIN).</summary>
    Protocol = 5,

    /// <summary>The circuit under the stream ended.</summary>
    CircuitClosed = 6,

    /// <summary>The last hop is not an exit.</summary>
    NotExit = 7,

    /// <summary>Nothing was sent or received for the idle limit.</summary>
    Timeout = 8,

    /// <summary>No service is registered at this introduction point under the auth key given (docs/specs/shadow.md).</summary>
    NoIntroduction = 9,
}

/// <summary>The status byte of INTRO_ESTABLISHED (docs/specs/shadow.md, section 7).</summary>
public enum IntroStatus : byte
{
    /// <summary>Introductions for the auth key now arrive over this circuit.</summary>
    Ok = 0,

    /// <summary>Another live circuit holds a registration for this auth key.</summary>
    InUse = 1,

    /// <summary>The relay holds as many registrations as it allows.</summary>
    Full = 2,

    /// <summary>The relay does not accept introductions.</summary>
    NotIntroPoint = 3,
}
