using System.IO.Pipelines;
using P2PStack.Privacy.Onion;

namespace P2PStack.Fuzz;

/// <summary>
/// The oracle of the onion targets for how circuits end. The relay and the client map an <see cref="IOException"/> or
/// <see cref="ObjectDisposedException"/> to the link closing (<c>link_closed</c>), among them the
/// <c>LinkClosedException</c> a link wraps its completed pipe's <see cref="InvalidOperationException"/> in once this
/// side closed it. The same exception thrown by a bug elsewhere would be classified the same way and go unseen. The targets' links are their own pipes, wrapped here so that every exception
/// a link throws is recorded; an end for such an exception that no link threw is a finding.
/// </summary>
internal sealed class LinkErrors
{
    private readonly HashSet<Exception> _thrown = new(ReferenceEqualityComparer.Instance);
    private readonly List<Exception> _ends = [];

    public PipeReader Reader(PipeReader inner) => new RecordingReader(inner, this);

    public PipeWriter Writer(PipeWriter inner) => new RecordingWriter(inner, this);

    /// <summary>Takes what a circuit's end reported (the relay's or client's <c>CircuitFailure</c> seam).</summary>
    public void Ended(Exception e)
    {
        lock (_ends) _ends.Add(e);
    }

    /// <summary>Throws when a circuit ended on an exception of no documented kind, or on a "link closed" kind that no
    /// link threw.</summary>
    public void Check(string who)
    {
        Exception[] ends;
        lock (_ends) ends = [.. _ends];
        foreach (var e in ends)
        {
            if (e is OnionFormatException or CircuitException or OperationCanceledException or P2PStack.Privacy.Onion.Relay.CircuitEndedException)
                continue;
            // A link's close as the link reports it: the exception a link's pipe threw (the other side's reset, an I/O
            // error, a disposed pipe), or the completed pipe's InvalidOperationException wrapped by the link once this
            // side closed it (LinkClosedException). A bare InvalidOperationException is no close, even from a link: the
            // relay classifies it as internal, the client as a bug; a cancellation or an I/O error that no link threw
            // is a bug classified as an end.
            bool wrapped = e is P2PStack.Privacy.Onion.Wire.LinkClosedException { InnerException: not null };
            var thrown = wrapped ? e.InnerException! : e;
            bool fromLink;
            lock (_thrown) fromLink = _thrown.Contains(thrown);
            bool close = wrapped
                ? thrown is IOException or InvalidOperationException or ObjectDisposedException
                : e is IOException or ObjectDisposedException;
            if (fromLink && close) continue;
            throw new InvalidOperationException(
                $"{who}: a circuit ended on {e.GetType().FullName}{(wrapped ? $" ({thrown.GetType().FullName})" : "")} that {(fromLink ? "is not a link's close" : "no link threw")}: {e.Message}", e);
        }
    }

    private T Record<T>(Func<T> action)
    {
        try
        {
            return action();
        }
        catch (Exception e)
        {
            Thrown(e);
            throw;
        }
    }

    private void Thrown(Exception e)
    {
        lock (_thrown) _thrown.Add(e);
    }

    private sealed class RecordingReader(PipeReader inner, LinkErrors errors) : PipeReader
    {
        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                return await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                errors.Thrown(e);
                throw;
            }
        }

        public override bool TryRead(out ReadResult result)
        {
            try
            {
                return inner.TryRead(out result);
            }
            catch (Exception e)
            {
                errors.Thrown(e);
                throw;
            }
        }

        public override void AdvanceTo(SequencePosition consumed) => errors.Record(() =>
        {
            inner.AdvanceTo(consumed);
            return 0;
        });

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => errors.Record(() =>
        {
            inner.AdvanceTo(consumed, examined);
            return 0;
        });

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);
    }

    private sealed class RecordingWriter(PipeWriter inner, LinkErrors errors) : PipeWriter
    {
        public override void Advance(int bytes) => errors.Record(() =>
        {
            inner.Advance(bytes);
            return 0;
        });

        public override Memory<byte> GetMemory(int sizeHint = 0) => errors.Record(() => inner.GetMemory(sizeHint));

        public override Span<byte> GetSpan(int sizeHint = 0) => errors.Record(() => inner.GetMemory(sizeHint)).Span;

        public override async ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            try
            {
                return await inner.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                errors.Thrown(e);
                throw;
            }
        }

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);
    }
}
