namespace SynapticMesh.Tests;

/// <summary>A throwaway node home directory.</summary>
public sealed class TempHome : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(Directory.CreateTempSubdirectory("synaptic-mesh-test-").FullName, "home");

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(System.IO.Path.GetDirectoryName(Path)!, recursive: true); }
        catch (IOException) { }
    }
}

internal static class FileModes
{
    /// <summary>The file's Unix permission bits (the node runs on Linux; Windows has no such bits).</summary>
    public static UnixFileMode Of(string path) =>
        OperatingSystem.IsWindows() ? UnixFileMode.UserRead | UnixFileMode.UserWrite : File.GetUnixFileMode(path);
}
