using System.Buffers;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace P2PStack.Transports.Tcp;

/// <summary>
/// Sends several buffers with one system call (sendmsg with an iovec), reusing one
/// <see cref="SocketAsyncEventArgs"/>: what one flush made available goes out at once, however the pipe split it
/// into segments (a large Noise message and a short one often sit in different segments; sent one by one, the short
/// one became its own TCP segment). One send at a time; completes when every byte was sent.
/// </summary>
internal sealed class GatherSend() : SocketAsyncEventArgs(unsafeSuppressExecutionContextFlow: true), IValueTaskSource<int>
{
    /// <summary>Buffers per system call (well under IOV_MAX, 1024 on Linux).</summary>
    public const int MaxBuffers = 64;

    private readonly List<ArraySegment<byte>> _buffers = new(MaxBuffers);
    private ManualResetValueTaskSourceCore<int> _completion;

    /// <summary>Whether every segment of <paramref name="data"/> is array-backed (pipe memory from the array pool is),
    /// so that it can be sent this way.</summary>
    public static bool CanSend(in ReadOnlySequence<byte> data)
    {
        foreach (var segment in data)
        {
            if (!MemoryMarshal.TryGetArray(segment, out _))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Sends up to <see cref="MaxBuffers"/> leading segments of <paramref name="data"/>; returns the bytes sent.</summary>
    public ValueTask<int> SendAsync(Socket socket, in ReadOnlySequence<byte> data)
    {
        _buffers.Clear();
        foreach (var segment in data)
        {
            if (segment.IsEmpty)
            {
                continue;
            }

            MemoryMarshal.TryGetArray(segment, out ArraySegment<byte> array);
            _buffers.Add(array);
            if (_buffers.Count == MaxBuffers)
            {
                break;
            }
        }

        BufferList = _buffers;
        _completion.Reset();
        if (socket.SendAsync(this))
        {
            return new ValueTask<int>(this, _completion.Version);
        }

        return SocketError == SocketError.Success
            ? new ValueTask<int>(BytesTransferred)
            : ValueTask.FromException<int>(new SocketException((int)SocketError));
    }

    protected override void OnCompleted(SocketAsyncEventArgs e)
    {
        if (SocketError == SocketError.Success)
        {
            _completion.SetResult(BytesTransferred);
        }
        else
        {
            _completion.SetException(new SocketException((int)SocketError));
        }
    }

    int IValueTaskSource<int>.GetResult(short token) => _completion.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _completion.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token,
        ValueTaskSourceOnCompletedFlags flags) => _completion.OnCompleted(continuation, state, token, flags);
}
