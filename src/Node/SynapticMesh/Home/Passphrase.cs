using System.Text;
using SynapticMesh.Cli;

namespace SynapticMesh.Home;

/// <summary>Where the key file passphrase comes from: the environment, else a prompt on the terminal.</summary>
public static class Passphrase
{
    public const string Variable = "SYNAPTIC_MESH_PASSPHRASE";

    public static string? FromEnvironment() => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value ? value : null;

    public static bool CanPrompt => !Console.IsInputRedirected;

    /// <summary>A passphrase for a new key file: the environment's, or typed twice on the terminal.</summary>
    public static string ForNewKey(CliOutput output)
    {
        if (FromEnvironment() is { } fromEnvironment) return fromEnvironment;
        if (!CanPrompt)
            throw new CliException($"no passphrase: set {Variable}, or pass --no-passphrase to store the key unencrypted", ExitCodes.Usage);
        string first = Prompt(output, "Passphrase for the new identity key: ");
        if (first.Length == 0) throw new CliException("empty passphrase (use --no-passphrase to store the key unencrypted)", ExitCodes.Usage);
        if (Prompt(output, "Repeat the passphrase: ") != first) throw new CliException("the passphrases do not match", ExitCodes.Usage);
        return first;
    }

    /// <summary>The passphrase of an existing encrypted key file.</summary>
    public static string ForExistingKey(CliOutput output, string path)
    {
        if (FromEnvironment() is { } fromEnvironment) return fromEnvironment;
        if (!CanPrompt) throw new CliException($"the identity key {path} is encrypted: set {Variable}");
        return Prompt(output, "Passphrase of the identity key: ");
    }

    private static string Prompt(CliOutput output, string message)
    {
        output.Error.Write(message);
        output.Error.Flush();
        var text = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter) break;
            if (key.Key == ConsoleKey.Backspace)
            {
                if (text.Length > 0) text.Length--;
            }
            else if (!char.IsControl(key.KeyChar))
            {
                text.Append(key.KeyChar);
            }
        }
        output.Error.WriteLine();
        return text.ToString();
    }
}
