using SynapticMesh.Api;
using SynapticMesh.Cli;
using SynapticMesh.Home;

namespace SynapticMesh.Node;

/// <summary>
/// home/node.lock held open with FileShare.None (an exclusive flock on Unix) while a node runs, so a second
/// <c>start</c> on the same home is refused even if api.json is stale or missing. The kernel drops the lock when
/// the process dies, so a crash never leaves the home locked.
/// </summary>
public sealed class NodeLock : IDisposable
{
    private readonly FileStream _stream;

    private NodeLock(FileStream stream) => _stream = stream;

    public static NodeLock Acquire(NodeHome home)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(home.LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e)
        {
            var running = ApiEndpointFile.TryLoad(home);
            string where = running is null ? "" : $" (pid {running.Pid}, peer id {running.PeerId}, control API on 127.0.0.1:{running.Port})";
            throw new CliException($"a node is already running on {home.Directory}{where}", inner: e);
        }
        stream.SetLength(0);
        using (var writer = new StreamWriter(stream, leaveOpen: true)) writer.Write(Environment.ProcessId);
        stream.Flush();
        return new NodeLock(stream);
    }

    public void Dispose() => _stream.Dispose();
}
