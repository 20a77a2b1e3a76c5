using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Relay;

/// <summary>EXTEND: this hop, the last so far, reaches the next relay, relays the client's CREATE and returns CREATED
/// as EXTENDED, or TRUNCATED with a reason when it cannot (the circuit then stays as it is, so that the client may try
/// another relay from here).</summary>
internal sealed partial class RelayCircuit
{
    private int _extending;

    private void StartExtend(byte[] message)
    {
        if (Interlocked.CompareExchange(ref _extending, 1, 0) != 0) throw new OnionFormatException("EXTEND while extending");
        Pb.Extend extend;
        PeerId target;
        try
        {
            extend = Pb.Extend.Parser.ParseFrom(message);
            target = PeerId.FromBytes(extend.PeerId.Span);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or P2PFormatException)
        {
            throw new OnionFormatException($"malformed EXTEND: {e.Message}", e);
        }
        if (extend.Create.Length is 0 or > 4096) throw new OnionFormatException($"EXTEND carries a {extend.Create.Length}-byte CREATE");
        var addresses = new List<Multiaddr>();
        foreach (var bytes in extend.Addresses.Take(16))
            if (Multiaddr.TryDecode(bytes.Span, out var address)) addresses.Add(address);
        var create = extend.Create.ToByteArray();
        RunOwned(token => ExtendAsync(target, addresses, create, token));
    }

    private async Task ExtendAsync(PeerId target, IReadOnlyList<Multiaddr> addresses, byte[] create, CancellationToken token)
    {
        CellLink? next = null;
        DestroyReason failure;
        try
        {
            // A circuit straight back to where it came from, or through this relay twice in a row, serves nobody.
            if (target.Equals(_prevPeer) || target.Equals(_relay.Host.PeerId))
                throw new CircuitEndedException(DestroyReason.Protocol, Side.None, "EXTEND to the previous hop or to itself");
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            timeout.CancelAfter(Options.Relay.ExtendTimeout);
            IStream stream;
            try
            {
                stream = await PeerConnector.OpenStreamAsync(_relay.Host, target, addresses, Options.Relay.AllowPrivateAddresses,
                    Options.ProtocolId, timeout.Token, _relay.Links, writesFirst: true).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
            {
                throw new CircuitEndedException(DestroyReason.ConnectFailed, Side.Next, $"cannot reach the next relay: {e.Message}");
            }
            next = new CellLink(stream, _layout);
            await next.LockAsync(timeout.Token).ConfigureAwait(false);
            try
            {
                int cells = _layout.HandshakeCells(create.Length);
                for (int i = 0; i < cells; i++)
                {
                    CellCodec.WriteHandshake(next.Begin(), _layout, CellCommand.Create, create, i);
                    next.Commit();
                }
                await next.FlushAsync(timeout.Token).ConfigureAwait(false);
            }
            finally
            {
                next.Unlock();
            }
            var created = await ReadCreatedAsync(next, timeout.Token).ConfigureAwait(false);
            // A full fence: an end that read _next before this write has set _ending, which is read here (the backward
            // loop's reads stop only on CancelPendingRead).
            Interlocked.Exchange(ref _next, next);
            if (Volatile.Read(ref _ending) != 0) next.CancelPendingRead();
            _relay.Observer?.CircuitExtended(this, target);
            var started = next;
            RunOwned(t => BackwardLoopAsync(started, t));
            await SendBackwardAsync(RelayCommand.Extended, 0, created, token).ConfigureAwait(false);
            return;
        }
        catch (CircuitEndedException e)
        {
            failure = e.Reason;
        }
        catch (OnionFormatException)
        {
            failure = DestroyReason.Protocol;
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            failure = DestroyReason.Timeout;
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The next link (or the previous one, for EXTENDED) is gone: a closed link is a LinkClosedException.
            if (token.IsCancellationRequested) return;
            failure = DestroyReason.ConnectFailed;
        }
        catch (OperationCanceledException)
        {
            return; // the circuit ended meanwhile
        }
        catch (Exception bug)
        {
            // No documented kind: a bug, not the next relay's failure. The circuit ends with DESTROY internal (logged and
            // counted once), the next link too when it was not yet part of the circuit.
            if (next is not null && !ReferenceEquals(Volatile.Read(ref _next), next))
                await next.CloseAsync(abort: true, Options.TeardownTimeout).ConfigureAwait(false);
            await FailAsync(bug).ConfigureAwait(false);
            return;
        }
        if (next is not null)
        {
            await next.SendControlAsync(CellCommand.Destroy, DestroyReason.Finished, CancellationToken.None).ConfigureAwait(false);
            await next.CloseAsync(abort: false, Options.TeardownTimeout).ConfigureAwait(false);
        }
        Volatile.Write(ref _extending, 0);
        try
        {
            await SendBackwardAsync(RelayCommand.Truncated, 0, new[] { (byte)failure }, token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The circuit is ending anyway (a closed link is a LinkClosedException, an IOException).
        }
        catch (Exception bug)
        {
            await FailAsync(bug).ConfigureAwait(false);
        }
    }

    private async Task<byte[]> ReadCreatedAsync(CellLink next, CancellationToken token)
    {
        var assembler = new HandshakeAssembler(_layout, CellCommand.Created, 4096);
        var cell = new byte[_layout.CellSize];
        while (true)
        {
            if (!await next.ReadCellAsync(cell, token).ConfigureAwait(false))
                throw new CircuitEndedException(DestroyReason.LinkClosed, Side.Next, "the next relay left before CREATED");
            switch ((CellCommand)cell[0])
            {
                case CellCommand.Padding:
                    continue;
                case CellCommand.Created:
                    if (assembler.Add(cell.AsSpan(1)) is { } created) return created;
                    break;
                case CellCommand.Destroy:
                    throw new CircuitEndedException((DestroyReason)cell[1], Side.Next, "the next relay refused CREATE");
                default:
                    throw new OnionFormatException($"{(CellCommand)cell[0]} cell instead of CREATED");
            }
        }
    }
}
