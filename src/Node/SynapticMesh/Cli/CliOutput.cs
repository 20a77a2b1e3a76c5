using System.Text.Json;
using System.Text.Json.Serialization;

namespace SynapticMesh.Cli;

/// <summary>
/// Where a command writes: results on stdout (JSON with --json, text otherwise), notices and errors on stderr,
/// so `--json` output stays parseable.
/// </summary>
public sealed class CliOutput(TextWriter stdout, TextWriter stderr, bool json)
{
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private static readonly JsonSerializerOptions CompactJsonOptions = new(JsonOptions) { WriteIndented = false };

    public bool Json { get; } = json;

    public TextWriter Out { get; } = stdout;

    public TextWriter Error { get; } = stderr;

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

    /// <summary>A side note for people (never on stdout, so JSON consumers are not disturbed).</summary>
    public void Notice(string message)
    {
        Error.WriteLine(message);
        Error.Flush();
    }
}
