namespace SynapticMesh.Cli;

/// <summary>An error the user can fix (bad input, node not running, wrong passphrase): printed as one line.</summary>
public class CliException(string message, int exitCode = ExitCodes.Failure, Exception? inner = null, string? code = null)
    : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;

    /// <summary>The stable reason in JSON errors; by default <c>usage</c> for usage errors and <c>failed</c> otherwise.</summary>
    public string Code { get; } = code ?? (exitCode == ExitCodes.Usage ? ErrorCodes.Usage : ErrorCodes.Failed);

    /// <summary>A usage error (exit code 2): the command line itself is wrong.</summary>
    public static CliException Usage(string message, Exception? inner = null) => new(message, ExitCodes.Usage, inner);
}

public static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The command could not do its work (peer unreachable, node not running, wrong passphrase).</summary>
    public const int Failure = 1;

    /// <summary>The command line itself is wrong (unknown command or option, bad multiaddr, bad number).</summary>
    public const int Usage = 2;

    /// <summary>Interrupted by SIGINT/SIGTERM before finishing.</summary>
    public const int Interrupted = 130;
}

/// <summary>The <c>code</c> of JSON errors: stable strings scripts may branch on (docs/cli.md lists them).</summary>
public static class ErrorCodes
{
    /// <summary>The command line is wrong (exit code 2).</summary>
    public const string Usage = "usage";

    /// <summary>No node runs on the home directory, or its control API does not answer.</summary>
    public const string NotRunning = "not_running";

    /// <summary>The node refused the request as invalid (bad address, bad key, value over a limit...).</summary>
    public const string Invalid = "invalid";

    /// <summary>What was asked for does not exist (no value for a DHT key, peer not found, swarm not joined...).</summary>
    public const string NotFound = "not_found";

    /// <summary>A peer could not be reached or broke the exchange.</summary>
    public const string Unreachable = "unreachable";

    /// <summary>A peer or policy refused (connection gated, protocol not supported by the peer).</summary>
    public const string Refused = "refused";

    /// <summary>The remote side answered with a failure (e.g. a command with no handler).</summary>
    public const string RemoteFailure = "remote_failure";

    /// <summary>A resource limit of the node was reached.</summary>
    public const string Limit = "limit";

    /// <summary>The operation ran out of time.</summary>
    public const string Timeout = "timeout";

    /// <summary>Interrupted by Ctrl+C / SIGTERM (exit code 130).</summary>
    public const string Interrupted = "interrupted";

    /// <summary>A bug: set SYNAPTIC_MESH_DEBUG=1 to see the details.</summary>
    public const string Internal = "internal";

    /// <summary>Anything else that failed.</summary>
    public const string Failed = "failed";
}
