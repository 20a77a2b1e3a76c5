using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace P2PStack.Nat.PortMapping.Tests;

/// <summary>A mapping request a <see cref="FakeNatPmpGateway"/> received (RFC 6886 section 3.3).</summary>
public sealed record NatPmpRequest(int InternalPort, int SuggestedExternalPort, TimeSpan Lifetime);

/// <summary>
/// A NAT-PMP gateway (RFC 6886) on a random 127/8 address, port 5351, speaking the wire format to the real client: it
/// answers the external address request, grants TCP mappings for at most <see cref="MaxLifetime"/>, records every
/// mapping request, and can refuse with a result code or stay silent. Lets a test drive the port mapping service's schedule on a
/// manual clock, which a real gateway in a namespace cannot share with the test process.
/// </summary>
public sealed class FakeNatPmpGateway : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly ConcurrentQueue<NatPmpRequest> _requests = new();
    private uint _epoch = 1000;

    public FakeNatPmpGateway(IPAddress external)
    {
        External = external;
        Address = FakeLanDevice.RandomLoopbackAddress(); // no clash with another test run binding port 5351
        _socket.Bind(new IPEndPoint(Address, 5351));
        _loop = Task.Run(ServeAsync);
    }

    public IPAddress Address { get; }

    public IPAddress External { get; }

    /// <summary>Longest lifetime granted (shorter requests get what they asked).</summary>
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The external port granted; null grants the one suggested.</summary>
    public int? GrantPort { get; set; }

    /// <summary>A non-zero result code refuses every mapping request (3 = Network Failure).</summary>
    public int RefuseWith { get; set; }

    /// <summary>While set, the gateway reads every request and answers none (as a gateway rebooting or a lost link).</summary>
    public bool Silent { get; set; }

    /// <summary>While set, mapping requests are recorded and answered with a 4-byte answer a client cannot parse.</summary>
    public bool Garbage { get; set; }

    public IReadOnlyList<NatPmpRequest> Requests => [.. _requests];

    private async Task ServeAsync()
    {
        byte[] buffer = new byte[1100];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            byte[]? answer = Answer(buffer.AsSpan(0, received.ReceivedBytes));
            if (answer is not null) await _socket.SendToAsync(answer, SocketFlags.None, received.RemoteEndPoint);
        }
    }

    private byte[]? Answer(ReadOnlySpan<byte> request)
    {
        if (Silent || request.Length < 2 || request[0] != 0) return null;
        uint epoch = Interlocked.Increment(ref _epoch);
        if (request[1] == 0)
        {
            byte[] answer = new byte[12];
            answer[1] = 128;
            BinaryPrimitives.WriteUInt32BigEndian(answer.AsSpan(4), epoch);
            External.TryWriteBytes(answer.AsSpan(8), out _);
            return answer;
        }
        if (request[1] != 2 || request.Length != 12) return null;
        var mapping = new NatPmpRequest(BinaryPrimitives.ReadUInt16BigEndian(request[4..]), BinaryPrimitives.ReadUInt16BigEndian(request[6..]),
            TimeSpan.FromSeconds(BinaryPrimitives.ReadUInt32BigEndian(request[8..])));
        _requests.Enqueue(mapping);
        if (Garbage) return [0, 130, 0, 0];
        byte[] map = new byte[16];
        map[1] = 130;
        BinaryPrimitives.WriteUInt16BigEndian(map.AsSpan(2), (ushort)RefuseWith);
        BinaryPrimitives.WriteUInt32BigEndian(map.AsSpan(4), epoch);
        BinaryPrimitives.WriteUInt16BigEndian(map.AsSpan(8), (ushort)mapping.InternalPort);
        bool delete = mapping.Lifetime == TimeSpan.Zero;
        BinaryPrimitives.WriteUInt16BigEndian(map.AsSpan(10), (ushort)(delete ? 0 : GrantPort ?? mapping.SuggestedExternalPort));
        var lifetime = delete ? TimeSpan.Zero : mapping.Lifetime < MaxLifetime ? mapping.Lifetime : MaxLifetime;
        BinaryPrimitives.WriteUInt32BigEndian(map.AsSpan(12), (uint)lifetime.TotalSeconds);
        return map;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _socket.Dispose();
        _loop.Wait(TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }
}
