using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Text;
using P2PStack.Encoding;

namespace P2PStack.Addressing;

/// <summary>
/// A self-describing network address (multiformats multiaddr), e.g. <c>/ip4/1.2.3.4/tcp/4001/p2p/12D3Koo…</c>.
/// Immutable; two multiaddrs are equal when their binary forms are equal. Text output is canonical
/// (e.g. <c>/ipfs/</c> prints as <c>/p2p/</c>, certhash as base64url), matching go-multiaddr.
/// </summary>
public sealed class Multiaddr : IEquatable<Multiaddr>
{
    /// <summary>
    /// Longest binary multiaddr accepted by <see cref="Parse"/>, <see cref="Decode(ReadOnlySpan{byte})"/> and the
    /// combining operations. Real addresses are far shorter (a garlic64 one, the largest, is about 400 bytes);
    /// the cap bounds the work an untrusted input can cause. Use the overloads taking a limit for other needs.
    /// Text is limited to four times this many characters.
    /// </summary>
    public const int MaxEncodedLength = 1024;

    /// <summary>The multiaddr with no components, the result of decapsulating everything. Its text is "" and its
    /// binary form is empty; neither can be parsed back (go-multiaddr rejects both too).</summary>
    public static Multiaddr Empty { get; } = new([], []);

    private readonly byte[] bytes;
    private readonly MultiaddrComponent[] components;
    private string? text;
    private int hashCode;

    internal Multiaddr(byte[] bytes, MultiaddrComponent[] components)
    {
        this.bytes = bytes;
        this.components = components;
    }

    /// <summary>Parses text such as <c>/ip4/127.0.0.1/udp/1234/quic-v1</c>.</summary>
    /// <exception cref="MultiaddrException">The text is not a valid multiaddr.</exception>
    public static Multiaddr Parse(string text) => Parse(text, MaxEncodedLength);

    /// <summary>Parses text whose binary form may be up to <paramref name="maxEncodedLength"/> bytes.</summary>
    public static Multiaddr Parse(string text, int maxEncodedLength)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxEncodedLength);
        return MultiaddrCodec.Decode(MultiaddrCodec.ParseToBytes(text, maxEncodedLength), maxEncodedLength);
    }

    /// <summary>Parses text, returning false instead of throwing if it is not a valid multiaddr.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out Multiaddr? multiaddr)
    {
        multiaddr = null;
        if (text is null) return false;
        try
        {
            multiaddr = Parse(text);
            return true;
        }
        catch (MultiaddrException)
        {
            return false;
        }
    }

    /// <summary>Decodes the binary form (concatenated varint code, optional varint length, value).</summary>
    /// <exception cref="MultiaddrException">Unknown code, truncation, non-minimal varint, invalid value, too long, empty.</exception>
    public static Multiaddr Decode(ReadOnlySpan<byte> bytes) => Decode(bytes, MaxEncodedLength);

    /// <summary>Decodes a binary form of up to <paramref name="maxEncodedLength"/> bytes.</summary>
    public static Multiaddr Decode(ReadOnlySpan<byte> bytes, int maxEncodedLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxEncodedLength);
        return MultiaddrCodec.Decode(bytes, maxEncodedLength);
    }

    /// <summary>Decodes the binary form, returning false instead of throwing if it is invalid.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> bytes, [NotNullWhen(true)] out Multiaddr? multiaddr)
    {
        try
        {
            multiaddr = Decode(bytes);
            return true;
        }
        catch (MultiaddrException)
        {
            multiaddr = null;
            return false;
        }
    }

    /// <summary>A multiaddr made of these components in order.</summary>
    /// <exception cref="MultiaddrException">A component follows a path protocol, or the result is too long.</exception>
    public static Multiaddr FromComponents(IEnumerable<MultiaddrComponent> components)
    {
        ArgumentNullException.ThrowIfNull(components);
        MultiaddrComponent[] array = [.. components];
        if (array.Length == 0) return Empty;
        int length = 0;
        for (int i = 0; i < array.Length; i++)
        {
            ArgumentNullException.ThrowIfNull(array[i], nameof(components));
            if (i > 0 && array[i - 1].Protocol.IsPath)
                throw new MultiaddrException($"/{array[i].Protocol.Name} cannot follow /{array[i - 1].Protocol.Name}, which must be last");
            length += array[i].Bytes.Length;
        }
        if (length > MaxEncodedLength)
            throw new MultiaddrException($"multiaddr would have {length} bytes, more than the limit of {MaxEncodedLength}");
        var buffer = new byte[length];
        int offset = 0;
        foreach (MultiaddrComponent component in array)
        {
            component.Bytes.Span.CopyTo(buffer.AsSpan(offset));
            offset += component.Bytes.Length;
        }
        return new Multiaddr(buffer, array);
    }

    /// <summary>The multiaddrs one after another (empty ones add nothing).</summary>
    public static Multiaddr Join(params Multiaddr[] multiaddrs)
    {
        ArgumentNullException.ThrowIfNull(multiaddrs);
        if (multiaddrs.Length == 1) return multiaddrs[0] ?? throw new ArgumentNullException(nameof(multiaddrs));
        return FromComponents(multiaddrs.SelectMany(m => (m ?? throw new ArgumentNullException(nameof(multiaddrs))).components));
    }

    /// <summary>Binary form; do not modify.</summary>
    public ReadOnlyMemory<byte> Bytes => bytes;

    /// <summary>A copy of the binary form.</summary>
    public byte[] ToBytes() => (byte[])bytes.Clone();

    public IReadOnlyList<MultiaddrComponent> Components => components;

    /// <summary>True for <see cref="Empty"/>.</summary>
    public bool IsEmpty => components.Length == 0;

    /// <summary>This address followed by <paramref name="inner"/>: <c>/ip4/1.2.3.4</c> + <c>/tcp/80</c>.</summary>
    public Multiaddr Encapsulate(Multiaddr inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        if (inner.IsEmpty) return this;
        if (IsEmpty) return inner;
        return FromComponents(components.Concat(inner.components));
    }

    /// <summary>This address followed by the parsed <paramref name="inner"/>.</summary>
    public Multiaddr Encapsulate(string inner) => Encapsulate(Parse(inner));

    /// <summary>
    /// Everything before the last occurrence of <paramref name="outer"/> (matched component by component), as
    /// go-multiaddr does; this address unchanged if it does not occur; <see cref="Empty"/> if it occurs at the start.
    /// </summary>
    public Multiaddr Decapsulate(Multiaddr outer)
    {
        ArgumentNullException.ThrowIfNull(outer);
        if (outer.IsEmpty) return this;
        for (int start = components.Length - outer.components.Length; start >= 0; start--)
        {
            if (components.AsSpan(start, outer.components.Length).SequenceEqual(outer.components))
                return Take(start);
        }
        return this;
    }

    /// <summary>Decapsulates the parsed <paramref name="outer"/>.</summary>
    public Multiaddr Decapsulate(string outer) => Decapsulate(Parse(outer));

    /// <summary>Everything before the last component with protocol <paramref name="code"/>, as js-multiaddr's
    /// decapsulateCode; this address unchanged if there is none.</summary>
    public Multiaddr DecapsulateCode(int code)
    {
        for (int i = components.Length - 1; i >= 0; i--)
        {
            if (components[i].Protocol.Code == code) return Take(i);
        }
        return this;
    }

    private Multiaddr Take(int count)
    {
        if (count == 0) return Empty;
        if (count == components.Length) return this;
        int length = 0;
        for (int i = 0; i < count; i++) length += components[i].Bytes.Length;
        return new Multiaddr(bytes.AsSpan(0, length).ToArray(), components[..count]);
    }

    /// <summary>True when some component has this protocol.</summary>
    public bool Has(MultiaddrProtocol protocol)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        return Has(protocol.Code);
    }

    /// <summary>True when some component has this protocol code.</summary>
    public bool Has(int code) => Find(code) is not null;

    /// <summary>Text value of the first component with this protocol ("" if it has no value), or null if absent.</summary>
    public string? ValueOf(MultiaddrProtocol protocol)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        return ValueOf(protocol.Code);
    }

    /// <summary>Text value of the first component with this code ("" if it has no value), or null if absent.</summary>
    public string? ValueOf(int code) => Find(code)?.Value;

    /// <summary>The first component with this protocol code, or null.</summary>
    public MultiaddrComponent? Find(int code)
    {
        foreach (MultiaddrComponent component in components)
        {
            if (component.Protocol.Code == code) return component;
        }
        return null;
    }

    /// <summary>
    /// The peer id named by the last <c>/p2p</c> component, or null when there is none.
    /// </summary>
    /// <exception cref="P2PStack.Identity.PeerIdException">The component holds a multihash that is no valid peer id.</exception>
    public P2PStack.Identity.PeerId? GetPeerId()
    {
        for (int i = components.Length - 1; i >= 0; i--)
        {
            if (components[i].Protocol == MultiaddrProtocols.P2P)
                return P2PStack.Identity.PeerId.FromBytes(components[i].RawValue.Span);
        }
        return null;
    }

    /// <summary>The multihash of the last /p2p component (the peer the address leads to), or null.</summary>
    public Multihash? PeerIdMultihash
    {
        get
        {
            for (int i = components.Length - 1; i >= 0; i--)
            {
                if (components[i].Protocol == MultiaddrProtocols.P2P) return Multihash.Decode(components[i].RawValue.Span);
            }
            return null;
        }
    }

    /// <summary>The address of the first /ip4 or /ip6 component, or null.</summary>
    public IPAddress? GetIPAddress()
    {
        foreach (MultiaddrComponent component in components)
        {
            if (component.Protocol == MultiaddrProtocols.Ip4 || component.Protocol == MultiaddrProtocols.Ip6)
                return component.ToIPAddress();
        }
        return null;
    }

    /// <summary>Canonical text form.</summary>
    public override string ToString()
    {
        if (text is not null) return text;
        var builder = new StringBuilder(bytes.Length * 2);
        foreach (MultiaddrComponent component in components) component.AppendTo(builder);
        return text = builder.ToString();
    }

    public bool Equals(Multiaddr? other) =>
        other is not null && (ReferenceEquals(this, other) || bytes.AsSpan().SequenceEqual(other.bytes));

    public override bool Equals(object? obj) => Equals(obj as Multiaddr);

    public override int GetHashCode()
    {
        if (hashCode != 0) return hashCode;
        var hash = new HashCode();
        hash.AddBytes(bytes);
        int value = hash.ToHashCode();
        return hashCode = value == 0 ? 1 : value;
    }

    public static bool operator ==(Multiaddr? left, Multiaddr? right) => left is null ? right is null : left.Equals(right);
    public static bool operator !=(Multiaddr? left, Multiaddr? right) => !(left == right);
}
