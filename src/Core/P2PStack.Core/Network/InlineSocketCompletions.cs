using System.Reflection;

namespace P2PStack.Network;

/// <summary>
/// The runtime's process-wide switch that runs socket completions on its socket event threads instead of handing each
/// one to the thread pool (<c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c>). .NET reads the variable once, when the
/// first socket registers with its event engine (a static readonly of <c>System.Net.Sockets.SocketAsyncEngine</c>), and
/// then starts one event thread per core instead of one; after that it can no longer change. A process that wants it
/// without being started with the variable sets it before its first socket: <see cref="TryEnable"/>, which can also ask
/// for fewer event threads (<c>DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT</c>, read by the same initializer). What it buys
/// (an onion relay as one event loop per socket thread) and costs: docs/benchmarks.md, "Onion loopback, eleventh pass",
/// "thirteenth pass" and "eighteenth pass" (one event thread).
/// </summary>
public static class InlineSocketCompletions
{
    /// <summary>The environment variable the runtime reads.</summary>
    public const string Variable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>The environment variable from which the runtime takes its number of socket event threads (absent: one per
    /// core with inline completions, one without).</summary>
    public const string ThreadCountVariable = "DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT";

    // The runtime's own flag (System.Net.Sockets 8.0-10.0: internal static readonly bool in SocketAsyncEngine). Reading
    // it runs the engine's type initializer if nothing has yet, which then reads the variable as it is now.
    private static readonly FieldInfo? RuntimeFlag = typeof(System.Net.Sockets.Socket).Assembly
        .GetType("System.Net.Sockets.SocketAsyncEngine")?
        .GetField("InlineSocketCompletionsEnabled", BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Static);

    /// <summary>Whether this process's sockets complete inline: the runtime's flag (fixing it from the environment as it
    /// is now if no socket has been used yet). False where the flag cannot be read (Windows, whose socket engine has no
    /// such switch, or a runtime that renamed it): what cannot be verified is not claimed.</summary>
    public static bool Enabled => RuntimeFlag?.GetValue(null) is true;

    /// <summary>Whether the runtime's flag can be read here (false: <see cref="Enabled"/> and <see cref="TryEnable"/>
    /// are always false).</summary>
    public static bool Verifiable => RuntimeFlag is not null;

    /// <summary>
    /// Asks for inline socket completions in this process; returns whether its sockets now complete inline. Works only
    /// before the process's first socket (call it first thing, before any host, listener or client starts): after it
    /// the runtime has read the variable already, this returns false. <paramref name="eventThreads"/> &gt; 0 also asks
    /// for that many socket event threads (0: the runtime's one per core), unless the environment already sets
    /// <see cref="ThreadCountVariable"/> (the operator's choice wins). The environment is left as it was either way (the
    /// runtime keeps what it read), so child processes do not inherit the switches; where the runtime's flag cannot be
    /// read (<see cref="Verifiable"/> false) nothing is changed and this returns false.
    /// </summary>
    public static bool TryEnable(int eventThreads = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(eventThreads);
        if (!Verifiable) return false;
        string? before = Environment.GetEnvironmentVariable(Variable);
        string? threadsBefore = Environment.GetEnvironmentVariable(ThreadCountVariable);
        if (before == "1") return Enabled;
        Environment.SetEnvironmentVariable(Variable, "1");
        if (eventThreads > 0 && threadsBefore is null)
            Environment.SetEnvironmentVariable(ThreadCountVariable, eventThreads.ToString(System.Globalization.CultureInfo.InvariantCulture));
        try
        {
            return Enabled; // reading the flag runs the engine's type initializer, which reads both variables now
        }
        finally
        {
            Environment.SetEnvironmentVariable(Variable, before);
            Environment.SetEnvironmentVariable(ThreadCountVariable, threadsBefore);
        }
    }

    /// <summary>The runtime's socket event threads alive now (threads named <c>.NET Sockets</c>, from
    /// <c>/proc/self/task</c>; -1 where that cannot be read): with inline completions as many as asked for (the runtime's
    /// default is one per core), one without.</summary>
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
