using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using P2PStack.Conformance.Security;
using P2PStack.Network;

namespace P2PStack.Security.Noise.Tests;

/// <summary>Raw bytes from a peer that stalls mid-handshake or breaks framing after it.</summary>
public sealed class NoiseHostilePeerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static NoiseSecureChannel Channel(Action<NoiseOptions>? configure = null)
    {
        var options = new NoiseOptions();
        configure?.Invoke(options);
        return new NoiseSecureChannel(NoiseSuite.Classical, Options.Create(options));
    }

    [Fact]
    public async Task An_initiator_that_stalls_after_its_first_message_times_the_responder_out()
    {
        var (rawClient, rawServer) = MemoryRawConnection.CreatePair();
        var inbound = Channel(o => o.HandshakeTimeout = TimeSpan.FromMilliseconds(200)).SecureInboundAsync(rawServer, TestIdentity.Generate(), [], default).AsTask();

        // Message 1 of XX (an ephemeral key), then nothing: the responder answers and waits for message 3 in vain.
        byte[] first = [0x00, 0x20, .. RandomNumberGenerator.GetBytes(32)];
        await rawClient.Output.WriteAsync(first);
        var error = await Assert.ThrowsAsync<HandshakeException>(() => inbound.WaitAsync(Patience));
        Assert.IsType<TimeoutException>(error.InnerException);
        Assert.True(rawServer.IsAborted);
    }

    public static TheoryData<string, byte[], bool, string> BrokenFrames() => new()
    {
        { "frame shorter than its tag", [0x00, 0x05, 1, 2, 3, 4, 5], false, "shorter than its tag" },
        { "frame cut by the end of stream", [0x01, 0x00, 1, 2, 3], true, "in the middle of a Noise frame" },
        { "garbage frame", [0x00, 0x20, .. new byte[32]], false, "authentication tag" },
    };

    [Theory]
    [MemberData(nameof(BrokenFrames))]
    public async Task Broken_frames_after_the_handshake_fail_reads_with_a_typed_error_and_abort_the_connection(
        string attack, byte[] bytes, bool thenClose, string mentioned)
    {
        _ = attack;
        var (rawClient, rawServer) = MemoryRawConnection.CreatePair();
        var outbound = Channel().SecureOutboundAsync(rawClient, TestIdentity.Generate(), null, [], default).AsTask();
        var inbound = Channel().SecureInboundAsync(rawServer, TestIdentity.Generate(), [], default).AsTask();
        await using var client = await outbound.WaitAsync(Patience);
        await using var server = await inbound.WaitAsync(Patience);

        // The client's Noise layer is idle: the bytes below are the only thing on the wire after the handshake.
        try
        {
            await rawClient.Output.WriteAsync(bytes);
            if (thenClose) await rawClient.Output.CompleteAsync();
        }
        catch (IOException)
        {
            // The server may reject the frame and reset the connection before this flush returns.
        }

        var error = await Assert.ThrowsAsync<NoiseConnectionException>(async () => await server.Input.ReadAsync().AsTask().WaitAsync(Patience));
        Assert.Contains(mentioned, error.Message);
        Assert.True(rawServer.IsAborted);
    }
}
