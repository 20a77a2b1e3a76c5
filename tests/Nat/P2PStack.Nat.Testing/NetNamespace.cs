using System.Diagnostics;
using System.Net;
using P2PStack.Interop.Support;

namespace P2PStack.Nat.Testing;

/// <summary>One network namespace of a <see cref="NetLab"/>: a host, a router or the switch.</summary>
public sealed class NetNamespace
{
    internal NetNamespace(NetLab lab, string name, string label)
    {
        Lab = lab;
        Name = name;
        Label = label;
    }

    public NetLab Lab { get; }

    /// <summary>The namespace's name for <c>ip netns</c> (unique, with the test process id and a random suffix).</summary>
    public string Name { get; }

    /// <summary>The short name the test gave it, for messages.</summary>
    public string Label { get; }

    /// <summary>The host's main address (public for public hosts and routers, private for hosts behind a NAT).</summary>
    public IPAddress Address { get; internal set; } = IPAddress.None;

    /// <summary>Runs a command inside the namespace; throws <see cref="HostCommandException"/> when it fails.</summary>
    public Task<string> ExecAsync(CancellationToken cancellationToken, string fileName, params string[] arguments) =>
        HostCommand.RunAsync("ip", ["netns", "exec", Name, fileName, .. arguments], cancellationToken);

    /// <summary>Runs a command inside the namespace and returns its exit code and output.</summary>
    public Task<(int ExitCode, string Output)> TryExecAsync(CancellationToken cancellationToken, string fileName, params string[] arguments) =>
        HostCommand.TryRunAsync("ip", ["netns", "exec", Name, fileName, .. arguments], cancellationToken);

    /// <summary><c>ip -n NAME ...</c>: configures the namespace's interfaces from outside.</summary>
    public Task<string> IpAsync(CancellationToken cancellationToken, params string[] arguments) =>
        HostCommand.RunAsync("ip", ["-n", Name, .. arguments], cancellationToken);

    /// <summary>
    /// Starts a long-running process inside the namespace (<c>ip netns exec</c>), its stdin, stdout and stderr
    /// redirected. The lab kills it on dispose at the latest.
    /// </summary>
    public LabProcess Start(string fileName, IEnumerable<string> arguments, string? workingDirectory = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        Lab.ThrowIfDisposed(); // before the start: a process the lab refuses to track would outlive it
        var start = new ProcessStartInfo("ip") { WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory };
        foreach (string argument in (string[])["netns", "exec", Name, fileName, .. arguments]) start.ArgumentList.Add(argument);
        if (environment is not null)
        {
            foreach (var (key, value) in environment) start.Environment[key] = value;
        }
        var process = LabProcess.Start($"{Path.GetFileName(fileName)} in {Label}", start);
        Lab.Track(process);
        return process;
    }

    public override string ToString() => $"{Label} ({Name}, {Address})";
}
