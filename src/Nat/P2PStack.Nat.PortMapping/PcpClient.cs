using System.Buffers.Binary;
using System.Net;
using System.Security.Cryptography;

namespace P2PStack.Nat.PortMapping;

/// <summary>PCP client (RFC 6887): the MAP opcode for TCP or UDP ports over IPv4.</summary>
public sealed class PcpClient(PortMappingOptions options, IPAddress gateway)
{
    public const string Name = "PCP";

    private const byte Version = 2;
    private const byte MapOpcode = 1;
    private const int HeaderLength = 24;
    private const int MapPayloadLength = 36;

    public IPAddress Gateway { get; } = gateway;

    /// <summary>MAP request; a zero lifetime deletes the mapping. Renewing or deleting a mapping must repeat the nonce
    /// that created it (RFC 6887 section 11.2): pass <paramref name="nonce"/> from <see cref="GatewayMapping.Nonce"/>.</summary>
    /// <exception cref="PortMappingRefusedException">Result code other than SUCCESS; code 1 (UNSUPP_VERSION) also when a
    /// NAT-PMP-only gateway answers.</exception>
    public async Task<GatewayMapping> MapAsync(MappingProtocol protocol, int internalPort, int suggestedExternalPort, TimeSpan lifetime,
        CancellationToken cancellationToken, ReadOnlyMemory<byte>? nonce = null)
    {
        var client = GatewayUdp.LocalAddressTowards(Gateway);
        byte[] mappingNonce = nonce?.ToArray() ?? RandomNumberGenerator.GetBytes(12);
        if (mappingNonce.Length != 12) throw new ArgumentException("a PCP mapping nonce has 12 bytes", nameof(nonce));
        byte[] request = BuildMap(client, mappingNonce, protocol, internalPort, suggestedExternalPort, lifetime);
        byte[] answer = await GatewayUdp.ExchangeAsync(Name, Gateway, request,
            a => a.Length >= 4 && ((a[0] == Version && a[1] == (0x80 | MapOpcode)) || a[0] == 0),
            options, cancellationToken).ConfigureAwait(false);
        return ParseMap(answer, mappingNonce, protocol);
    }

    internal static byte[] BuildMap(IPAddress client, ReadOnlySpan<byte> nonce, MappingProtocol protocol, int internalPort,
        int suggestedExternalPort, TimeSpan lifetime)
    {
        byte[] request = new byte[HeaderLength + MapPayloadLength];
        var span = request.AsSpan();
        span[0] = Version;
        span[1] = MapOpcode; // R bit clear: a request
        BinaryPrimitives.WriteUInt32BigEndian(span[4..], (uint)lifetime.TotalSeconds);
        client.MapToIPv6().TryWriteBytes(span[8..24], out _);
        nonce.CopyTo(span[24..]);
        span[36] = protocol == MappingProtocol.Tcp ? (byte)6 : (byte)17;
        BinaryPrimitives.WriteUInt16BigEndian(span[40..], (ushort)internalPort);
        BinaryPrimitives.WriteUInt16BigEndian(span[42..], (ushort)suggestedExternalPort);
        IPAddress.Any.MapToIPv6().TryWriteBytes(span[44..60], out _); // no preference for the external address
        return request;
    }

    internal static GatewayMapping ParseMap(ReadOnlySpan<byte> answer, ReadOnlySpan<byte> nonce, MappingProtocol protocol)
    {
        if (answer.Length >= 4 && answer[0] == 0)
            throw new PortMappingRefusedException(Name, 1, "UNSUPP_VERSION (the gateway speaks NAT-PMP only)");
        if (answer.Length < 4) throw new PortMappingFormatException($"PCP answer has {answer.Length} bytes");
        int result = answer[3];
        if (answer.Length < HeaderLength) throw new PortMappingFormatException($"PCP answer has {answer.Length} bytes, fewer than the header");
        if (result != 0) throw new PortMappingRefusedException(Name, result, ResultName(result));
        if (answer.Length < HeaderLength + MapPayloadLength)
            throw new PortMappingFormatException($"PCP MAP answer has {answer.Length} bytes, fewer than {HeaderLength + MapPayloadLength}");
        if (!answer.Slice(24, 12).SequenceEqual(nonce)) throw new PortMappingFormatException("PCP MAP answer carries another nonce");
        byte expected = protocol == MappingProtocol.Tcp ? (byte)6 : (byte)17;
        if (answer[36] != expected) throw new PortMappingFormatException($"PCP MAP answer is for protocol {answer[36]}, not {expected}");
        var external = new IPAddress(answer.Slice(44, 16));
        if (external.IsIPv4MappedToIPv6) external = external.MapToIPv4();
        return new GatewayMapping(protocol, BinaryPrimitives.ReadUInt16BigEndian(answer[40..]), external,
            BinaryPrimitives.ReadUInt16BigEndian(answer[42..]), TimeSpan.FromSeconds(BinaryPrimitives.ReadUInt32BigEndian(answer[4..])),
            BinaryPrimitives.ReadUInt32BigEndian(answer[8..]))
        {
            Nonce = nonce.ToArray(),
        };
    }

    public static string ResultName(int code) => code switch
    {
        1 => "UNSUPP_VERSION",
        2 => "NOT_AUTHORIZED",
        3 => "MALFORMED_REQUEST",
        4 => "UNSUPP_OPCODE",
        5 => "UNSUPP_OPTION",
        6 => "MALFORMED_OPTION",
        7 => "NETWORK_FAILURE",
        8 => "NO_RESOURCES",
        9 => "UNSUPP_PROTOCOL",
        10 => "USER_EX_QUOTA",
        11 => "CANNOT_PROVIDE_EXTERNAL",
        12 => "ADDRESS_MISMATCH",
        13 => "EXCESSIVE_REMOTE_PEERS",
        _ => "unknown result code",
    };
}
