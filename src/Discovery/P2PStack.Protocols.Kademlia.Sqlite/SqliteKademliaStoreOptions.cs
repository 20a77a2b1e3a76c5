namespace P2PStack.Protocols.Kademlia.Sqlite;

/// <summary>Where the SQLite record and provider stores keep their data.</summary>
public sealed class SqliteKademliaStoreOptions
{
    /// <summary>Database file; created (with its directory) when missing.</summary>
    public string Path { get; set; } = "dht.db";

    /// <summary>How long a write waits for another process holding the database lock.</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
