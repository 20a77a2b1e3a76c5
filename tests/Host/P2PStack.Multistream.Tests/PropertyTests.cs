using FsCheck;
using FsCheck.Fluent;

namespace P2PStack.Multistream.Tests;

/// <summary>Whatever the bytes, negotiation ends with a result or a typed error — never a crash or a hang.</summary>
public class PropertyTests
{
    private static readonly byte[] ValidDialerTrace = Scripted.Messages("/multistream/1.0.0", "/na-me", "ls", "/p");
    private static readonly byte[] ValidListenerTrace = Scripted.Messages("/multistream/1.0.0", "na", "/p");

    private static bool IsTyped(Exception e) =>
        e is MultistreamException or EndOfStreamException or TooManyProposalsException or ProtocolNotSupportedException;

    private static bool ListenerEndsCleanly(byte[] input)
    {
        var s = new Scripted();
        Task<string> handle = MultistreamSelect.HandleAsync(s.Local, ["/p"], default).AsTask();
        s.SendAsync(input, complete: true).Wait(Scripted.Patience);
        try
        {
            return handle.WaitAsync(Scripted.Patience).GetAwaiter().GetResult() == "/p";
        }
        catch (Exception e)
        {
            return IsTyped(e);
        }
    }

    private static bool DialerEndsCleanly(byte[] input)
    {
        var s = new Scripted();
        Task<string> select = MultistreamSelect.SelectAsync(s.Local, ["/q", "/p"], default).AsTask();
        s.SendAsync(input, complete: true).Wait(Scripted.Patience);
        try
        {
            string chosen = select.WaitAsync(Scripted.Patience).GetAwaiter().GetResult();
            return chosen is "/p" or "/q";
        }
        catch (Exception e)
        {
            return IsTyped(e);
        }
    }

    [Fact]
    public void Random_bytes_to_listener_give_typed_errors()
    {
        Prop.ForAll<byte[]>(ListenerEndsCleanly).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Random_bytes_to_dialer_give_typed_errors()
    {
        Prop.ForAll<byte[]>(DialerEndsCleanly).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Random_bytes_after_a_valid_header_give_typed_errors()
    {
        byte[] header = Scripted.Message("/multistream/1.0.0");
        Prop.ForAll<byte[]>(tail => ListenerEndsCleanly([.. header, .. tail]) && DialerEndsCleanly([.. header, .. tail]))
            .QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Mutated_and_truncated_valid_traces_give_typed_errors()
    {
        var random = new Random(7_1001);
        for (int i = 0; i < 300; i++)
        {
            foreach (byte[] valid in new[] { ValidDialerTrace, ValidListenerTrace })
            {
                byte[] mutated = valid.ToArray();
                int flips = random.Next(1, 4);
                for (int f = 0; f < flips; f++) mutated[random.Next(mutated.Length)] = (byte)random.Next(256);
                byte[] truncated = valid[..random.Next(valid.Length)];
                Assert.True(ListenerEndsCleanly(mutated), Convert.ToHexString(mutated));
                Assert.True(DialerEndsCleanly(mutated), Convert.ToHexString(mutated));
                Assert.True(ListenerEndsCleanly(truncated), Convert.ToHexString(truncated));
                Assert.True(DialerEndsCleanly(truncated), Convert.ToHexString(truncated));
            }
        }
    }

    [Fact]
    public async Task Valid_traces_negotiate()
    {
        Assert.True(ListenerEndsCleanly(ValidDialerTrace));
        var s = new Scripted();
        Task<string> handle = MultistreamSelect.HandleAsync(s.Local, ["/p"], default).AsTask();
        await s.SendAsync(ValidDialerTrace);
        Assert.Equal("/p", await handle.WaitAsync(Scripted.Patience));
    }
}
