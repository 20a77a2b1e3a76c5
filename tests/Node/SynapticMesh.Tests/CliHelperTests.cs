using SynapticMesh.Cli;

namespace SynapticMesh.Tests;

/// <summary>The reusable CLI helpers (docs/cli.md): terminal-safe text, tables, progress, usage errors, JSON errors.</summary>
public sealed class CliHelperTests
{
    [Theory]
    [InlineData("plain text, ünïcödé, 漢字", "plain text, ünïcödé, 漢字")]
    [InlineData("bell\a esc\x1b[31mred\x1b[0m", "bell\\a esc\\e[31mred\\e[0m")]
    [InlineData("line one\nforged line\r\n", "line one\\nforged line\\r\\n")]
    [InlineData("tab\there\0nul\u007fdel", "tab\\there\\0nul\\u007fdel")]
    [InlineData("c1 \u009b31m csi", "c1 \\u009b31m csi")]
    [InlineData("rtl \u202eevil\u2066", "rtl \\u202eevil\\u2066")]
    [InlineData("C:\\path\\n stays", "C:\\path\\n stays")]
    public void EscapeShowsEveryControlCharacterAndKeepsTheRest(string input, string expected)
    {
        Assert.Equal(expected, TerminalText.Escape(input));
        Assert.Equal(input != expected, TerminalText.NeedsEscaping(input));
    }

    [Fact]
    public void LoneSurrogatesAreEscapedAndPairsKept() =>
        Assert.Equal("lone \\ud800 surrogate, pair 😀", TerminalText.Escape("lone \ud800 surrogate, pair 😀"));

    [Fact]
    public void EscapedTextNeverHoldsAControlCharacter()
    {
        var all = new string([.. Enumerable.Range(0, 0x3000).Select(i => (char)i)]);
        string escaped = TerminalText.Escape(all);
        Assert.DoesNotContain(escaped, c => c < 0x20 || c is >= '\x7f' and <= '\x9f' || c is >= '\u202a' and <= '\u202e');
        Assert.DoesNotContain('\n', escaped);
    }

    [Fact]
    public void TableIsAlignedOnATerminalAndTabSeparatedWhenPiped()
    {
        var table = new Table("PEER", "ADDRESSES", "SOURCE")
            .AddLines(["12D3KooA"], ["/ip4/127.0.0.1/tcp/1", "/ip4/10.0.0.1/tcp/1"], ["mdns"])
            .Add("12D3KooBBBBBB", "/ip6/::1/tcp/2", "evil\nline");
        var aligned = new StringWriter();
        table.WriteTo(aligned, aligned: true);
        Assert.Equal(
            """
            PEER           ADDRESSES             SOURCE
            12D3KooA       /ip4/127.0.0.1/tcp/1  mdns
                           /ip4/10.0.0.1/tcp/1
            12D3KooBBBBBB  /ip6/::1/tcp/2        evil\nline

            """.ReplaceLineEndings(), aligned.ToString());
        var piped = new StringWriter();
        table.WriteTo(piped, aligned: false);
        Assert.Equal("12D3KooA\t/ip4/127.0.0.1/tcp/1,/ip4/10.0.0.1/tcp/1\tmdns\n12D3KooBBBBBB\t/ip6/::1/tcp/2\tevil\\nline\n".ReplaceLineEndings(),
            piped.ToString());
    }

    [Fact]
    public void WideCharactersCountTwoColumns()
    {
        Assert.Equal(4, Table.DisplayWidth("漢字"));
        Assert.Equal(1, Table.DisplayWidth("e\u0301"));
        var writer = new StringWriter();
        new Table("A", "B").Add("漢字", "x").Add("abcde", "y").WriteTo(writer, aligned: true);
        Assert.Equal(["A      B", "漢字   x", "abcde  y"], writer.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void OutputPrintsTablesForPeopleAndJsonForScripts()
    {
        var result = new { Peers = new[] { "a" } };
        var terminal = new StringWriter();
        new CliOutput(terminal, TextWriter.Null, json: false, stdoutIsTerminal: true).Table(result, () => new Table("PEER").Add("a"), "1 peer");
        Assert.Equal(["1 peer", "PEER", "a"], terminal.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries));
        var piped = new StringWriter();
        new CliOutput(piped, TextWriter.Null, json: false, stdoutIsTerminal: false).Table(result, () => new Table("PEER").Add("a"), "1 peer");
        Assert.Equal("a" + Environment.NewLine, piped.ToString());
        var json = new StringWriter();
        new CliOutput(json, TextWriter.Null, json: true, stdoutIsTerminal: true).Table(result, () => throw new InvalidOperationException(), "1 peer");
        Assert.Contains("\"peers\"", json.ToString());
    }

    [Fact]
    public async Task ProgressIsDrawnOnlyOnATerminalWithoutJson()
    {
        var stderr = new StringWriter();
        Assert.False(new CliOutput(TextWriter.Null, stderr, json: true, stderrIsTerminal: true).Progress("x").IsVisible);
        Assert.False(new CliOutput(TextWriter.Null, stderr, json: false, stderrIsTerminal: false).Progress("x").IsVisible);
        Assert.Empty(stderr.ToString());

        await using (var progress = new CliOutput(TextWriter.Null, stderr, json: false, stderrIsTerminal: true).Progress("searching\n the DHT"))
        {
            Assert.True(progress.IsVisible);
            progress.Update("3 found");
        }
        string drawn = stderr.ToString();
        Assert.Contains("searching\\n the DHT (", drawn);
        Assert.Contains("3 found (", drawn);
        Assert.DoesNotContain('\n', drawn);
        Assert.EndsWith("\r", drawn); // erased: the cursor is back at the start of a blank line
    }

    [Theory]
    [InlineData("statsu", "status")]
    [InlineData("stauts", "status")]
    [InlineData("pign", "ping")]
    [InlineData("disc", "discover")]
    [InlineData("foo", null)]
    public void ClosestCommandIsSuggested(string typo, string? expected) =>
        Assert.Equal(expected, UsageErrors.Closest(typo, ["status", "start", "ping", "perf", "discover", "dht", "connect"]));

    [Fact]
    public void ParserMessagesNamingDotNetTypesAreRewritten()
    {
        Assert.Equal("'abc' is not valid for --count: a whole number is expected",
            UsageErrors.Rewrite("Cannot parse argument 'abc' for option '--count' as expected type 'System.Int32'.", "synaptic-mesh p2p ping"));
        Assert.Equal("Argument '2' not recognized. Must be one of: '1', '3', '5'",
            UsageErrors.Rewrite("Argument '2' not recognized. Must be one of:\n\t'1'\n\t'3'\n\t'5'", "x"));
    }

    [Fact]
    public void ErrorTextDropsDotNetInternals()
    {
        Assert.Equal("bad target", ErrorText.Of(new ArgumentException("bad target", "to")));
        Assert.Equal("Connection refused", ErrorText.Of(new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.ConnectionRefused)));
        Assert.Equal("two lines", ErrorText.Of(new InvalidOperationException("two\nlines")));
        var inner = new ArgumentException("bad target", "to");
        Assert.Equal("cannot send: bad target", ErrorText.Of(new InvalidOperationException($"cannot send: {inner.Message}", inner)));
    }

    [Theory]
    [InlineData("1048576", 1048576UL)]
    [InlineData("0", 0UL)]
    [InlineData("64KiB", 65536UL)]
    [InlineData("10MB", 10_000_000UL)]
    [InlineData("10 mib", 10_485_760UL)]
    [InlineData("1.5GiB", 1_610_612_736UL)]
    [InlineData("2k", 2000UL)]
    [InlineData("512B", 512UL)]
    [InlineData("16TiB", 17_592_186_044_416UL)]
    public void SizesTakeDecimalAndBinaryUnits(string text, ulong expected)
    {
        Assert.True(ByteSize.TryParse(text, out ulong bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("ten")]
    [InlineData("-5MB")]
    [InlineData("1.5")]
    [InlineData("5XB")]
    [InlineData("99999999999TB")]
    public void WhatIsNotASizeIsRefused(string text) => Assert.False(ByteSize.TryParse(text, out _));

    [Fact]
    public void ASizeOptionParsesUnitsAndNamesItselfInItsError()
    {
        var upload = new System.CommandLine.Option<ulong>("--upload") { CustomParser = ByteSize.Parse };
        var root = new System.CommandLine.RootCommand { upload };
        Assert.Equal(10_485_760UL, root.Parse("--upload 10MiB").GetValue(upload));
        var refused = root.Parse("--upload lots");
        Assert.Contains(refused.Errors, e => e.Message.Contains("--upload: 'lots' is not a size", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(15L, false)]
    [InlineData(16L, true)]
    [InlineData(1L << 30, true)]
    [InlineData((1L << 30) + 1, false)]
    [InlineData(-1L, false)]
    public void ResourceMemoryIsValidatedWithItsRangeInTheMessage(long mebibytes, bool valid)
    {
        var config = new SynapticMesh.Home.NodeConfig { Listen = ["/ip4/127.0.0.1/tcp/0"], ResourceMemoryMiB = mebibytes };
        var error = Record.Exception(() => config.Validate());
        if (valid)
        {
            Assert.Null(error);
            return;
        }
        var refused = Assert.IsType<CliException>(error);
        Assert.Equal(ExitCodes.Usage, refused.ExitCode);
        Assert.Contains($"from 16 to {1L << 30} (MiB), got {mebibytes}", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void JsonKeepsTextReadableButEscapesControlCharacters()
    {
        var stdout = new StringWriter();
        new CliOutput(stdout, TextWriter.Null, json: true).Result(new { Text = "it's `x` <b> & é\u001b[2J" }, _ => { });
        string written = stdout.ToString();
        Assert.Contains("it's `x` <b> & é", written, StringComparison.Ordinal);
        Assert.Contains("\\u001B[2J", written, StringComparison.Ordinal); // no raw escape sequence reaches the terminal
    }

    [Fact]
    public void JsonErrorsAreOneLineWithCodeAndExitCode()
    {
        var stderr = new StringWriter();
        new CliOutput(TextWriter.Null, stderr, json: true).Failure("no node is running on /x", ErrorCodes.NotRunning, ExitCodes.Failure);
        Assert.Equal("""{"error":"no node is running on /x","code":"not_running","exitCode":1}""" + Environment.NewLine, stderr.ToString());
    }

    [Theory]
    [InlineData(new string[0], 0, "Usage:")]
    [InlineData(new[] { "p2p" }, 0, "Commands:")]
    [InlineData(new[] { "p2p", "statsu" }, 2, "did you mean 'status'?")]
    [InlineData(new[] { "p2p", "foo" }, 2, "unknown command 'foo' for 'synaptic-mesh p2p'")]
    [InlineData(new[] { "p2p", "status", "--bogus" }, 2, "unknown option '--bogus'")]
    [InlineData(new[] { "p2p", "ping" }, 2, "Required argument missing")]
    public async Task UsageErrorsShowTheErrorAndTheNearestUsage(string[] args, int exitCode, string expected)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = await SynapticMeshCli.RunAsync(args, stdout, stderr);
        Assert.Equal(exitCode, code);
        string text = exitCode == 0 ? stdout.ToString() : stderr.ToString();
        Assert.Contains(expected, text);
        if (exitCode != 0)
        {
            Assert.StartsWith("error: ", text);
            Assert.Contains("Usage:", text);
            Assert.DoesNotContain("Required command was not provided", text);
            Assert.Empty(stdout.ToString());
        }
    }

    [Fact]
    public async Task UsageErrorsAreJsonWithJson()
    {
        var stderr = new StringWriter();
        Assert.Equal(2, await SynapticMeshCli.RunAsync(["p2p", "statsu", "--json"], TextWriter.Null, stderr));
        using var json = System.Text.Json.JsonDocument.Parse(stderr.ToString());
        Assert.Equal("usage", json.RootElement.GetProperty("code").GetString());
        Assert.Equal(2, json.RootElement.GetProperty("exitCode").GetInt32());
        Assert.Contains("did you mean 'status'?", json.RootElement.GetProperty("error").GetString());
    }
}

/// <summary>README's command table stays complete as commands are added.</summary>
public sealed class ReadmeTests
{
    [Fact]
    public void TheCommandTableListsEveryCommand()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "P2PStack.sln"))) dir = Path.GetDirectoryName(dir);
        // A command is listed by a table row, or (like `synaptic-mesh daemon`) by the usage line of its own section.
        var lines = File.ReadAllLines(Path.Combine(dir!, "README.md"))
            .Where(l => l.StartsWith("| `", StringComparison.Ordinal) || l.StartsWith("./synaptic-mesh ", StringComparison.Ordinal))
            .Select(l => l.Replace("./synaptic-mesh ", "`", StringComparison.Ordinal))
            .ToList();
        var root = SynapticMeshCli.BuildRoot(new CommandContextFactory(TextWriter.Null, TextWriter.Null, false, false));
        var missing = Leaves(root, "").Where(path => !lines.Any(l => Lists(l, path))).ToList();
        Assert.True(missing.Count == 0, $"README's command table lacks: {string.Join(", ", missing)}");
    }

    /// <summary>"`registry approve\\|deny <node id>`" lists both "registry approve" and "registry deny".</summary>
    private static bool Lists(string line, string path)
    {
        int space = path.LastIndexOf(' ');
        string prefix = space < 0 ? "" : path[..(space + 1)];
        string last = System.Text.RegularExpressions.Regex.Escape(path[(space + 1)..]);
        return System.Text.RegularExpressions.Regex.IsMatch(line,
            $@"`{System.Text.RegularExpressions.Regex.Escape(prefix)}([a-z0-9-]+\\\|)*{last}(\\\||[ `])");
    }

    private static IEnumerable<string> Leaves(System.CommandLine.Command command, string prefix)
    {
        foreach (var sub in command.Subcommands)
        {
            string path = prefix.Length == 0 ? sub.Name : $"{prefix} {sub.Name}";
            if (sub.Subcommands.Count == 0) yield return path;
            else foreach (string leaf in Leaves(sub, path)) yield return leaf;
        }
    }
}
