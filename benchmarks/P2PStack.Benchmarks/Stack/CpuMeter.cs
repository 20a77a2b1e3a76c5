using System.Diagnostics;
using System.Globalization;

namespace P2PStack.Benchmarks.Stack;

/// <summary>
/// CPU time this process and (on Linux) a peer process spent, for CPU seconds per GiB moved: a cost figure that
/// depends far less on other load than throughput does.
/// </summary>
internal sealed class CpuMeter(int? serverPid)
{
    private readonly TimeSpan _ownStart = Process.GetCurrentProcess().TotalProcessorTime;
    private readonly double? _serverStart = ServerSeconds(serverPid);

    /// <summary>Own and server CPU seconds since construction (server NaN when unknown).</summary>
    public (double Client, double Server) Elapsed()
    {
        double own = (Process.GetCurrentProcess().TotalProcessorTime - _ownStart).TotalSeconds;
        double server = ServerSeconds(serverPid) is { } now && _serverStart is { } start ? now - start : double.NaN;
        return (own, server);
    }

    /// <summary>utime + stime from /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s on Linux).</summary>
    private static double? ServerSeconds(int? pid)
    {
        if (pid is null || !File.Exists($"/proc/{pid}/stat")) return null;
        string stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state), so field 14 is fields[11].
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
    }
}
