using System.Text;

namespace P2PStack.Discovery.Mdns.Dns;

/// <summary>
/// Domain names as text: labels joined by '.', no trailing dot, the root is "". A '.' or '\' inside a label is
/// escaped with '\'. Labels are UTF-8 on the wire (RFC 6762 §16), 1 to 63 bytes; a whole name is at most 255 bytes.
/// </summary>
public static class DnsName
{
    public const int MaxLabelLength = 63;

    /// <summary>Wire length limit, counting each label's length byte and the final zero.</summary>
    public const int MaxWireLength = 255;

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <summary>DNS names compare case-insensitively in ASCII (RFC 4343).</summary>
    public static bool Equal(string a, string b)
    {
        if (a.Length != b.Length) return false;
        for (int i = 0; i < a.Length; i++)
        {
            if (a[i] != b[i] && ToLowerAscii(a[i]) != ToLowerAscii(b[i])) return false;
        }
        return true;
    }

    /// <summary>Lower-cased in ASCII only: a key for dictionaries of names.</summary>
    public static string Normalize(string name)
    {
        foreach (char c in name)
        {
            if (c is >= 'A' and <= 'Z') return string.Create(name.Length, name, static (span, n) =>
            {
                for (int i = 0; i < n.Length; i++) span[i] = ToLowerAscii(n[i]);
            });
        }
        return name;
    }

    /// <summary>Joins a label (escaping it) in front of a name.</summary>
    public static string Prepend(string label, string name)
    {
        string escaped = EscapeLabel(label);
        return name.Length == 0 ? escaped : escaped + "." + name;
    }

    /// <summary>Splits a name into UTF-8 labels, checking every limit.</summary>
    /// <exception cref="ArgumentException">The name is not a valid domain name.</exception>
    public static List<byte[]> ToLabels(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var labels = new List<byte[]>();
        if (name.Length == 0) return labels;
        var current = new StringBuilder();
        int wire = 1;
        for (int i = 0; i <= name.Length; i++)
        {
            if (i == name.Length || name[i] == '.')
            {
                byte[] label = System.Text.Encoding.UTF8.GetBytes(current.ToString());
                if (label.Length is 0 or > MaxLabelLength)
                    throw new ArgumentException($"label of {label.Length} bytes in \"{name}\" (must be 1..{MaxLabelLength})", nameof(name));
                wire += label.Length + 1;
                if (wire > MaxWireLength) throw new ArgumentException($"name \"{name}\" exceeds {MaxWireLength} bytes", nameof(name));
                labels.Add(label);
                current.Clear();
            }
            else if (name[i] == '\\')
            {
                if (i + 1 == name.Length || name[i + 1] is not ('.' or '\\'))
                    throw new ArgumentException($"bad escape in \"{name}\"", nameof(name));
                current.Append(name[++i]);
            }
            else
            {
                current.Append(name[i]);
            }
        }
        return labels;
    }

    /// <summary>Decodes one wire label, escaping '.' and '\'.</summary>
    internal static string DecodeLabel(ReadOnlySpan<byte> label)
    {
        string text;
        try
        {
            text = StrictUtf8.GetString(label);
        }
        catch (DecoderFallbackException e)
        {
            throw new DnsFormatException("label is not valid UTF-8", e);
        }
        return EscapeLabel(text);
    }

    private static string EscapeLabel(string label) =>
        label.Contains('.') || label.Contains('\\') ? label.Replace("\\", "\\\\").Replace(".", "\\.") : label;

    private static char ToLowerAscii(char c) => c is >= 'A' and <= 'Z' ? (char)(c + 32) : c;
}
