using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;

namespace SynapticMesh.Cli;

/// <summary>
/// Turns System.CommandLine's parse errors into what a person can act on (exit code 2): the real error, a
/// "did you mean" for a typo, and for unknown or missing commands, options and arguments the usage of the nearest
/// command (the deepest one the line reached). A value that fails its check (a bad number, a bad level) is one line
/// naming the option. With --json the error is one JSON line instead (<see cref="CliError"/>, code "usage").
/// </summary>
public static partial class UsageErrors
{
    /// <summary>The command's name in messages (the process may be a test host).</summary>
    public const string ToolName = "synaptic-mesh";

    /// <summary>A command group run without a subcommand (bare <c>synaptic-mesh</c>, <c>p2p</c>, <c>p2p dht</c>).</summary>
    public static bool IsBareGroup(ParseResult parse) =>
        parse.UnmatchedTokens.Count == 0
        && (parse.Action is null or System.CommandLine.Invocation.ParseErrorAction) // not --help, --version
        && parse.CommandResult.Command.Subcommands.Count > 0
        && parse.CommandResult.Command.Action is null
        && parse.Errors.All(e => e.SymbolResult is null or CommandResult);

    /// <summary>Prints the usage of the deepest command parsed to <paramref name="writer"/>.</summary>
    public static void PrintUsage(RootCommand root, ParseResult parse, TextWriter writer)
    {
        var help = root.Parse([.. CommandPath(parse.CommandResult), "--help"]);
        help.Invoke(new InvocationConfiguration { Output = writer, Error = writer });
        writer.Flush();
    }

    /// <summary>Reports the parse errors and returns the usage exit code.</summary>
    public static int Report(RootCommand root, ParseResult parse, CliOutput output)
    {
        var command = parse.CommandResult.Command;
        string name = string.Join(" ", [ToolName, .. CommandPath(parse.CommandResult)]);
        var lines = new List<string>();
        bool showUsage = false;
        foreach (string token in parse.UnmatchedTokens.Distinct(StringComparer.Ordinal))
        {
            showUsage = true;
            bool looksLikeOption = token.StartsWith('-') && token.Length > 1;
            var candidates = looksLikeOption
                ? command.Options.Concat(RecursiveOptions(parse.CommandResult)).SelectMany(o => (IEnumerable<string>)[o.Name, .. o.Aliases]).Where(n => !n.StartsWith("-?", StringComparison.Ordinal) && n != "/?")
                : command.Subcommands.Where(c => !c.Hidden).Select(c => c.Name);
            string? suggestion = Closest(token, candidates);
            string what = looksLikeOption ? "option" : command.Subcommands.Count > 0 ? "command" : "argument";
            lines.Add($"unknown {what} '{TerminalText.Escape(token)}' for '{name}'" + (suggestion is null ? "" : $"; did you mean '{suggestion}'?"));
        }
        foreach (var error in parse.Errors)
        {
            if (error.Message.StartsWith("Unrecognized command or argument", StringComparison.Ordinal)) continue; // said above
            if (lines.Count > 0 && error.SymbolResult is CommandResult && command.Subcommands.Count > 0 && error.SymbolResult == parse.CommandResult)
                continue; // "Required command was not provided" after an unknown command says nothing more
            bool badValue = error.SymbolResult is OptionResult { Tokens.Count: > 0 } or ArgumentResult { Tokens.Count: > 0 };
            if (!badValue) showUsage = true;
            lines.Add(Rewrite(error.Message, name));
        }
        if (lines.Count == 0) lines.Add($"the command line is not complete for '{name}'");
        lines = [.. lines.Distinct(StringComparer.Ordinal)];

        if (output.Json)
        {
            output.Failure(string.Join("; ", lines), ErrorCodes.Usage, ExitCodes.Usage);
            return ExitCodes.Usage;
        }
        foreach (string line in lines) output.Error.WriteLine($"error: {line}");
        if (showUsage)
        {
            output.Error.WriteLine();
            PrintUsage(root, parse, output.Error);
        }
        else
        {
            output.Error.Flush();
        }
        return ExitCodes.Usage;
    }

    /// <summary>Command names from below the root down to <paramref name="result"/>.</summary>
    public static IReadOnlyList<string> CommandPath(CommandResult result)
    {
        var path = new List<string>();
        for (SymbolResult? current = result; current is not null; current = current.Parent)
        {
            if (current is CommandResult { Command: not RootCommand } command) path.Add(command.Command.Name);
        }
        path.Reverse();
        return path;
    }

    private static IEnumerable<Option> RecursiveOptions(CommandResult result)
    {
        for (SymbolResult? current = result.Parent; current is not null; current = current.Parent)
        {
            if (current is CommandResult command)
                foreach (var option in command.Command.Options.Where(o => o.Recursive)) yield return option;
        }
    }

    /// <summary>Rewrites System.CommandLine messages that name .NET types into plain words.</summary>
    internal static string Rewrite(string message, string command)
    {
        var match = CannotParse().Match(message);
        if (match.Success)
        {
            string kind = match.Groups["type"].Value switch
            {
                var t when t.Contains("Int", StringComparison.Ordinal) => "a whole number",
                var t when t.Contains("Double", StringComparison.Ordinal) || t.Contains("Single", StringComparison.Ordinal) => "a number",
                var t when t.Contains("Boolean", StringComparison.Ordinal) => "true or false",
                var t when t.Contains("LogLevel", StringComparison.Ordinal) => "one of Trace, Debug, Information, Warning, Error, Critical, None",
                _ => "a valid value",
            };
            return $"'{TerminalText.Escape(match.Groups["value"].Value)}' is not valid for {match.Groups["symbol"].Value}: {kind} is expected";
        }
        if (message == "Required command was not provided.") return $"'{command}' needs a command";
        // Lists ("Must be one of:\n\t'1'\n\t'3'") on one line: "Must be one of: '1', '3'".
        var parts = message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        string folded = parts.Length <= 1 ? message : parts[0] + " " + string.Join(", ", parts.Skip(1));
        return TerminalText.Escape(folded.TrimEnd('.'));
    }

    /// <summary>The candidate nearest to <paramref name="token"/> (edit distance at most 2, or a unique prefix).</summary>
    internal static string? Closest(string token, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        var prefixed = new List<string>();
        foreach (string candidate in candidates.Distinct(StringComparer.Ordinal))
        {
            if (token.Length >= 2 && candidate.StartsWith(token, StringComparison.OrdinalIgnoreCase)) prefixed.Add(candidate);
            int distance = Distance(token.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (distance < bestDistance)
            {
                best = candidate;
                bestDistance = distance;
            }
        }
        if (bestDistance <= Math.Min(2, Math.Max(1, token.Length / 3))) return best;
        return prefixed.Count == 1 ? prefixed[0] : null;
    }

    /// <summary>Optimal string alignment distance (Levenshtein plus adjacent transpositions).</summary>
    private static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }

    [GeneratedRegex(@"^Cannot parse argument '(?<value>.*)' for (option|command|argument) '(?<symbol>[^']*)' (as expected|of) type '(?<type>[^']*)'", RegexOptions.Singleline)]
    private static partial Regex CannotParse();
}
