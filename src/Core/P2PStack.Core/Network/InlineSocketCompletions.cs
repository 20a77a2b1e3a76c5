using System.Reflection;

namespace P2PStack.Network;

/// <summary>
/// The runtime's process-wide switch that runs socket completions on its socket event threads instead of handing each
/// one to the thread pool (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>). .NET reads the variable once, when the
/// first socket registers with its event engine (a static readonly of <c>System.Net.Sockets.SocketAsyncEngine</c>), and
/// then starts one event thread per core instead of one; after that it can no longer change. A process that wants it
/// without being started with the variable sets it before its first socket: <see cref="TryEnable"/>. What it buys (an
/// onion relay as one event loop per socket thread) and costs: docs/benchmarks.md, "Onion loopback, eleventh pass" and
/// "thirteenth pass".
/// </summary>
public static class InlineSocketCompletions
{
    /// <summary>The environment variable the runtime reads.</summary>
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    // The runtime's own flag (System.Net.Sockets 8.0-10.0: internal static readonly bool in SocketAsyncEngine). Reading
    // it runs the engine's type initializer if nothing has yet, which then reads the variable as it is now.
    private static readonly FieldInfo? RuntimeFlag = typeof(System.Net.Sockets.Socket).Assembly
        .GetType("System.Net.Sockets.SocketAsyncEngine")?
        .GetField("InlineSocketCompletionsEnabled", BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Static);

    /// <summary>Whether this process's sockets complete inline: the runtime's flag where it can be read (fixing it from
    /// the environment as it is now if no socket has been used yet), else the variable as the process sees it.</summary>
    public static bool Enabled =>
        RuntimeFlag?.GetValue(null) is bool enabled ? enabled : Environment.GetEnvironmentVariable(Variable) == "1";

    /// <summary>Whether the runtime's flag is read directly (false: <see cref="Enabled"/> follows the variable only).</summary>
    public static bool Verifiable => RuntimeFlag is not null;

    /// <summary>
    /// Asks for inline socket completions in this process; returns whether its sockets now complete inline. Works only
    /// before the process's first socket (call it first thing, before any host, listener or client starts): after it
    /// the runtime has read the variable already, this returns false and the environment is left as it was.
    /// </summary>
    public static bool TryEnable()
    {
        string? before = Environment.GetEnvironmentVariable(Variable);
        if (before != "1") Environment.SetEnvironmentVariable(Variable, "1");
        bool enabled = Enabled;
        if (!enabled && before != "1") Environment.SetEnvironmentVariable(Variable, before); // too late: as it was
        return enabled;
    }

    /// <summary>The runtime's socket event threads alive now (threads named <c>.NET Sockets</c>, from
    /// <c>/proc/self/task</c>; -1 where that cannot be read): one per core with inline completions, one without.</summary>
    public static int EventThreads()
    {
        try
        {
            int count = 0;
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                try
                {
                    if (File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') == ".NET Sockets") count++;
                }
                catch (IOException)
                {
                    // The thread ended meanwhile.
                }
            }
            return count;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return -1;
        }
    }
}
