using System.Text.Json;

namespace P2PStack.Benchmarks.Stack;

/// <summary>Each measuring command prints its result as one JSON line on stdout (the last line).</summary>
internal static class StackJson
{
    private static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static void Write(object value) => Console.WriteLine(JsonSerializer.Serialize(value, Options));

    public static double[] Doubles(JsonElement element, string name) =>
        [.. element.GetProperty(name).EnumerateArray().Select(e => e.GetDouble())];
}
