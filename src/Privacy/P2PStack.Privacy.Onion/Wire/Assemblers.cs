using System.Buffers.Binary;

namespace P2PStack.Privacy.Onion.Wire;

/// <summary>Collects the CREATE or CREATED cells of one handshake message (first cell: total length, then chunks).</summary>
internal sealed class HandshakeAssembler(CellLayout layout, CellCommand command, int maxLength)
{
    private byte[]? _message;
    private int _filled;

    public CellCommand Command { get; } = command;

    /// <summary>Adds one cell's body; returns the whole message once complete, else null.</summary>
    /// <exception cref="OnionFormatException">A length that is zero or over the limit.</exception>
    public byte[]? Add(ReadOnlySpan<byte> body)
    {
        if (_message is null)
        {
            int total = BinaryPrimitives.ReadUInt16BigEndian(body);
            if (total == 0 || total > maxLength) throw new OnionFormatException($"{Command} message of {total} bytes (limit {maxLength})");
            _message = new byte[total];
            int first = Math.Min(total, layout.FirstHandshakeChunk);
            body.Slice(2, first).CopyTo(_message);
            _filled = first;
        }
        else
        {
            int chunk = Math.Min(_message.Length - _filled, layout.BodySize);
            body[..chunk].CopyTo(_message.AsSpan(_filled));
            _filled += chunk;
        }
        if (_filled < _message.Length) return null;
        var done = _message;
        _message = null;
        _filled = 0;
        return done;
    }
}

/// <summary>
/// Collects a relay message that spans cells (the MORE flag on all but the last): the cells of one message follow each
/// other on that hop and direction, with the same command and stream, and the total is bounded.
/// </summary>
internal sealed class RelayMessageAssembler(int maxLength)
{
    private byte[]? _buffer;
    private int _length;
    private RelayCommand _command;
    private ushort _stream;

    public bool InProgress => _buffer is not null;

    /// <summary>Adds one cell; returns the whole message when this cell ends it, else null.</summary>
    /// <exception cref="OnionFormatException">A cell of another message in the middle of one, or a message over the
    /// limit.</exception>
    public byte[]? Add(in RelayHeader header, ReadOnlySpan<byte> data)
    {
        if (_buffer is null)
        {
            if (!header.More) return data.ToArray();
            _buffer = new byte[Math.Min(maxLength, 4 * 1024)];
            _command = header.Command;
            _stream = header.StreamId;
            _length = 0;
        }
        else if (header.Command != _command || header.StreamId != _stream)
        {
            throw new OnionFormatException($"a {header.Command} cell arrived in the middle of a {_command} message");
        }
        if (_length + data.Length > maxLength) throw new OnionFormatException($"a {_command} message exceeds {maxLength} bytes");
        if (_length + data.Length > _buffer.Length) Array.Resize(ref _buffer, Math.Min(maxLength, Math.Max(_buffer.Length * 2, _length + data.Length)));
        data.CopyTo(_buffer.AsSpan(_length));
        _length += data.Length;
        if (header.More) return null;
        var message = _buffer.AsSpan(0, _length).ToArray();
        _buffer = null;
        _length = 0;
        return message;
    }
}
