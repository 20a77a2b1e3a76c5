namespace SynapticMesh.Home;

/// <summary>The files of one node's home directory.</summary>
public sealed class NodeHome(string directory)
{
    public string Directory { get; } = directory;

    public string ConfigPath => Path.Combine(Directory, "config.json");

    public string IdentityPath => Path.Combine(Directory, "identity.key");

    public string PeerStorePath => Path.Combine(Directory, "peerstore.db");

    /// <summary>Port and token of the running node's control API (0600, removed when the node stops).</summary>
    public string ApiPath => Path.Combine(Directory, "api.json");

    /// <summary>Held open exclusively while a node runs on this home.</summary>
    public string LockPath => Path.Combine(Directory, "node.lock");

    /// <summary>The trust store: trusted and revoked peers (SQLite).</summary>
    public string TrustStorePath => Path.Combine(Directory, "trust.db");

    /// <summary>Where <c>p2p init --swarm-key</c> copies the private network key.</summary>
    public string SwarmKeyPath => Path.Combine(Directory, "swarm.key");

    /// <summary>The known hosts of <c>p2p mesh</c>.</summary>
    public string MeshPath => Path.Combine(Directory, "mesh.json");

    /// <summary>A path from the config, relative to the home directory unless absolute.</summary>
    public string Resolve(string path) => Path.GetFullPath(path, Directory);

    public bool HasIdentity => File.Exists(IdentityPath);

    /// <summary>Creates the directory, readable only by its owner on Unix.</summary>
    public void EnsureExists()
    {
        if (System.IO.Directory.Exists(Directory)) return;
        if (OperatingSystem.IsWindows()) System.IO.Directory.CreateDirectory(Directory);
        else System.IO.Directory.CreateDirectory(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }
}
