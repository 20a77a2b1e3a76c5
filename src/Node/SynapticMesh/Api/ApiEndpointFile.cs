using System.Diagnostics;
using System.Text.Json;
using P2PStack.IO;
using SynapticMesh.Cli;
using SynapticMesh.Home;

namespace SynapticMesh.Api;

/// <summary>home/api.json: where the running node's control API listens and the token it requires (mode 0600).</summary>
public sealed record ApiEndpointFile(int Port, string Token, int Pid, string PeerId)
{
    public const int MaxFileSize = 64 * 1024;

    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    public void Save(NodeHome home) =>
        PrivateFile.WriteAtomically(home.ApiPath, JsonSerializer.SerializeToUtf8Bytes(this, CliOutput.JsonOptions));

    /// <summary>
    /// The running node's endpoint, or null when no node has written one or the process that wrote it is gone (a
    /// file left by a crash). That the process on the port really is that node is checked with
    /// <see cref="EndpointProof"/> before the token is sent.
    /// </summary>
    public static ApiEndpointFile? TryLoad(NodeHome home)
    {
        try
        {
            var info = new FileInfo(home.ApiPath);
            if (!info.Exists || info.Length > MaxFileSize) return null;
            var file = JsonSerializer.Deserialize<ApiEndpointFile>(File.ReadAllBytes(home.ApiPath), CliOutput.JsonOptions);
            return file is { Port: > 0 and <= 65535, Token.Length: > 0, Pid: > 0 } && IsRunning(file.Pid) ? file : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            return null;
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    public static void Delete(NodeHome home)
    {
        try { File.Delete(home.ApiPath); }
        catch (IOException) { }
    }
}
