using System.Globalization;
using System.Text;

namespace SynapticMesh.Cli;

/// <summary>
/// A list for people (peers, providers, topics). On a terminal it prints as an aligned table with a header; when
/// stdout is piped it prints one tab-separated line per row and no header, so <c>cut</c>/<c>awk</c> work; with
/// <c>--json</c> commands print JSON instead and never build one. Every cell is passed through
/// <see cref="TerminalText.Escape"/>, so remote content in a cell cannot break the layout or the terminal. A cell
/// may hold several lines (e.g. addresses): on a terminal they stack in the column, piped they are joined by commas.
/// </summary>
public sealed class Table(params string[] headers)
{
    private const string ColumnGap = "  ";

    private readonly List<string[][]> _rows = [];

    public IReadOnlyList<string> Headers { get; } = headers;

    public int Count => _rows.Count;

    /// <summary>Adds a row of single-line cells (null prints as empty).</summary>
    public Table Add(params string?[] cells) => AddLines([.. cells.Select(c => c is null ? Array.Empty<string>() : new[] { c })]);

    /// <summary>Adds a row whose cells may each hold several lines.</summary>
    public Table AddLines(params IReadOnlyList<string>[] cells)
    {
        if (cells.Length != Headers.Count) throw new ArgumentException($"a row of this table has {Headers.Count} cells, not {cells.Length}");
        _rows.Add([.. cells.Select(lines => lines.Select(TerminalText.Escape).ToArray())]);
        return this;
    }

    /// <summary>Writes the table: aligned with a header when <paramref name="aligned"/>, else tab-separated.</summary>
    public void WriteTo(TextWriter writer, bool aligned)
    {
        if (!aligned)
        {
            foreach (var row in _rows) writer.WriteLine(string.Join('\t', row.Select(lines => string.Join(',', lines))));
            return;
        }
        int columns = Headers.Count;
        var widths = new int[columns];
        for (int c = 0; c < columns; c++)
        {
            widths[c] = DisplayWidth(Headers[c]);
            foreach (var row in _rows)
                foreach (string line in row[c]) widths[c] = Math.Max(widths[c], DisplayWidth(line));
        }
        WriteLine(writer, [.. Headers], widths);
        foreach (var row in _rows)
        {
            int height = Math.Max(1, row.Max(lines => lines.Length));
            for (int i = 0; i < height; i++) WriteLine(writer, [.. row.Select(lines => i < lines.Length ? lines[i] : "")], widths);
        }
    }

    private static void WriteLine(TextWriter writer, string[] cells, int[] widths)
    {
        var line = new StringBuilder();
        for (int c = 0; c < cells.Length; c++)
        {
            line.Append(cells[c]);
            if (c < cells.Length - 1) line.Append(' ', widths[c] - DisplayWidth(cells[c])).Append(ColumnGap);
        }
        writer.WriteLine(line.ToString().TrimEnd());
    }

    /// <summary>Terminal columns the text takes: combining and format characters take none, East Asian wide ones two.</summary>
    public static int DisplayWidth(string text)
    {
        int width = 0;
        foreach (var rune in text.EnumerateRunes())
        {
            var category = Rune.GetUnicodeCategory(rune);
            if (category is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format) continue;
            width += IsWide(rune.Value) ? 2 : 1;
        }
        return width;
    }

    private static bool IsWide(int c) =>
        c is (>= 0x1100 and <= 0x115F) or (>= 0x2E80 and <= 0x303E) or (>= 0x3041 and <= 0x33FF) or (>= 0x3400 and <= 0x4DBF)
            or (>= 0x4E00 and <= 0x9FFF) or (>= 0xA000 and <= 0xA4CF) or (>= 0xAC00 and <= 0xD7A3) or (>= 0xF900 and <= 0xFAFF)
            or (>= 0xFE30 and <= 0xFE4F) or (>= 0xFF00 and <= 0xFF60) or (>= 0xFFE0 and <= 0xFFE6) or (>= 0x1F300 and <= 0x1F64F)
            or (>= 0x1F900 and <= 0x1F9FF) or (>= 0x20000 and <= 0x3FFFD);
}
