using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Network;

namespace P2PStack.Muxers.Yamux;

/// <summary>Starts yamux sessions with the configured options.</summary>
public sealed class YamuxMuxer : IStreamMuxer
{
    /// <summary>The multistream-select protocol id.</summary>
    public const string Id = "/yamux/1.0.0";

    private readonly YamuxOptions options;
    private readonly ILoggerFactory loggerFactory;

    public YamuxMuxer(IOptions<YamuxOptions> options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options.Value;
        this.options.Validate();
        this.loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
    }

    public string ProtocolId => Id;

    /// <summary>Runs a session over the secure connection; the session disposes the connection when it ends.</summary>
    public IMuxerSession StartSession(ISecureConnection connection, Direction direction)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return StartSession(connection, direction, connection.DisposeAsync);
    }

    /// <summary>Runs a session whose stream windows are reserved in <paramref name="memory"/>.</summary>
    public IMuxerSession StartSession(ISecureConnection connection, Direction direction, IResourceScope? memory)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return StartSession(connection, direction, connection.DisposeAsync, memory);
    }

    /// <summary>Runs a session over <paramref name="connection"/>; <paramref name="onClosed"/> disposes the
    /// underlying connection once the session has ended; stream windows are reserved in <paramref name="memory"/>
    /// when given.</summary>
    public YamuxSession StartSession(IDuplexPipe connection, Direction direction, Func<ValueTask>? onClosed = null,
        IResourceScope? memory = null) =>
        new(connection, direction, options, loggerFactory.CreateLogger<YamuxSession>(), onClosed, memory);
}
