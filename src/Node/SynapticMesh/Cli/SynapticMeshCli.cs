using System.CommandLine;
using SynapticMesh.Commands;

namespace SynapticMesh.Cli;

/// <summary>Entry point: parses the command line and runs the command, turning every failure into one line.</summary>
public static class SynapticMeshCli
{
    /// <summary>How long a command may take to wind down after SIGINT/SIGTERM (the node closes its connections).</summary>
    public static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(15);

    public static RootCommand BuildRoot(TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("synaptic-mesh: a libp2p node and its control commands");
        root.Options.Add(GlobalOptions.Home);
        root.Options.Add(GlobalOptions.Json);
        root.Subcommands.Add(P2PCommand.Create(new CommandContextFactory(stdout, stderr)));
        root.Subcommands.Add(DaemonCommand.Create(new CommandContextFactory(stdout, stderr)));
        root.Subcommands.Add(RegistryCommand.Create(new CommandContextFactory(stdout, stderr)));
        return root;
    }

    public static async Task<int> RunAsync(string[] args, TextWriter? stdout = null, TextWriter? stderr = null,
        CancellationToken cancellationToken = default)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var root = BuildRoot(stdout, stderr);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            stderr.WriteLine($"error: {parse.Errors[0].Message}");
            return ExitCodes.Usage;
        }
        var configuration = new InvocationConfiguration
        {
            Output = stdout,
            Error = stderr,
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = ShutdownGrace,
        };
        try
        {
            return await parse.InvokeAsync(configuration, cancellationToken);
        }
        catch (CliException e)
        {
            stderr.WriteLine($"error: {e.Message}");
            return e.ExitCode;
        }
        catch (OperationCanceledException)
        {
            stderr.WriteLine("error: interrupted");
            return ExitCodes.Interrupted;
        }
        catch (Exception e)
        {
            // Unexpected: still one line; SYNAPTIC_MESH_DEBUG=1 shows the stack for bug reports.
            stderr.WriteLine($"error: {e.GetType().Name}: {e.Message}");
            if (Environment.GetEnvironmentVariable("SYNAPTIC_MESH_DEBUG") == "1") stderr.WriteLine(e);
            return ExitCodes.Failure;
        }
    }
}

/// <summary>Builds the per-invocation context (home, output mode) handed to command actions.</summary>
public sealed class CommandContextFactory(TextWriter stdout, TextWriter stderr)
{
    public CommandContext Create(ParseResult parse) =>
        new(GlobalOptions.ResolveHome(parse), new CliOutput(stdout, stderr, parse.GetValue(GlobalOptions.Json)), parse);
}

/// <summary>What a command action works with.</summary>
public sealed record CommandContext(string Home, CliOutput Output, ParseResult Parse)
{
    public Home.NodeHome NodeHome => new(Home);
}
