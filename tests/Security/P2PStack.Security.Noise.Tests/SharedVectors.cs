namespace P2PStack.Security.Noise.Tests;

/// <summary>
/// Finds ../shared/vectors next to the repository root (the directory holding P2PStack.sln). In a git worktree the
/// shared folder sits next to the main checkout, found through the worktree's .git file. Missing files throw, so a
/// test that needs them fails instead of passing vacuously.
/// </summary>
internal static class SharedVectors
{
    public static string PathOf(string relative)
    {
        var root = RepositoryRoot();
        foreach (var candidate in CandidateRoots(root))
        {
            var path = Path.Combine(candidate, "..", "shared", "vectors", relative);
            if (File.Exists(path))
            {
                return Path.GetFullPath(path);
            }
        }

        throw new FileNotFoundException($"shared test vector '{relative}' not found next to {root} (expected ../shared/vectors/{relative})");
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "P2PStack.sln")))
            {
                return dir.FullName;
            }
        }

        throw new DirectoryNotFoundException($"no P2PStack.sln above {AppContext.BaseDirectory}");
    }

    private static IEnumerable<string> CandidateRoots(string root)
    {
        yield return root;
        var gitFile = Path.Combine(root, ".git");
        if (!File.Exists(gitFile))
        {
            yield break;
        }

        // "gitdir: <main>/.git/worktrees/<name>" -> <main>
        var line = File.ReadAllText(gitFile).Trim();
        if (line.StartsWith("gitdir:", StringComparison.Ordinal))
        {
            var gitDir = new DirectoryInfo(line["gitdir:".Length..].Trim());
            var mainGit = gitDir.Parent?.Parent;
            if (mainGit?.Parent is { } mainRoot)
            {
                yield return mainRoot.FullName;
            }
        }
    }
}
