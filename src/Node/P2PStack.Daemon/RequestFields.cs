using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Encoding;
using P2PStack.Identity;

namespace P2PStack.Daemon;

/// <summary>Decodes and checks the fields of control requests; anything wrong is a <see cref="DaemonRequestException"/>.</summary>
internal static class RequestFields
{
    /// <summary>Longest protocol id accepted in a request (multistream-select's own limit is larger, ids are short).</summary>
    public const int MaxProtocolLength = 1024;

    /// <summary>Protocol ids one request may name.</summary>
    public const int MaxProtocols = 64;

    /// <summary>Addresses one request may name.</summary>
    public const int MaxAddresses = 128;

    public static T Require<T>(T? value, string name) where T : class =>
        value ?? throw new DaemonRequestException($"invalid request: {name} is missing");

    public static PeerId Peer(ByteString bytes, string name)
    {
        if (bytes.IsEmpty) throw new DaemonRequestException($"invalid request: {name} is missing");
        try
        {
            return PeerId.FromBytes(bytes.Span);
        }
        catch (P2PFormatException e)
        {
            throw new DaemonRequestException($"invalid {name}: {e.Message}", e);
        }
    }

    public static Multiaddr Address(ByteString bytes, string name)
    {
        try
        {
            return Multiaddr.Decode(bytes.Span);
        }
        catch (P2PFormatException e)
        {
            throw new DaemonRequestException($"invalid {name}: {e.Message}", e);
        }
    }

    /// <summary>Dialable addresses of <paramref name="peer"/>: without a /p2p suffix naming it; another peer's is refused.</summary>
    public static List<Multiaddr> PeerAddresses(IReadOnlyList<ByteString> raw, PeerId peer, string name)
    {
        if (raw.Count > MaxAddresses) throw new DaemonRequestException($"invalid request: more than {MaxAddresses} {name}");
        var addresses = new List<Multiaddr>(raw.Count);
        foreach (var bytes in raw)
        {
            var address = Address(bytes, name);
            var last = address.Components.Count > 0 ? address.Components[^1] : null;
            if (last?.Protocol == MultiaddrProtocols.P2P)
            {
                if (address.GetPeerId() != peer) throw new DaemonRequestException($"invalid {name}: {address} names another peer than {peer}");
                address = Multiaddr.FromComponents(address.Components.Take(address.Components.Count - 1));
            }
            if (address.IsEmpty) throw new DaemonRequestException($"invalid {name}: an address is empty");
            addresses.Add(address);
        }
        return addresses;
    }

    public static IReadOnlyList<string> Protocols(IReadOnlyList<string> protocols, string name)
    {
        if (protocols.Count == 0) throw new DaemonRequestException($"invalid request: no {name}");
        if (protocols.Count > MaxProtocols) throw new DaemonRequestException($"invalid request: more than {MaxProtocols} {name}");
        foreach (string protocol in protocols)
        {
            if (protocol.Length == 0 || protocol.Length > MaxProtocolLength || protocol[0] != '/' || protocol.Any(char.IsControl))
                throw new DaemonRequestException($"invalid {name}: '{Printable(protocol)}' is not a protocol id");
        }
        return [.. protocols];
    }

    public static Cid Cid(bool present, ByteString bytes)
    {
        if (!present || bytes.IsEmpty) throw new DaemonRequestException("invalid request: cid is missing");
        try
        {
            return Encoding.Cid.Decode(bytes.Span);
        }
        catch (P2PFormatException e)
        {
            throw new DaemonRequestException($"invalid cid: {e.Message}", e);
        }
    }

    public static byte[] Bytes(bool present, ByteString bytes, string name)
    {
        if (!present || bytes.IsEmpty) throw new DaemonRequestException($"invalid request: {name} is missing");
        return bytes.ToByteArray();
    }

    /// <summary>The request's timeout in seconds (the spec's unit), else the default; capped.</summary>
    public static TimeSpan Timeout(bool present, long seconds, DaemonOptions options)
    {
        if (!present || seconds <= 0) return options.DefaultOperationTimeout;
        return seconds >= options.MaxOperationTimeout.TotalSeconds ? options.MaxOperationTimeout : TimeSpan.FromSeconds(seconds);
    }

    private static string Printable(string text) =>
        new([.. text.Take(64).Select(c => char.IsControl(c) ? '?' : c)]);
}
