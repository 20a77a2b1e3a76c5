using System.IO.Pipelines;
using P2PStack.IO;

namespace P2PStack.Multistream;

/// <summary>
/// multistream-select 1.0 (<c>/multistream/1.0.0</c>): agrees on the protocol spoken over a connection or stream.
/// The dialer proposes protocols in order of preference; the listener echoes the one it accepts or answers <c>na</c>.
/// After a successful negotiation the pipe carries the chosen protocol; bytes the remote sent right after its answer
/// stay in the pipe's reader.
/// </summary>
public static class MultistreamSelect
{
    /// <summary>The protocol id of multistream-select itself, sent first by both sides.</summary>
    public const string ProtocolId = "/multistream/1.0.0";

    /// <summary>Dialer side: proposes <paramref name="protocols"/> one at a time, in order, and returns the first the
    /// listener accepts. Costs one round trip when the first is accepted, one more per refusal.</summary>
    /// <exception cref="ProtocolNotSupportedException">The listener refused every protocol.</exception>
    /// <exception cref="MultistreamException">The listener sent a malformed or unexpected message.</exception>
    /// <exception cref="TimeoutException"><see cref="MultistreamOptions.NegotiationTimeout"/> elapsed.</exception>
    public static async ValueTask<string> SelectAsync(IDuplexPipe pipe, IReadOnlyList<string> protocols,
        CancellationToken cancellationToken, MultistreamOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(pipe);
        ArgumentNullException.ThrowIfNull(protocols);
        options = Prepare(options);
        if (protocols.Count == 0) throw new ArgumentException("at least one protocol must be proposed", nameof(protocols));
        foreach (string protocol in protocols) MultistreamCodec.ValidateLocal(protocol, options, nameof(protocols));

        using var deadline = Deadline.Start(options, cancellationToken);
        try
        {
            MultistreamCodec.WriteToken(pipe.Output, ProtocolId);
            for (int i = 0; i < protocols.Count; i++)
            {
                string protocol = protocols[i];
                MultistreamCodec.WriteToken(pipe.Output, protocol);
                await pipe.Output.FlushAsync(deadline.Token).ConfigureAwait(false);
                if (i == 0) await MultistreamCodec.ExpectHeaderAsync(pipe.Input, options, deadline.Token).ConfigureAwait(false);
                string response = await MultistreamCodec.ReadTokenAsync(pipe.Input, options.MaxMessageLength, deadline.Token).ConfigureAwait(false);
                if (response == protocol) return protocol;
                if (response != MultistreamCodec.NotAvailable) throw UnexpectedResponse(protocol, response);
            }
            throw new ProtocolNotSupportedException(protocols.ToArray());
        }
        catch (OperationCanceledException e) when (deadline.Expired(e))
        {
            throw deadline.TimedOut();
        }
    }

    /// <summary>
    /// Dialer side, optimistic: sends the header and <paramref name="protocol"/> at once and returns without waiting
    /// for the answer, so the caller can write protocol data in the same round trip. The listener's answer is checked
    /// by the first read of the returned pipe (or by <see cref="LazySelectedPipe.ConfirmAsync"/>), which throws
    /// <see cref="ProtocolNotSupportedException"/> if the listener refused. Use it when the listener is known to speak
    /// the protocol.
    /// </summary>
    public static async ValueTask<LazySelectedPipe> SelectLazyAsync(IDuplexPipe pipe, string protocol,
        CancellationToken cancellationToken, MultistreamOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(pipe);
        options = Prepare(options);
        MultistreamCodec.ValidateLocal(protocol, options, nameof(protocol));
        MultistreamCodec.WriteToken(pipe.Output, ProtocolId);
        MultistreamCodec.WriteToken(pipe.Output, protocol);
        await pipe.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
        return new LazySelectedPipe(pipe, protocol, options);
    }

    /// <summary>
    /// Dialer side, optimistic and without a write of its own: puts the header and <paramref name="protocol"/> in the
    /// pipe's output unflushed, so the caller's first flush sends them and its first protocol message in one write (a
    /// security handshake's first message, when the dialer knows the listener speaks <paramref name="protocol"/>).
    /// The answer is checked as for <see cref="SelectLazyAsync"/>.
    /// </summary>
    public static LazySelectedPipe ProposeLazily(IDuplexPipe pipe, string protocol, MultistreamOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(pipe);
        options = Prepare(options);
        MultistreamCodec.ValidateLocal(protocol, options, nameof(protocol));
        MultistreamCodec.WriteToken(pipe.Output, ProtocolId);
        MultistreamCodec.WriteToken(pipe.Output, protocol);
        return new LazySelectedPipe(pipe, protocol, options);
    }

    /// <summary>Listener side: answers proposals until the dialer names a protocol in <paramref name="supported"/>,
    /// and returns it. <c>ls</c> requests are answered with <paramref name="supported"/>.</summary>
    /// <exception cref="TooManyProposalsException">More than <see cref="MultistreamOptions.MaxProposals"/> proposals.</exception>
    /// <exception cref="EndOfStreamException">The dialer closed the stream before choosing.</exception>
    public static ValueTask<string> HandleAsync(IDuplexPipe pipe, IReadOnlyCollection<string> supported,
        CancellationToken cancellationToken, MultistreamOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(supported);
        return HandleAsync(pipe, supported.Contains, supported, cancellationToken, options);
    }

    /// <summary>
    /// Listener side of a protocol whose listener always replies to the dialer's first message (a security
    /// handshake): as <see cref="HandleAsync(IDuplexPipe, IReadOnlyCollection{string}, CancellationToken, MultistreamOptions?)"/>,
    /// but when the dialer's first protocol bytes arrived with its proposal (an optimistic dialer), the acceptance is
    /// left unflushed for the protocol's reply to carry: one write instead of two. Never for a protocol whose
    /// listener may stay silent: a lazy dialer waits for the answer before its FIN.
    /// </summary>
    public static ValueTask<string> HandleBeforeReplyAsync(IDuplexPipe pipe, IReadOnlyCollection<string> supported,
        CancellationToken cancellationToken, MultistreamOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(supported);
        return HandleAsync(pipe, supported.Contains, supported, cancellationToken, options, answerWithReply: static _ => true);
    }

    /// <summary>As <see cref="HandleBeforeReplyAsync(IDuplexPipe, IReadOnlyCollection{string}, CancellationToken, MultistreamOptions?)"/>
    /// for the protocols <paramref name="repliesToFirstMessage"/> names; the acceptance of any other protocol is flushed at
    /// once, as <see cref="HandleAsync(IDuplexPipe, IReadOnlyCollection{string}, CancellationToken, MultistreamOptions?)"/> does.</summary>
    public static ValueTask<string> HandleBeforeReplyAsync(IDuplexPipe pipe, IReadOnlyCollection<string> supported,
        Func<string, bool> repliesToFirstMessage, CancellationToken cancellationToken, MultistreamOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(supported);
        ArgumentNullException.ThrowIfNull(repliesToFirstMessage);
        return HandleAsync(pipe, supported.Contains, supported, cancellationToken, options, repliesToFirstMessage);
    }

    /// <summary>Listener side with a custom matcher (e.g. semantic-version matching); <paramref name="advertised"/> is
    /// what <c>ls</c> reports.</summary>
    public static ValueTask<string> HandleAsync(IDuplexPipe pipe, Func<string, bool> isSupported,
        IEnumerable<string> advertised, CancellationToken cancellationToken, MultistreamOptions? options = null) =>
        HandleAsync(pipe, isSupported, advertised, cancellationToken, options, answerWithReply: null);

    // answerWithReply: the accepted protocols whose acceptance may wait for the protocol's reply; null: none.
    private static async ValueTask<string> HandleAsync(IDuplexPipe pipe, Func<string, bool> isSupported,
        IEnumerable<string> advertised, CancellationToken cancellationToken, MultistreamOptions? options, Func<string, bool>? answerWithReply)
    {
        ArgumentNullException.ThrowIfNull(pipe);
        ArgumentNullException.ThrowIfNull(isSupported);
        ArgumentNullException.ThrowIfNull(advertised);
        options = Prepare(options);

        using var deadline = Deadline.Start(options, cancellationToken);
        try
        {
            // Send our header at once, as go-multistream does: a dialer may wait for it. When the dialer's header and
            // first proposal have both arrived already (a lazy dialer sends them together), the header goes out with
            // the answer, which follows without waiting, in one write instead of two.
            MultistreamCodec.WriteToken(pipe.Output, ProtocolId);
            if (!HasWholeMessages(pipe.Input, 2, options.MaxMessageLength))
                await pipe.Output.FlushAsync(deadline.Token).ConfigureAwait(false);
            await MultistreamCodec.ExpectHeaderAsync(pipe.Input, options, deadline.Token).ConfigureAwait(false);
            for (int round = 0; round < options.MaxProposals; round++)
            {
                string proposal = await MultistreamCodec.ReadTokenAsync(pipe.Input, options.MaxMessageLength, deadline.Token).ConfigureAwait(false);
                if (proposal == MultistreamCodec.List)
                {
                    MultistreamCodec.WriteList(pipe.Output, advertised);
                }
                else if (proposal != ProtocolId && proposal != MultistreamCodec.NotAvailable && isSupported(proposal))
                {
                    MultistreamCodec.WriteToken(pipe.Output, proposal);
                    if (answerWithReply?.Invoke(proposal) != true || !HasBytes(pipe.Input))
                        await pipe.Output.FlushAsync(deadline.Token).ConfigureAwait(false);
                    return proposal;
                }
                else
                {
                    MultistreamCodec.WriteToken(pipe.Output, MultistreamCodec.NotAvailable);
                }
                await pipe.Output.FlushAsync(deadline.Token).ConfigureAwait(false);
            }
            throw new TooManyProposalsException(options.MaxProposals);
        }
        catch (OperationCanceledException e) when (deadline.Expired(e))
        {
            throw deadline.TimedOut();
        }
    }

    /// <summary>Whether <paramref name="count"/> whole length-prefixed messages are readable without waiting (nothing is
    /// consumed; a malformed prefix counts as not readable, for the reads that follow to report).</summary>
    private static bool HasWholeMessages(PipeReader input, int count, int maxLength)
    {
        if (!input.TryRead(out var result)) return false;
        var buffer = result.Buffer;
        bool whole = true;
        try
        {
            for (int i = 0; i < count && whole; i++) whole = LengthPrefixed.TryReadMessage(ref buffer, maxLength, out _);
        }
        catch (P2PFormatException)
        {
            whole = false;
        }
        input.AdvanceTo(result.Buffer.Start);
        return whole;
    }

    /// <summary>Whether bytes are readable without waiting (nothing is consumed).</summary>
    private static bool HasBytes(PipeReader input)
    {
        if (!input.TryRead(out var result)) return false;
        bool any = !result.Buffer.IsEmpty;
        input.AdvanceTo(result.Buffer.Start);
        return any;
    }

    /// <summary>Asks the listener which protocols it supports (<c>ls</c>). The stream stays mid-negotiation
    /// afterwards; callers normally close it.</summary>
    public static async ValueTask<IReadOnlyList<string>> ListAsync(IDuplexPipe pipe, CancellationToken cancellationToken,
        MultistreamOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(pipe);
        options = Prepare(options);
        using var deadline = Deadline.Start(options, cancellationToken);
        try
        {
            MultistreamCodec.WriteToken(pipe.Output, ProtocolId);
            MultistreamCodec.WriteToken(pipe.Output, MultistreamCodec.List);
            await pipe.Output.FlushAsync(deadline.Token).ConfigureAwait(false);
            await MultistreamCodec.ExpectHeaderAsync(pipe.Input, options, deadline.Token).ConfigureAwait(false);
            return await MultistreamCodec.ReadListAsync(pipe.Input, options, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException e) when (deadline.Expired(e))
        {
            throw deadline.TimedOut();
        }
    }

    internal static MultistreamException UnexpectedResponse(string proposed, string response) =>
        new($"listener answered '{MultistreamCodec.Printable(response)}' to the proposal '{proposed}' (expected the same id or 'na')");

    private static MultistreamOptions Prepare(MultistreamOptions? options)
    {
        options ??= MultistreamOptions.Default;
        options.Validate();
        return options;
    }
}
