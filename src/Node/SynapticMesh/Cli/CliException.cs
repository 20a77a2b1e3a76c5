namespace SynapticMesh.Cli;

/// <summary>An error the user can fix (bad input, node not running, wrong passphrase): printed as one line.</summary>
public class CliException(string message, int exitCode = ExitCodes.Failure, Exception? inner = null) : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;
}

public static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The command could not do its work (peer unreachable, node not running, wrong passphrase).</summary>
    public const int Failure = 1;

    /// <summary>The command line itself is wrong (unknown option, bad multiaddr, bad number).</summary>
    public const int Usage = 2;

    /// <summary>Interrupted by SIGINT/SIGTERM before finishing.</summary>
    public const int Interrupted = 130;
}
