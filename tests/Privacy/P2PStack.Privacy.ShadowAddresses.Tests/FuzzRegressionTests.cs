namespace P2PStack.Privacy.ShadowAddresses.Tests;

/// <summary>An input the shadow-descriptor fuzz target found (fuzz/README.md): an expiry past year 9999 made
/// <see cref="ShadowDescriptor.Verify"/> throw ArgumentOutOfRangeException instead of its typed refusal.</summary>
public sealed class FuzzRegressionTests
{
    // As the target splits it: first byte the DHT key's length, then the key, then the value; checked at the target's
    // fixed clock with one-hour periods.
    private const string Input = "292f736861646f772f03d3bbc87eb0665237b081855406fe383fe40ebffd558ebd3443c3d71235f2c7585348443103d3bbc87eb0665237b081855406fe383fe40ebffd558ebd3443c3d71235f2c7580000000000000e10000000000007a120000000000000000100000b006b49d908021c7fee5419a8e8b00953fd173a2d5755db5936643a0023feb7c6e439e348697705520a95438c945fe211fc1dbda5cc1112a50565fcc40b3bcc35fa97b9cb180264cb8eb04a20bcec88a82c8087e5ea5ca4c303c3680e92e62e0c2764946d6aee8b2eca423614a442807141e05ae71f20e1a4b3353525611ff47667d197198a0f551a9bebc7fd55fed8a21cd544f3d91d45e859767a35d662ab792efaf6966aedd9490a9899e0659d8ee64899c2a4a485c25f6075477f54633f7f4613353c1db2e0beef2fdb35e255026b6a000bf5914fe6312e4b6ec59fdcfd5d4f1d5ad73d6f54e8f93864729eb556a17e510f7571c6455567b2cfb6acea239703402c2c5a4e465959e5cb35acba342cac7e498acf9a2510beb48cbc4d08c6e45188dbfc49bbc22f9abc59dcbdea5fb1937924d746051a622e1f35eca788e8e915a7b07b55e1991b89b5d2d627ecd5d5a9d3a7d737d418749b9931ad1b62a475e66303473bc315eb828e5dcb318ee894ad191143a93f0a7a35405fc4dde52c966c5a053209031d4ed952bd162e8e4bcc39ddf2701928328c7fe9d7a6624209d3e0f447c2f99e10af103616011efd93207810472170b8305a92be208f4e74c2c2461961b4e6dc2f1c597d5775c009c965cc58600df77ac9d67b557abe11d36fa3bebc447b736f379593214c076553a220e2f1fcb5790389f913bbb565428896f557c4bd417cde373b4d587477b2ca184eb08dff1d26c5acdd70d1a413f9fb4411e8ca19fe060b2b315b27bc9c2aa1ad0522309a8b493e5fed102ff3735aae018c12567d73d94d319124f384c02b65ccd56cbd6e056f52a8cfd37970b819c78f7202b442";

    [Fact]
    public void An_expiry_beyond_what_a_date_can_hold_is_refused_typed()
    {
        byte[] input = Convert.FromHexString(Input);
        int keyLength = Math.Min(input[0], input.Length - 1);
        var now = DateTimeOffset.FromUnixTimeSeconds(1_800_000_000);
        var error = Assert.Throws<ShadowFormatException>(() =>
            ShadowDescriptor.Verify(input.AsSpan(1, keyLength), input.AsSpan(1 + keyLength), now, TimeSpan.FromHours(1)));
        Assert.Contains("expiry", error.Message, StringComparison.Ordinal);
    }
}
