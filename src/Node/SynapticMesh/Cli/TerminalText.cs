using System.Globalization;
using System.Text;

namespace SynapticMesh.Cli;

/// <summary>
/// Makes text from other peers (message content, agent and topic names, addresses, pubsub data) safe to print on a
/// terminal: C0 controls (including ESC, BEL, CR, LF and TAB), DEL, C1 controls, bidirectional overrides and lone
/// surrogates are shown as C-style escapes (<c>\e</c>, <c>\n</c>, <c>\u009b</c>...). The result is one line that
/// cannot move the cursor, recolour the terminal, reorder what follows it, or forge another line of output. (A
/// backslash is left as it is: a peer writing a literal <c>\n</c> is harmless, and paths stay readable.)
/// </summary>
public static class TerminalText
{
    /// <summary>The text, escaped when it holds anything unsafe (returned unchanged, without copying, otherwise).</summary>
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text)) return text ?? "";
        int first = IndexOfUnsafe(text);
        if (first < 0) return text;
        var builder = new StringBuilder(text.Length + 16);
        builder.Append(text, 0, first);
        for (int i = first; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                builder.Append(c).Append(text[++i]);
                continue;
            }
            if (!IsUnsafe(c))
            {
                builder.Append(c);
                continue;
            }
            builder.Append(c switch
            {
                '\n' => @"\n",
                '\r' => @"\r",
                '\t' => @"\t",
                '\a' => @"\a",
                '\b' => @"\b",
                '\f' => @"\f",
                '\v' => @"\v",
                '\x1b' => @"\e",
                '\0' => @"\0",
                _ => "\\u" + ((int)c).ToString("x4", CultureInfo.InvariantCulture),
            });
        }
        return builder.ToString();
    }

    /// <summary>Whether <see cref="Escape"/> would change <paramref name="text"/>.</summary>
    public static bool NeedsEscaping(string? text) => !string.IsNullOrEmpty(text) && IndexOfUnsafe(text) >= 0;

    private static int IndexOfUnsafe(string text)
    {
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                i++;
                continue;
            }
            if (IsUnsafe(c)) return i;
        }
        return -1;
    }

    private static bool IsUnsafe(char c) =>
        c < 0x20 || (c >= 0x7F && c <= 0x9F)
        || c is '\u061C' or '\u200E' or '\u200F' || (c >= '\u202A' && c <= '\u202E') || (c >= '\u2066' && c <= '\u2069')
        || c is '\u2028' or '\u2029'
        || char.IsSurrogate(c); // a lone surrogate (pairs were skipped by the callers)
}
