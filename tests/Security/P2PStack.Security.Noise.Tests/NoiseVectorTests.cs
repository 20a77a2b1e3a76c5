using System.Text.Json;
using P2PStack.Security.Noise.Protocol;

namespace P2PStack.Security.Noise.Tests;

/// <summary>Noise_XX_25519_ChaChaPoly_SHA256 against the cacophony and snow vectors (Vectors/ names the source).</summary>
public class NoiseVectorTests
{
    public static TheoryData<int> VectorIndexes()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < LoadVectors().Count; i++)
        {
            data.Add(i);
        }

        return data;
    }

    [Fact]
    public void VectorFileHoldsTheXXVectors() => Assert.Equal(2, LoadVectors().Count);

    [Theory]
    [MemberData(nameof(VectorIndexes))]
    public void HandshakeAndTransportMatchVector(int index)
    {
        var v = LoadVectors()[index];
        Assert.Equal("Noise_XX_25519_ChaChaPoly_SHA256", v.GetProperty("protocol_name").GetString());
        var protocol = NoiseProtocol.XX25519ChaChaPolySha256;
        Assert.Equal("Noise_XX_25519_ChaChaPoly_SHA256", protocol.Name);

        using var initStatic = X25519KeyPair.FromPrivateKey(Hex(v, "init_static"));
        using var respStatic = X25519KeyPair.FromPrivateKey(Hex(v, "resp_static"));
        using var initiator = new HandshakeState(protocol, true, Hex(v, "init_prologue"), initStatic,
            X25519KeyPair.FromPrivateKey(Hex(v, "init_ephemeral")));
        using var responder = new HandshakeState(protocol, false, Hex(v, "resp_prologue"), respStatic,
            X25519KeyPair.FromPrivateKey(Hex(v, "resp_ephemeral")));

        var messages = v.GetProperty("messages").EnumerateArray().ToArray();
        CipherState? iSend = null, iRecv = null, rSend = null, rRecv = null;
        try
        {
            for (int m = 0; m < messages.Length; m++)
            {
                var payload = Convert.FromHexString(messages[m].GetProperty("payload").GetString()!);
                var expected = Convert.FromHexString(messages[m].GetProperty("ciphertext").GetString()!);
                bool fromInitiator = m % 2 == 0;
                var received = new byte[expected.Length];
                int receivedLength;
                if (m < 3)
                {
                    var (writer, reader) = fromInitiator ? (initiator, responder) : (responder, initiator);
                    Assert.Equal(expected.Length, writer.GetNextMessageLength(payload.Length));
                    var sent = new byte[expected.Length];
                    Assert.Equal(expected.Length, writer.WriteMessage(payload, sent));
                    Assert.Equal(expected, sent);
                    receivedLength = reader.ReadMessage(sent, received);
                    if (m == 2)
                    {
                        (iSend, iRecv) = initiator.Split();
                        (rSend, rRecv) = responder.Split();
                        Assert.Equal(initiator.HandshakeHash.ToArray(), responder.HandshakeHash.ToArray());
                        if (v.TryGetProperty("handshake_hash", out var hh))
                        {
                            Assert.Equal(Convert.FromHexString(hh.GetString()!), initiator.HandshakeHash.ToArray());
                        }

                        Assert.Equal(respStatic.PublicKey.ToArray(), initiator.RemoteStaticPublicKey.ToArray());
                        Assert.Equal(initStatic.PublicKey.ToArray(), responder.RemoteStaticPublicKey.ToArray());
                    }
                }
                else
                {
                    var (send, recv) = fromInitiator ? (iSend!, rRecv!) : (rSend!, iRecv!);
                    var sent = new byte[payload.Length + CipherState.TagSize];
                    send.EncryptWithAd(default, payload, sent);
                    Assert.Equal(expected, sent);
                    receivedLength = recv.DecryptWithAd(default, sent, received);
                }

                Assert.Equal(payload, received[..receivedLength]);
            }
        }
        finally
        {
            iSend?.Dispose();
            iRecv?.Dispose();
            rSend?.Dispose();
            rRecv?.Dispose();
        }
    }

    private static byte[] Hex(JsonElement v, string name) => Convert.FromHexString(v.GetProperty(name).GetString()!);

    private static List<JsonElement> LoadVectors()
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Vectors", "noise-xx-25519-chachapoly-sha256.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.GetProperty("vectors").EnumerateArray().Select(e => e.Clone()).ToList();
    }
}
