using System.Net.Sockets;

namespace SynapticMesh.Cli;

/// <summary>
/// The message of an exception as a user should read it: without .NET's "(Parameter 'x')" suffix and with socket
/// errors in words, on one line. Used by the CLI and by the node's control API for everything it reports.
/// </summary>
public static class ErrorText
{
    public static string Of(Exception error)
    {
        string message = error switch
        {
            ArgumentException { ParamName: { } name } argument => argument.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal),
            SocketException socket => socket.Message,
            _ => error.Message,
        };
        return OneLine(message);
    }

    /// <summary>Line breaks folded into spaces, so an error stays one line.</summary>
    public static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();
}
