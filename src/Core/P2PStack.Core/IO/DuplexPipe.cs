using System.IO.Pipelines;

namespace P2PStack.IO;

/// <summary>A plain <see cref="IDuplexPipe"/>: one reader, one writer.</summary>
public sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
{
    public PipeReader Input { get; } = input;

    public PipeWriter Output { get; } = output;

    /// <summary>Two connected ends: what one writes, the other reads. Used by the memory transport and tests.</summary>
    public static (DuplexPipe A, DuplexPipe B) CreatePair(PipeOptions? options = null)
    {
        options ??= PipeOptions.Default;
        var aToB = new Pipe(options);
        var bToA = new Pipe(options);
        return (new DuplexPipe(bToA.Reader, aToB.Writer), new DuplexPipe(aToB.Reader, bToA.Writer));
    }
}
