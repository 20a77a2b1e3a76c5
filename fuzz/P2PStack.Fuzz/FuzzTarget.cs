namespace P2PStack.Fuzz;

/// <summary>
/// One decoder of network input. <see cref="Run"/> feeds it one input; the exceptions the decoder documents for bad
/// input (a <see cref="P2PFormatException"/>, or <see cref="Expected"/>) are the normal outcome, anything else escapes
/// and is a finding (afl-fuzz records it as a crash).
/// </summary>
public sealed class FuzzTarget(string name, string decoders, Action<byte[]> body, Func<IEnumerable<byte[]>> seeds, params Type[] expected)
{
    public string Name { get; } = name;

    /// <summary>What the target decodes, for the listing and the docs.</summary>
    public string Decoders { get; } = decoders;

    public IReadOnlyList<Type> Expected { get; } = expected;

    /// <summary>Valid encodings made by our encoders (and the shared test vectors), the start of the corpus.</summary>
    public IEnumerable<byte[]> Seeds() => seeds();

    public void Run(byte[] input)
    {
        try
        {
            body(input);
        }
        catch (P2PFormatException)
        {
        }
        catch (Exception e) when (Expected.Any(t => t.IsInstanceOfType(e)))
        {
        }
    }
}
