using Ascii = System.Text.Encoding;

namespace P2PStack.Security.Pnet.Tests;

public sealed class SwarmKeyTests
{
    [Fact]
    public void Generated_key_file_round_trips()
    {
        var key = SwarmKey.Generate();
        string text = key.ToFileText();
        Assert.StartsWith("/key/swarm/psk/1.0.0/\n/base16/\n", text);
        var parsed = SwarmKey.Parse(Ascii.ASCII.GetBytes(text));
        Assert.Equal(key.Key.ToArray(), parsed.Key.ToArray());
        Assert.Equal(key.Fingerprint, parsed.Fingerprint);
    }

    [Fact]
    public void Reads_base64_bin_and_crlf_files()
    {
        var key = SwarmKey.Generate();
        var b64 = SwarmKey.Parse(Ascii.ASCII.GetBytes($"/key/swarm/psk/1.0.0/\r\n/base64/\r\n{Convert.ToBase64String(key.Key)}\r\n"));
        Assert.Equal(key.Key.ToArray(), b64.Key.ToArray());
        byte[] bin = [.. "/key/swarm/psk/1.0.0/\n/bin/\n"u8, .. key.Key];
        Assert.Equal(key.Key.ToArray(), SwarmKey.Parse(bin).Key.ToArray());
    }

    [Theory]
    [InlineData("")]
    [InlineData("/key/swarm/psk/2.0.0/\n/base16/\n00")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base58/\nabc")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\nzz")]
    [InlineData("/key/swarm/psk/1.0.0/\n/base16/\n0011")]
    [InlineData("/key/swarm/psk/1.0.0/")]
    public void Bad_files_raise_the_typed_error(string text) =>
        Assert.Throws<SwarmKeyFormatException>(() => SwarmKey.Parse(Ascii.ASCII.GetBytes(text)));

    [Fact]
    public void Saved_file_is_private_and_loads()
    {
        string path = Path.Combine(Path.GetTempPath(), $"swarm-{Guid.NewGuid():N}.key");
        try
        {
            var key = SwarmKey.Generate();
            key.Save(path);
            Assert.Equal(key.Key.ToArray(), SwarmKey.Load(path).Key.ToArray());
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
