using System.Security.Cryptography;

namespace P2PStack.IO;

/// <summary>Files only their owner may read: key files, node configuration, control-API tokens.</summary>
public static class PrivateFile
{
    /// <summary>
    /// Writes <paramref name="contents"/> to <paramref name="path"/> atomically: a fresh temporary file beside it
    /// (mode 0600 on Unix from the moment it exists), flushed to disk, then renamed over the target. Readers see
    /// the old file or the new one, never a partial one; on failure the temporary file is removed.
    /// </summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> contents)
    {
        string fullPath = Path.GetFullPath(path);
        string temporary = Path.Combine(Path.GetDirectoryName(fullPath)!,
            $".{Path.GetFileName(fullPath)}.{Convert.ToHexString(RandomNumberGenerator.GetBytes(6))}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            using (var stream = new FileStream(temporary, options))
            {
                stream.Write(contents);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }
}
