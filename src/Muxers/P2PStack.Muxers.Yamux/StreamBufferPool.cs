using System.Buffers;

namespace P2PStack.Muxers.Yamux;

/// <summary>
/// Fixed-size blocks for the streams' receive pipes, shared by every session in the process. A stream's reader
/// usually takes everything buffered at once, so blocks come back in bursts of up to a whole receive window;
/// <see cref="ArrayPool{T}.Shared"/> keeps only a few arrays per size and drops the rest, which turned a bulk
/// transfer into an allocation of about half the bytes received. This pool keeps up to
/// <see cref="MaxRetainedBlocks"/> idle blocks (with their owner objects, so a rent allocates nothing).
/// </summary>
internal sealed class StreamBufferPool : MemoryPool<byte>
{
    /// <summary>Block size: the receive pipes' segment size.</summary>
    public const int BlockSize = 16 * 1024;

    /// <summary>Idle blocks kept for reuse (8 MiB); a burst beyond it goes back to the GC.</summary>
    public const int MaxRetainedBlocks = 512;

    public static new readonly StreamBufferPool Shared = new();

    private readonly Lock _gate = new();
    private readonly Block[] _idle = new Block[MaxRetainedBlocks];
    private int _idleCount;

    public override int MaxBufferSize => BlockSize;

    /// <summary>Idle blocks held now (for tests).</summary>
    internal int IdleCount
    {
        get
        {
            lock (_gate)
            {
                return _idleCount;
            }
        }
    }

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        Block? block = null;
        lock (_gate)
        {
            if (_idleCount > 0)
            {
                block = _idle[--_idleCount];
                _idle[_idleCount] = null!;
            }
        }

        block ??= new Block(this);
        block.Rented = true;
        return block;
    }

    private void Return(Block block)
    {
        lock (_gate)
        {
            if (_idleCount < MaxRetainedBlocks)
            {
                _idle[_idleCount++] = block;
            }
        }
    }

    protected override void Dispose(bool disposing)
    {
        // Shared for the process lifetime: nothing to release.
    }

    private sealed class Block(StreamBufferPool pool) : IMemoryOwner<byte>
    {
        private readonly byte[] _array = GC.AllocateUninitializedArray<byte>(BlockSize);

        public bool Rented { get; set; }

        public Memory<byte> Memory
        {
            get
            {
                ObjectDisposedException.ThrowIf(!Rented, this);
                return _array;
            }
        }

        public void Dispose()
        {
            if (!Rented)
            {
                return;
            }

            Rented = false;
            pool.Return(this);
        }
    }
}
