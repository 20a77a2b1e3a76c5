using System.Security.Cryptography;

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

    public bool HasIdentity => File.Exists(IdentityPath);

    /// <summary>Creates the directory, readable only by its owner on Unix.</summary>
    public void EnsureExists()
    {
        if (System.IO.Directory.Exists(Directory)) return;
        if (OperatingSystem.IsWindows()) System.IO.Directory.CreateDirectory(Directory);
        else System.IO.Directory.CreateDirectory(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>Writes a file atomically (temporary file, then rename), mode 0600 on Unix.</summary>
    public static void WritePrivateFile(string path, ReadOnlySpan<byte> contents)
    {
        string fullPath = Path.GetFullPath(path);
        string temporary = Path.Combine(Path.GetDirectoryName(fullPath)!,
            $".{Path.GetFileName(fullPath)}.{Convert.ToHexString(RandomNumberGenerator.GetBytes(6))}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(contents);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}
