using System.Text.Json;
using System.Text.Json.Serialization;

namespace SynapticMesh.Cli;

/// <summary>
/// Where a command writes: results on stdout (JSON with --json, text otherwise), notices, progress and errors on
/// stderr, so `--json` output stays parseable. Knows whether stdout and stderr are terminals: tables are aligned and
/// progress is drawn only there (see docs/cli.md).
/// </summary>
public sealed class CliOutput(TextWriter stdout, TextWriter stderr, bool json, bool stdoutIsTerminal = false, bool stderrIsTerminal = false)
{
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        // Output for scripts and people, never embedded in HTML: ' ` < > & and non-ASCII text stay as they are (the
        // default escapes them as \uXXXX); control characters, quotes and backslashes are still escaped.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static readonly JsonSerializerOptions CompactJsonOptions = new(JsonOptions) { WriteIndented = false };

    public bool Json { get; } = json;

    public TextWriter Out { get; } = stdout;

    public TextWriter Error { get; } = stderr;

    /// <summary>stdout is a terminal (not a pipe or file): tables are aligned.</summary>
    public bool StdoutIsTerminal { get; } = stdoutIsTerminal;

    /// <summary>stderr is a terminal: progress is drawn.</summary>
    public bool StderrIsTerminal { get; } = stderrIsTerminal;

    /// <summary>Writes <paramref name="result"/> as JSON, or runs <paramref name="text"/> to print it for people.</summary>
    public void Result<T>(T result, Action<TextWriter> text)
    {
        if (Json) Out.WriteLine(JsonSerializer.Serialize(result, JsonOptions));
        else text(Out);
        Out.Flush();
    }

    /// <summary>Like <see cref="Result{T}"/>, but JSON on a single line (for long-running commands read line by line).</summary>
    public void ResultLine<T>(T result, Action<TextWriter> text)
    {
        if (Json) Out.WriteLine(JsonSerializer.Serialize(result, CompactJsonOptions));
        else text(Out);
        Out.Flush();
    }

    /// <summary>
    /// Writes <paramref name="result"/> as JSON, or <paramref name="table"/> for people (aligned on a terminal,
    /// tab-separated when piped), with an optional line before it (on a terminal only) such as a count.
    /// </summary>
    public void Table<T>(T result, Func<Table> table, string? caption = null)
    {
        if (Json)
        {
            Out.WriteLine(JsonSerializer.Serialize(result, JsonOptions));
        }
        else
        {
            if (caption is not null && StdoutIsTerminal) Out.WriteLine(caption);
            table().WriteTo(Out, StdoutIsTerminal);
        }
        Out.Flush();
    }

    /// <summary>A progress line on stderr, or <see cref="Cli.Progress.None"/> when it must not be drawn.</summary>
    public Progress Progress(string status) => Json || !StderrIsTerminal ? Cli.Progress.None : new Progress(Error, status);

    /// <summary>A side note for people (never on stdout, so JSON consumers are not disturbed).</summary>
    public void Notice(string message)
    {
        Error.WriteLine(message);
        Error.Flush();
    }

    /// <summary>A warning: on stderr as text, or as one JSON line <c>{"warning": ...}</c> with --json.</summary>
    public void Warning(string message)
    {
        Error.WriteLine(Json ? JsonSerializer.Serialize(new CliWarning(message), CompactJsonOptions) : $"warning: {message}");
        Error.Flush();
    }

    /// <summary>
    /// A warning that must not be missed (e.g. an unencrypted key): a framed block on stderr, or a JSON warning line.
    /// </summary>
    public void ProminentWarning(string message)
    {
        if (Json)
        {
            Warning(message);
            return;
        }
        const int width = 76;
        string rule = new('*', width);
        Error.WriteLine(rule);
        foreach (string line in Wrap("WARNING: " + message, width - 4)) Error.WriteLine($"* {line.PadRight(width - 4)} *");
        Error.WriteLine(rule);
        Error.Flush();
    }

    private static IEnumerable<string> Wrap(string text, int width)
    {
        var line = new System.Text.StringBuilder();
        foreach (string word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.Length > 0 && line.Length + 1 + word.Length > width)
            {
                yield return line.ToString();
                line.Clear();
            }
            if (line.Length > 0) line.Append(' ');
            line.Append(word);
        }
        if (line.Length > 0) yield return line.ToString();
    }

    /// <summary>Reports a failure on stderr: <c>error: ...</c>, or one JSON line (see <see cref="CliError"/>).</summary>
    public void Failure(string message, string code, int exitCode)
    {
        Error.WriteLine(Json ? JsonSerializer.Serialize(new CliError(message, code, exitCode), CompactJsonOptions) : $"error: {message}");
        Error.Flush();
    }
}

/// <summary>
/// The JSON form of every error (docs/cli.md): one line on stderr, stdout left empty. <see cref="Code"/> is a stable
/// machine-readable reason (<see cref="ErrorCodes"/>), <see cref="ExitCode"/> the process exit code.
/// </summary>
public sealed record CliError(string Error, string Code, int ExitCode);

/// <summary>A warning with --json: one line on stderr.</summary>
public sealed record CliWarning(string Warning);
