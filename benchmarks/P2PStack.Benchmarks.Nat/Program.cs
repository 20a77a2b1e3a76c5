using System.Globalization;
using P2PStack.Benchmarks.Nat;
using P2PStack.Nat.Testing;

// benchmarks/run-nat.sh runs this: P2PStack.Benchmarks.Nat --out DIR [--runs N] [--pairs a,b] [--throughput-mib M]
// [--throughput-runs R] [--no-matrix] [--no-throughput]. Writes DIR/nat.md (tables), DIR/matrix-runs.jsonl and
// DIR/throughput-runs.jsonl (one line per run). A DIR whose matrix-runs.jsonl already holds runs is continued.
string? Option(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
bool Flag(string name) => args.Contains(name);
string outDir = Option("--out") ?? throw new ArgumentException("--out DIR is required");
int runs = int.Parse(Option("--runs") ?? "10", CultureInfo.InvariantCulture);
var pairs = (Option("--pairs") ?? string.Join(',', NatMatrix.PairNames)).Split(',', StringSplitOptions.RemoveEmptyEntries);
foreach (string pair in pairs)
{
    if (!NatMatrix.PairNames.Contains(pair)) throw new ArgumentException($"unknown pair {pair}: {string.Join(", ", NatMatrix.PairNames)}");
}
int throughputMib = int.Parse(Option("--throughput-mib") ?? "16", CultureInfo.InvariantCulture);
int throughputRuns = int.Parse(Option("--throughput-runs") ?? "5", CultureInfo.InvariantCulture);
var patience = TimeSpan.FromSeconds(120); // hang guard per step; the figures are what is measured

if (await NetLab.UnavailableReasonAsync() is { } unavailable)
{
    Console.Error.WriteLine($"cannot run: {unavailable}");
    return 2;
}
Directory.CreateDirectory(outDir);
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cancel.Cancel();
};
await using var lab = await NetLab.CreateAsync(cancel.Token);
await using var report = new StreamWriter(Path.Combine(outDir, "nat.md"));
if (!Flag("--no-matrix"))
{
    // The relay serves AutoNAT without ReusePort (a dial back from its listen port would pass the client's NAT through
    // the mapping of the client's own connection and call every client public).
    await using var relay = await Peers.CSharpAsync(await lab.AddPublicHostAsync("relay", cancel.Token),
        ["--listen", "/ip4/0.0.0.0/tcp/4001", "--relay-service", "--autonat", "--relay-limit-data", "none"], cancel.Token);
    // An existing matrix-runs.jsonl (a stopped session, run-nat.sh --resume DIR) is continued, not started anew.
    string table = await new NatMatrix(lab, relay, Console.Out, patience).RunAsync(runs, pairs, Path.Combine(outDir, "matrix-runs.jsonl"), cancel.Token);
    await report.WriteLineAsync("NAT matrix (up to " + runs + " runs per pair, in rounds over the pairs):\n\n" + table);
}
if (!Flag("--no-throughput"))
{
    await using var runLog = new StreamWriter(Path.Combine(outDir, "throughput-runs.jsonl"));
    string table = await new RelayThroughput(lab, Console.Out, patience).RunAsync(throughputMib * 1024 * 1024, throughputRuns, runLog, cancel.Token);
    await report.WriteLineAsync("Relay throughput:\n\n" + table);
}
return 0;
