namespace P2PStack.Nat.PortMapping.Tests;

/// <summary>Inputs from the port-mapping fuzz targets (fuzz/README.md) that once escaped the decoders' typed errors.</summary>
public class FuzzRegressionTests
{
    private static Dictionary<string, string> Entry(string port, string lease) => new(StringComparer.Ordinal)
    {
        ["NewInternalClient"] = "192.168.1.20",
        ["NewInternalPort"] = port,
        ["NewLeaseDuration"] = lease,
    };

    // upnp-soap: a lease past TimeSpan's range threw ArgumentOutOfRangeException; a negative lease or port, or a
    // port over 65535, were accepted (the fields are ui4 and ui2).
    [Theory]
    [InlineData("4001", "9223372036854775807")]
    [InlineData("4001", "4294967296")]
    [InlineData("4001", "-1")]
    [InlineData("4001", "+3600")]
    [InlineData("-5", "3600")]
    [InlineData("65536", "3600")]
    public void MappingEntryOutOfItsTypesRangeIsAFormatError(string port, string lease) =>
        Assert.Throws<PortMappingFormatException>(() => UpnpGateway.ParseSpecificPortMapping(Entry(port, lease)));

    [Fact]
    public void MappingEntryAtTheEndsOfItsTypesIsRead()
    {
        var (client, port, lease) = UpnpGateway.ParseSpecificPortMapping(Entry("65535", "4294967295"));
        Assert.Equal("192.168.1.20", client.ToString());
        Assert.Equal(65535, port);
        Assert.Equal(TimeSpan.FromSeconds(uint.MaxValue), lease);
    }
}
