using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Globalization;
using System.Threading.Channels;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Host.Tests;

/// <summary>
/// A virtual transport for tests: each connection is a stream (<see cref="Protocol"/>) of a host connection to the
/// peer that listens, as a relay circuit is a stream of a connection to the relay. Addresses are
/// <c>/p2p/&lt;host&gt;/x-stream/&lt;listener id&gt;</c>. It is a transport and the stream's handler at once, and it depends
/// on the host, so it only works because the host resolves transports lazily.
/// </summary>
public sealed class StreamTransport(IPeerHost host) : ITransport, IProtocolHandler
{
    public const string Protocol = "/test/x-stream/1.0.0";

    /// <summary>The address protocol, registered by this test module (private-use code, 64-bit listener id).</summary>
    public static readonly MultiaddrProtocol Marker =
        MultiaddrProtocols.Register(new MultiaddrProtocol(0x3f0202, "x-stream", 64, new IdCodec()));

    private static long s_nextId;
    private readonly ConcurrentDictionary<ulong, Listener> _listeners = new();

    /// <summary>A listen address that picks a free id.</summary>
    public static Multiaddr AnyListenAddress => Address(null, 0);

    public string Name => "x-stream";

    public IReadOnlyList<string> Protocols { get; } = [Protocol];

    public bool CanDial(Multiaddr address) =>
        address.Components is [{ Protocol.Code: 421 }, var id] && id.Protocol == Marker && IdOf(id) != 0;

    public bool CanListen(Multiaddr address) => address.Components is [var id] && id.Protocol == Marker;

    public async ValueTask<IRawConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        if (!CanDial(address)) throw new ArgumentException($"the stream transport cannot dial {address}", nameof(address));
        cancellationToken.ThrowIfCancellationRequested();
        var peer = address.GetPeerId()!;
        ulong localId = NextId();
        var stream = await host.OpenStreamAsync(peer, [Protocol], cancellationToken).ConfigureAwait(false);
        try
        {
            var header = new byte[16];
            BinaryPrimitives.WriteUInt64BigEndian(header, IdOf(address.Components[1]));
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), localId);
            await stream.Output.WriteAsync(header, cancellationToken).ConfigureAwait(false);
            // The listener acknowledges with one byte, or resets the stream when nothing listens there.
            var ack = await stream.Input.ReadAtLeastAsync(1, cancellationToken).ConfigureAwait(false);
            if (ack.Buffer.IsEmpty) throw new IOException($"connection refused: nothing listens on {address}");
            stream.Input.AdvanceTo(ack.Buffer.GetPosition(1));
            return new StreamRawConnection(stream, Direction.Outbound, Address(host.PeerId, localId), address);
        }
        catch
        {
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask<IListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        if (!CanListen(address)) throw new ArgumentException($"the stream transport cannot listen on {address}", nameof(address));
        cancellationToken.ThrowIfCancellationRequested();
        ulong id = IdOf(address.Components[0]) is var requested and not 0 ? requested : NextId();
        var listener = new Listener(this, id, Address(host.PeerId, id));
        if (!_listeners.TryAdd(id, listener)) throw new IOException($"address in use: {address}");
        return ValueTask.FromResult<IListener>(listener);
    }

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        var header = await stream.Input.ReadAtLeastAsync(16, cancellationToken).ConfigureAwait(false);
        if (header.Buffer.Length < 16)
        {
            stream.Reset();
            return;
        }
        byte[] bytes = System.Buffers.BuffersExtensions.ToArray(header.Buffer.Slice(0, 16));
        stream.Input.AdvanceTo(header.Buffer.GetPosition(16));
        ulong target = BinaryPrimitives.ReadUInt64BigEndian(bytes);
        ulong source = BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(8));
        if (!_listeners.TryGetValue(target, out var listener))
        {
            stream.Reset();
            return;
        }
        await stream.Output.WriteAsync(new byte[] { 1 }, cancellationToken).ConfigureAwait(false);
        var connection = new StreamRawConnection(stream, Direction.Inbound, listener.ListenAddress,
            Address(stream.Connection.RemotePeer, source));
        if (!listener.TryEnqueue(connection))
        {
            connection.Abort();
            return;
        }
        // The stream ends when this handler returns: hold it until the connection is done with it.
        using var abort = cancellationToken.Register(connection.Abort);
        await connection.Completion.ConfigureAwait(false);
    }

    private static ulong NextId() => (ulong)Interlocked.Increment(ref s_nextId);

    private static Multiaddr Address(P2PStack.Identity.PeerId? peer, ulong id)
    {
        var value = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(value, id);
        var component = Multiaddr.FromComponents([MultiaddrComponent.FromRawValue(Marker, value)]);
        return peer is null ? component : Multiaddr.Parse($"/p2p/{peer}").Encapsulate(component);
    }

    private static ulong IdOf(MultiaddrComponent component) => BinaryPrimitives.ReadUInt64BigEndian(component.RawValue.Span);

    private sealed class Listener(StreamTransport transport, ulong id, Multiaddr address) : IListener
    {
        private readonly Channel<StreamRawConnection> _accepted = Channel.CreateBounded<StreamRawConnection>(64);

        public Multiaddr ListenAddress { get; } = address;

        public bool TryEnqueue(StreamRawConnection connection) => _accepted.Writer.TryWrite(connection);

        public async ValueTask<IRawConnection> AcceptAsync(CancellationToken cancellationToken)
        {
            try
            {
                return await _accepted.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException e)
            {
                throw new ObjectDisposedException($"the listener on {ListenAddress} was closed", e);
            }
        }

        public ValueTask DisposeAsync()
        {
            transport._listeners.TryRemove(id, out _);
            _accepted.Writer.TryComplete();
            while (_accepted.Reader.TryRead(out var pending)) pending.Abort();
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>A 64-bit id in decimal.</summary>
    private sealed class IdCodec : MultiaddrValueCodec
    {
        public override byte[] Parse(string text)
        {
            if (!ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out ulong id)) throw Error("not a decimal 64-bit id");
            var bytes = new byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(bytes, id);
            return bytes;
        }

        public override string Format(ReadOnlySpan<byte> value) =>
            BinaryPrimitives.ReadUInt64BigEndian(value).ToString(CultureInfo.InvariantCulture);

        public override void Validate(ReadOnlySpan<byte> value)
        {
            if (value.Length != 8) throw Error($"{value.Length} bytes, expected 8");
        }
    }
}
