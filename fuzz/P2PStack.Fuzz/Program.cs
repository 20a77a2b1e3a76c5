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
        Fuzzer.OutOfProcess.Run(stream =>
        {
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            target.Run(copy.ToArray());
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

static int Usage()
{
    Console.Error.WriteLine("usage: P2PStack.Fuzz list | seed DIR | run TARGET | replay TARGET PATH...");
    Console.Error.WriteLine("targets: " + string.Join(", ", Targets.All.Select(t => t.Name)));
    return 2;
}
