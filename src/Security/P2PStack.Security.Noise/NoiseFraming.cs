using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using P2PStack.Network;

namespace P2PStack.Security.Noise;

/// <summary>libp2p Noise wire framing: a 2-byte big-endian length, then a Noise message of at most 65535 bytes.</summary>
internal static class NoiseFraming
{
    public const int PrefixLength = 2;
    public const int MaxMessageLength = ushort.MaxValue;

    /// <summary>Largest plaintext in one transport message (65535 minus the 16-byte tag).</summary>
    public const int MaxTransportPlaintext = MaxMessageLength - Protocol.CipherState.TagSize;

    /// <summary>Splits one whole frame off the front of <paramref name="buffer"/>, if it holds one.</summary>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> message)
    {
        message = default;
        if (buffer.Length < PrefixLength)
        {
            return false;
        }

        Span<byte> prefix = stackalloc byte[PrefixLength];
        buffer.Slice(0, PrefixLength).CopyTo(prefix);
        int length = BinaryPrimitives.ReadUInt16BigEndian(prefix);
        if (buffer.Length < PrefixLength + length)
        {
            return false;
        }

        message = buffer.Slice(PrefixLength, length);
        buffer = buffer.Slice(message.End);
        return true;
    }

    /// <summary>Reads one handshake message into a new array.</summary>
    /// <exception cref="HandshakeException">The connection closed before a whole message arrived.</exception>
    public static async ValueTask<byte[]> ReadMessageAsync(PipeReader reader, int messageNumber, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (TryReadFrame(ref buffer, out var message))
            {
                var bytes = message.ToArray();
                reader.AdvanceTo(buffer.Start);
                return bytes;
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                throw new HandshakeException(
                    $"connection closed during the handshake, before message {messageNumber} was complete ({buffer.Length} bytes received)");
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }
}
