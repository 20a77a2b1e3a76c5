using System.Net;
using P2PStack.Identity;

namespace P2PStack.Registry.Tests;

/// <summary>A clock the test moves by hand.</summary>
public sealed class ManualClock(DateTimeOffset start) : TimeProvider
{
    private long _ticks = start.UtcTicks;

    public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}

/// <summary>A registry on 127.0.0.1, a port the system picks, a database in a fresh temp directory; gone on dispose.</summary>
public sealed class TestRegistry : IAsyncDisposable
{
    private readonly DirectoryInfo _directory;

    private TestRegistry(RegistryServer server, RegistryOptions options, DirectoryInfo directory, PrivateKey sovereign)
    {
        Server = server;
        Options = options;
        _directory = directory;
        Sovereign = sovereign;
        Http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public RegistryServer Server { get; }

    public RegistryOptions Options { get; }

    /// <summary>The operator's first sovereign (given at start).</summary>
    public PrivateKey Sovereign { get; }

    public ManualClock Clock => (ManualClock)Options.TimeProvider;

    /// <summary>An unsigned client for raw requests.</summary>
    public HttpClient Http { get; }

    public string DatabasePath => Options.DatabasePath;

    public static async Task<TestRegistry> StartAsync(Action<RegistryOptions>? configure = null, DirectoryInfo? directory = null,
        PrivateKey? sovereign = null)
    {
        directory ??= Directory.CreateTempSubdirectory("registry-test-");
        sovereign ??= PrivateKey.Generate(KeyType.Ed25519);
        var options = new RegistryOptions
        {
            ListenAddress = IPAddress.Loopback,
            Port = 0,
            DatabasePath = Path.Combine(directory.FullName, "registry.db"),
            TimeProvider = new ManualClock(DateTimeOffset.UtcNow),
            SweepInterval = TimeSpan.FromHours(1), // tests sweep by hand
            RateLimitBurst = 10_000,
            RateLimitPerSecond = 10_000,
        };
        options.InitialSovereigns.Add(PeerId.FromPublicKey(sovereign.PublicKey).ToString());
        configure?.Invoke(options);
        var server = await RegistryServer.StartAsync(options);
        return new TestRegistry(server, options, directory, sovereign);
    }

    public RegistryClient Client(PrivateKey key, string? bearer = null) =>
        new(key, new RegistryClientOptions { BaseAddress = Server.BaseAddress, TimeProvider = Options.TimeProvider, BearerToken = bearer });

    public static byte[] Json(string json) => System.Text.Encoding.UTF8.GetBytes(json);

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { _directory.Delete(recursive: true); }
        catch (IOException) { }
    }

    /// <summary>Stops the server but keeps the database (restart tests).</summary>
    public async Task<DirectoryInfo> StopKeepingDataAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        return _directory;
    }
}

public static class Keys
{
    public static PrivateKey New() => PrivateKey.Generate(KeyType.Ed25519);

    public static string Id(this PrivateKey key) => PeerId.FromPublicKey(key.PublicKey).ToString();
}
