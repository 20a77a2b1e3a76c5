using System.IO.Pipelines;
using P2PStack.IO;

namespace P2PStack.Multistream.Tests;

/// <summary>One end under test and a raw far end the test scripts byte by byte.</summary>
internal sealed class Scripted
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    public Scripted()
    {
        (Local, Remote) = DuplexPipe.CreatePair();
    }

    public DuplexPipe Local { get; }

    public DuplexPipe Remote { get; }

    public static byte[] Message(string text)
    {
        byte[] body = System.Text.Encoding.UTF8.GetBytes(text + "\n");
        return [.. P2PStack.Encoding.Varint.Encode((ulong)body.Length), .. body];
    }

    public static byte[] Messages(params string[] texts) => texts.SelectMany(Message).ToArray();

    public async Task SendAsync(byte[] bytes, bool complete = false)
    {
        await Remote.Output.WriteAsync(bytes);
        if (complete) await Remote.Output.CompleteAsync();
    }

    /// <summary>Reads exactly <paramref name="count"/> bytes the end under test wrote.</summary>
    public async Task<byte[]> ReceiveAsync(int count)
    {
        while (true)
        {
            ReadResult result = await Remote.Input.ReadAsync().AsTask().WaitAsync(Patience);
            if (result.Buffer.Length >= count)
            {
                byte[] bytes = result.Buffer.Slice(0, count).ToArray();
                Remote.Input.AdvanceTo(result.Buffer.GetPosition(count));
                return bytes;
            }
            if (result.IsCompleted) throw new EndOfStreamException($"only {result.Buffer.Length} of {count} bytes arrived");
            Remote.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }

    /// <summary>Everything the end under test wrote until it completed its output.</summary>
    public async Task<byte[]> ReceiveAllAsync()
    {
        var all = new List<byte>();
        while (true)
        {
            ReadResult result = await Remote.Input.ReadAsync().AsTask().WaitAsync(Patience);
            all.AddRange(result.Buffer.ToArray());
            Remote.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) return all.ToArray();
        }
    }
}
