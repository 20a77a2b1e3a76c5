using System.CommandLine;
using SynapticMesh.Commands;

namespace SynapticMesh.Cli;

/// <summary>
/// Entry point: parses the command line and runs the command. Usage errors exit 2 with the nearest command's usage
/// (<see cref="UsageErrors"/>); every other failure is one line (or one JSON line with --json, see
/// <see cref="CliError"/>) and exit code 1, or 130 when interrupted.
/// </summary>
public static class SynapticMeshCli
{
    /// <summary>How long a command may take to wind down after SIGINT/SIGTERM (the node closes its connections).</summary>
    public static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(15);

    public static RootCommand BuildRoot(CommandContextFactory contexts)
    {
        var root = new RootCommand("synaptic-mesh: a libp2p node and its control commands");
        root.Options.Add(GlobalOptions.Home);
        root.Options.Add(GlobalOptions.Json);
        root.Subcommands.Add(P2PCommand.Create(contexts));
        root.Subcommands.Add(DaemonCommand.Create(contexts));
        root.Subcommands.Add(RegistryCommand.Create(contexts));
        return root;
    }

    /// <param name="stdout">Where results go; null for the console (then terminals are detected).</param>
    public static async Task<int> RunAsync(string[] args, TextWriter? stdout = null, TextWriter? stderr = null,
        CancellationToken cancellationToken = default)
    {
        var contexts = stdout is null && stderr is null
            ? CommandContextFactory.ForConsole()
            : new CommandContextFactory(stdout ?? TextWriter.Null, stderr ?? TextWriter.Null, false, false);
        var root = BuildRoot(contexts);
        var parse = root.Parse(args);
        var output = contexts.Output(parse.GetValue(GlobalOptions.Json));
        if (args.Length == 0 || UsageErrors.IsBareGroup(parse))
        {
            // Bare `synaptic-mesh` or a bare group (`p2p`, `p2p dht`): what can be run from here.
            UsageErrors.PrintUsage(root, parse, output.Out);
            return ExitCodes.Success;
        }
        if (parse.Errors.Count > 0) return UsageErrors.Report(root, parse, output);
        var configuration = new InvocationConfiguration
        {
            Output = output.Out,
            Error = output.Error,
            EnableDefaultExceptionHandler = false,
            ProcessTerminationTimeout = ShutdownGrace,
        };
        try
        {
            return await parse.InvokeAsync(configuration, cancellationToken);
        }
        catch (CliException e)
        {
            output.Failure(ErrorText.OneLine(e.Message), e.Code, e.ExitCode);
            return e.ExitCode;
        }
        catch (OperationCanceledException)
        {
            output.Failure("interrupted", ErrorCodes.Interrupted, ExitCodes.Interrupted);
            return ExitCodes.Interrupted;
        }
        catch (Exception e)
        {
            // A bug: still one line; SYNAPTIC_MESH_DEBUG=1 shows the stack for bug reports.
            output.Failure($"unexpected failure: {ErrorText.Of(e)} (set SYNAPTIC_MESH_DEBUG=1 for details)", ErrorCodes.Internal, ExitCodes.Failure);
            if (Environment.GetEnvironmentVariable("SYNAPTIC_MESH_DEBUG") == "1") output.Error.WriteLine(e);
            return ExitCodes.Failure;
        }
    }
}

/// <summary>Builds the per-invocation context (home, output mode) handed to command actions.</summary>
public sealed class CommandContextFactory(TextWriter stdout, TextWriter stderr, bool stdoutIsTerminal, bool stderrIsTerminal)
{
    /// <summary>The process console, with terminals detected from the redirections.</summary>
    public static CommandContextFactory ForConsole() =>
        new(Console.Out, Console.Error, !Console.IsOutputRedirected, !Console.IsErrorRedirected);

    public CliOutput Output(bool json) => new(stdout, stderr, json, stdoutIsTerminal, stderrIsTerminal);

    public CommandContext Create(ParseResult parse) =>
        new(GlobalOptions.ResolveHome(parse), Output(parse.GetValue(GlobalOptions.Json)), parse);
}

/// <summary>What a command action works with.</summary>
public sealed record CommandContext(string Home, CliOutput Output, ParseResult Parse)
{
    public Home.NodeHome NodeHome => new(Home);

    /// <summary>The <c>--home</c> option to repeat in hints: empty when the default home is used.</summary>
    public string HomeOption => GlobalOptions.HomeOption(Parse);
}
