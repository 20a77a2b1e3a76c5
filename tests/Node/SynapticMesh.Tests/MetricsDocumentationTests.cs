using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Linq.Expressions;
using System.Reflection;
using System.Text.RegularExpressions;
using P2PStack.Diagnostics;
using P2PStack.Metrics;

namespace SynapticMesh.Tests;

/// <summary>
/// docs/metrics.md lists every metric the code defines, under the name and type the Prometheus exporter gives it, and
/// nothing else; the other docs name no metric that does not exist. The instruments come from the code itself: every
/// module's <see cref="ModuleMetrics"/> (all of the node's assemblies) is constructed while a meter listener records
/// what it publishes.
/// </summary>
public sealed partial class MetricsDocumentationTests
{
    [Fact]
    public void Metrics_md_lists_every_metric_of_every_module_with_its_type()
    {
        var code = CodeMetrics();
        var documented = DocumentedMetrics(File.ReadAllText(Path.Combine(RepositoryRoot, "docs", "metrics.md")));

        var missing = code.Keys.Except(documented.Keys).Order(StringComparer.Ordinal).ToList();
        var stale = documented.Keys.Except(code.Keys).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0, "defined in the code, not in docs/metrics.md: " + string.Join(", ", missing));
        Assert.True(stale.Count == 0, "in docs/metrics.md, defined nowhere: " + string.Join(", ", stale));
        var wrongType = code.Where(m => documented[m.Key] != m.Value).Select(m => $"{m.Key} is a {m.Value}, documented as '{documented[m.Key]}'").ToList();
        Assert.True(wrongType.Count == 0, string.Join("; ", wrongType));
    }

    [Fact]
    public void The_docs_name_only_metrics_that_exist()
    {
        var code = CodeMetrics();
        var files = Directory.GetFiles(Path.Combine(RepositoryRoot, "docs"), "*.md", SearchOption.AllDirectories).Append(Path.Combine(RepositoryRoot, "README.md"));
        var unknown = new List<string>();
        foreach (string file in files)
        {
            foreach (Match match in MetricToken().Matches(File.ReadAllText(file)))
            {
                if (match.Groups["wildcard"].Success) continue; // a family such as p2pstack_stun_*
                string name = match.Groups["name"].Value;
                if (!code.ContainsKey(name) && !IsHistogramSeries(code, name))
                    unknown.Add($"{Path.GetRelativePath(RepositoryRoot, file)}: {name}");
            }
        }
        Assert.True(unknown.Count == 0, "metrics named in the docs that the code does not define: " + string.Join(", ", unknown.Distinct()));
    }

    // Prometheus name → type (counter, gauge, histogram) of every instrument on a P2PStack meter, and the exporter's own.
    private static Dictionary<string, string> CodeMetrics()
    {
        var found = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, _) =>
            {
                if (instrument.Meter.Name.StartsWith(MeterNames.Prefix, StringComparison.Ordinal) && PrometheusExporter.MetricOf(instrument) is { } metric)
                    found[metric.Name] = metric.Type;
            },
        };
        listener.Start();
        var modules = NodeAssemblies().SelectMany(LoadableTypes).Where(t => t.IsSubclassOf(typeof(ModuleMetrics)) && !t.IsAbstract).ToList();
        Assert.True(modules.Count >= 20, "found only these ModuleMetrics types: " + string.Join(", ", modules.Select(t => t.Name)));
        foreach (var type in modules)
        {
            // Constructors only create instruments and keep their arguments (callbacks read at scrape time): defaults do.
            var constructor = type.GetConstructors(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)
                .OrderByDescending(c => c.GetParameters().Length).First();
            object?[] arguments = [.. constructor.GetParameters().Select(p => DefaultOf(p.ParameterType))];
            using var metrics = (ModuleMetrics)constructor.Invoke(arguments);
        }
        found[PrometheusExporter.DroppedSeriesMetric] = "counter";
        return new Dictionary<string, string>(found, StringComparer.Ordinal);
    }

    // A default value; for a delegate (an observable instrument's callback), one that returns the default.
    private static object? DefaultOf(Type type)
    {
        if (type.IsValueType) return Activator.CreateInstance(type);
        if (!typeof(Delegate).IsAssignableFrom(type)) return null;
        var invoke = type.GetMethod("Invoke")!;
        return Expression.Lambda(type, Expression.Default(invoke.ReturnType), invoke.GetParameters().Select(p => Expression.Parameter(p.ParameterType))).Compile();
    }

    // The rows of the tables of docs/metrics.md: | `name` | type | ...
    private static Dictionary<string, string> DocumentedMetrics(string markdown)
    {
        var documented = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (Match row in TableRow().Matches(markdown))
        {
            string name = row.Groups["name"].Value;
            Assert.True(documented.TryAdd(name, row.Groups["type"].Value.Trim()), $"{name} is listed twice in docs/metrics.md");
        }
        return documented;
    }

    private static bool IsHistogramSeries(Dictionary<string, string> code, string name) =>
        new[] { "_bucket", "_sum", "_count" }.Any(suffix => name.EndsWith(suffix, StringComparison.Ordinal)
            && code.GetValueOrDefault(name[..^suffix.Length]) == "histogram");

    // The node (synaptic-mesh.dll) and every P2PStack library beside it.
    private static IEnumerable<Assembly> NodeAssemblies() =>
        Directory.GetFiles(AppContext.BaseDirectory, "P2PStack.*.dll")
            .Select(f => Assembly.Load(AssemblyName.GetAssemblyName(f)))
            .Append(typeof(SynapticMesh.Node.MeshLinkMetrics).Assembly);

    private static IEnumerable<Type> LoadableTypes(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            return e.Types.OfType<Type>();
        }
    }

    private static string RepositoryRoot
    {
        get
        {
            string? dir = AppContext.BaseDirectory;
            while (dir is not null && !File.Exists(Path.Combine(dir, "P2PStack.sln"))) dir = Path.GetDirectoryName(dir);
            return dir ?? throw new InvalidOperationException("P2PStack.sln not found above the test assembly");
        }
    }

    [GeneratedRegex(@"^\| `(?<name>(?:p2pstack|mesh)_[a-z0-9_]+)` \|(?<type>[^|]*)\|", RegexOptions.Multiline)]
    private static partial Regex TableRow();

    [GeneratedRegex(@"\b(?<name>p2pstack_[a-z0-9_]*[a-z0-9])(?<wildcard>_?\*)?")]
    private static partial Regex MetricToken();
}
