using System.Buffers;
using System.IO.Pipelines;

namespace P2PStack.IO;

/// <summary>
/// A <see cref="PipeWriter"/> that transforms what it writes (an encrypting writer) and can produce its output
/// straight from the caller's bytes, where <c>PipeWriter.Write</c> would first copy them into the writer's buffer.
/// </summary>
public interface IDirectWriter
{
    /// <summary>Writes <paramref name="data"/> as <c>PipeWriter.Write</c> does (buffered, not flushed).</summary>
    void WriteDirect(ReadOnlySpan<byte> data);
}

/// <summary>Writing through <see cref="IDirectWriter"/> where the writer offers it.</summary>
public static class DirectWriterExtensions
{
    /// <summary>Writes <paramref name="data"/> (not flushed): without a copy into the writer's buffer when it is an
    /// <see cref="IDirectWriter"/>, else as <c>PipeWriter.Write</c>.</summary>
    public static void WriteDirect(this PipeWriter writer, ReadOnlySpan<byte> data)
    {
        if (writer is IDirectWriter direct)
        {
            direct.WriteDirect(data);
        }
        else
        {
            writer.Write(data);
        }
    }
}
