using P2PStack.Fuzz;
using SharpFuzz;

// P2PStack.Fuzz list                      the targets, one a line
// P2PStack.Fuzz seed DIR                  writes DIR/<target>/seed-N for every target
// P2PStack.Fuzz run TARGET                the target under afl-fuzz (SharpFuzz out of process; instrumented build)
// P2PStack.Fuzz replay TARGET PATH...     runs files (or every file of directories) in process: a regression check
if (args.Length == 0) return Usage();
switch (args[0])
{
    case "list":
        foreach (var target in Targets.All) Console.WriteLine($"{target.Name}\t{target.Decoders}");
        return 0;
    case "seed" when args.Length == 2:
        foreach (var target in Targets.All)
        {
            string directory = Path.Combine(args[1], target.Name);
            Directory.CreateDirectory(directory);
            int n = 0;
            foreach (var seed in target.Seeds()) File.WriteAllBytes(Path.Combine(directory, $"seed-{n++:D3}"), seed);
            Console.WriteLine($"{target.Name}: {n} seeds");
        }
        return 0;
    case "run" when args.Length == 2:
    {
        var target = Targets.Find(args[1]);
        if (target is null) return Usage();
        // afl-fuzz keeps only the input of a crash: its exception (or one escaping on another thread, which ends the
        // process) is appended to P2PSTACK_FUZZ_LOG when set, so that a finding that does not replay still says what it was.
        string? log = Environment.GetEnvironmentVariable("P2PSTACK_FUZZ_LOG");
        if (log is not null)
        {
            AppDomain.CurrentDomain.UnhandledException += (_, e) => Record(log, "unhandled", e.ExceptionObject);
            TaskScheduler.UnobservedTaskException += (_, e) => Record(log, "unobserved task", e.Exception);
        }
        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            byte[] input = copy.ToArray();
            try
            {
                target.Run(input);
            }
            catch (Exception e) when (log is not null)
            {
                Record(log, Convert.ToHexString(input), e);
                throw;
            }
        });
        return 0;
    }
    case "replay" when args.Length >= 3:
    {
        var target = Targets.Find(args[1]);
        if (target is null) return Usage();
        var files = args.Skip(2).SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories) : [p])
            .Where(f => !Path.GetFileName(f).Equals("README.txt", StringComparison.Ordinal)).ToList();
        int failed = 0;
        foreach (var file in files)
        {
            try
            {
                target.Run(File.ReadAllBytes(file));
            }
            catch (Exception e)
            {
                failed++;
                Console.Error.WriteLine($"{target.Name}: {file}: {e}"); // with its stack trace, to find the decoder at fault
            }
        }
        Console.WriteLine($"{target.Name}: {files.Count} inputs, {failed} failed");
        return failed == 0 ? 0 : 1;
    }
    default:
        return Usage();
}

static void Record(string log, string what, object exception)
{
    try
    {
        File.AppendAllText(log, $"--- {DateTime.UtcNow:O} {what}\n{exception}\n");
    }
    catch (IOException)
    {
    }
}

static int Usage()
{
    Console.Error.WriteLine("usage: P2PStack.Fuzz list | seed DIR | run TARGET | replay TARGET PATH...");
    Console.Error.WriteLine("targets: " + string.Join(", ", Targets.All.Select(t => t.Name)));
    return 2;
}
