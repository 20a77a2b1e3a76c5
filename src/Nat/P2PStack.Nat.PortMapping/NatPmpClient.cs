using System.Buffers.Binary;
using System.Net;

namespace P2PStack.Nat.PortMapping;

/// <summary>A mapping a NAT-PMP or PCP gateway granted.</summary>
/// <param name="Lifetime">The lifetime granted (may be shorter than asked).</param>
/// <param name="Epoch">The gateway's seconds-since-start-of-epoch; a drop means it rebooted and lost its mappings.</param>
public sealed record GatewayMapping(MappingProtocol Protocol, int InternalPort, IPAddress? ExternalAddress, int ExternalPort, TimeSpan Lifetime,
    uint Epoch)
{
    /// <summary>PCP: the nonce that owns the mapping; renewals and deletion repeat it.</summary>
    public ReadOnlyMemory<byte> Nonce { get; init; }
}

/// <summary>NAT-PMP client (RFC 6886): external address, and mapping requests for TCP or UDP ports.</summary>
public sealed class NatPmpClient(PortMappingOptions options, IPAddress gateway)
{
    public const string Name = "NAT-PMP";

    public IPAddress Gateway { get; } = gateway;

    /// <summary>Opcode 0: the gateway's external IPv4 address.</summary>
    public async Task<(IPAddress Address, uint Epoch)> GetExternalAddressAsync(CancellationToken cancellationToken)
    {
        byte[] answer = await GatewayUdp.ExchangeAsync(Name, Gateway, [0, 0], a => a.Length >= 2 && a[0] == 0 && a[1] == 128,
            options, cancellationToken).ConfigureAwait(false);
        return ParseExternalAddress(answer);
    }

    internal static (IPAddress Address, uint Epoch) ParseExternalAddress(ReadOnlySpan<byte> answer)
    {
        CheckResult(answer, 128);
        if (answer.Length != 12) throw new PortMappingFormatException($"NAT-PMP external address answer has {answer.Length} bytes, not 12");
        return (new IPAddress(answer.Slice(8, 4)), BinaryPrimitives.ReadUInt32BigEndian(answer[4..]));
    }

    /// <summary>Opcode 1 (UDP) or 2 (TCP): maps the internal port; a zero lifetime deletes the mapping.</summary>
    public async Task<GatewayMapping> MapAsync(MappingProtocol protocol, int internalPort, int suggestedExternalPort, TimeSpan lifetime,
        CancellationToken cancellationToken)
    {
        byte opcode = protocol == MappingProtocol.Udp ? (byte)1 : (byte)2;
        byte[] request = new byte[12];
        request[1] = opcode;
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(4), (ushort)internalPort);
        BinaryPrimitives.WriteUInt16BigEndian(request.AsSpan(6), (ushort)suggestedExternalPort);
        BinaryPrimitives.WriteUInt32BigEndian(request.AsSpan(8), (uint)lifetime.TotalSeconds);
        byte[] answer = await GatewayUdp.ExchangeAsync(Name, Gateway, request,
            a => a.Length >= 2 && a[0] == 0 && a[1] == 128 + opcode,
            options, cancellationToken).ConfigureAwait(false);
        return ParseMapping(answer, protocol);
    }

    internal static GatewayMapping ParseMapping(ReadOnlySpan<byte> answer, MappingProtocol protocol)
    {
        byte opcode = protocol == MappingProtocol.Udp ? (byte)1 : (byte)2;
        CheckResult(answer, 128 + opcode);
        if (answer.Length != 16) throw new PortMappingFormatException($"NAT-PMP mapping answer has {answer.Length} bytes, not 16");
        return new GatewayMapping(protocol, BinaryPrimitives.ReadUInt16BigEndian(answer[8..]), null,
            BinaryPrimitives.ReadUInt16BigEndian(answer[10..]), TimeSpan.FromSeconds(BinaryPrimitives.ReadUInt32BigEndian(answer[12..])),
            BinaryPrimitives.ReadUInt32BigEndian(answer[4..]));
    }

    private static void CheckResult(ReadOnlySpan<byte> answer, int opcode)
    {
        if (answer.Length < 4) throw new PortMappingFormatException($"NAT-PMP answer has {answer.Length} bytes");
        if (answer[0] != 0 || answer[1] != opcode) throw new PortMappingFormatException($"NAT-PMP answer has version {answer[0]} opcode {answer[1]}, expected 0 and {opcode}");
        int result = BinaryPrimitives.ReadUInt16BigEndian(answer[2..]);
        if (result != 0) throw new PortMappingRefusedException(Name, result, ResultName(result));
    }

    public static string ResultName(int code) => code switch
    {
        1 => "Unsupported Version",
        2 => "Not Authorized/Refused",
        3 => "Network Failure",
        4 => "Out of resources",
        5 => "Unsupported opcode",
        _ => "unknown result code",
    };
}
