using System.Buffers.Binary;
using P2PStack.Addressing;

namespace P2PStack.Transports.Memory;

internal static class MemoryAddresses
{
    public static bool TryParse(Multiaddr address, out ulong id)
    {
        id = 0;
        if (address is null || address.Components.Count != 1 || address.Components[0].Protocol != MultiaddrProtocols.Memory) return false;
        id = BinaryPrimitives.ReadUInt64BigEndian(address.Components[0].RawValue.Span);
        return true;
    }

    public static Multiaddr For(ulong id)
    {
        Span<byte> raw = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(raw, id);
        return Multiaddr.FromComponents([MultiaddrComponent.FromRawValue(MultiaddrProtocols.Memory, raw)]);
    }
}
