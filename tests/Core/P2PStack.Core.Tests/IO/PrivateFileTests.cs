using P2PStack.IO;

namespace P2PStack.Tests.IO;

public sealed class PrivateFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("p2pprivatefile").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void WritesOwnerOnlyFileAndReplacesAnExistingOne()
    {
        string path = Path.Combine(_directory, "config.json");
        File.WriteAllText(path, "an older, longer content");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        PrivateFile.WriteAtomically(path, "new"u8);

        Assert.Equal("new"u8.ToArray(), File.ReadAllBytes(path));
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Single(Directory.GetFiles(_directory)); // no temporary left behind
    }

    [Fact]
    public void FailedWriteLeavesTheTargetAndNoTemporary()
    {
        string path = Path.Combine(_directory, "taken");
        Directory.CreateDirectory(path); // the rename onto a directory fails

        Assert.ThrowsAny<IOException>(() => PrivateFile.WriteAtomically(path, "x"u8));

        Assert.True(Directory.Exists(path));
        Assert.Empty(Directory.GetFiles(_directory));
    }
}
