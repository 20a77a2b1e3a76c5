using FsCheck;
using FsCheck.Fluent;
using P2PStack.Identity;
using P2PStack.Records;

namespace P2PStack.Tests.Records;

/// <summary>Envelope and peer record decoders only ever throw their typed exceptions.</summary>
public class RecordFuzzTests
{
    private static void OnlyTyped(Action action)
    {
        try { action(); }
        catch (EnvelopeException) { }
        catch (PeerRecordException) { }
    }

    [Fact]
    public void RandomBytes_OpenEnvelopeAndPeerRecord()
    {
        Prop.ForAll<byte[]>(bytes =>
        {
            OnlyTyped(() => SignedEnvelope.Open(bytes, "d"));
            OnlyTyped(() => PeerRecord.Open(bytes));
            try { PeerRecord.FromProtobuf(bytes); } catch (PeerRecordException) { }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void MutatedAndTruncatedEnvelopes()
    {
        var random = new Random(314);
        string[] vectors = [RecordVectors.Ed25519PeerRecordEnvelope, RecordVectors.Secp256k1PeerRecordEnvelope, RecordVectors.Ed25519CustomEnvelope];
        using var rsa = PrivateKey.Generate(KeyType.Rsa);
        var rsaRecord = new PeerRecord(PeerId.FromPublicKey(rsa.PublicKey), 1, [P2PStack.Addressing.Multiaddr.Parse("/ip4/1.2.3.4/tcp/5")]);
        var inputs = vectors.Select(Convert.FromHexString).Append(rsaRecord.Seal(rsa).ToBytes());
        foreach (byte[] valid in inputs)
        {
            for (int length = 0; length < valid.Length; length++)
                OnlyTyped(() => PeerRecord.Open(valid.AsSpan(0, length)));
            for (int round = 0; round < 400; round++)
            {
                byte[] mutated = (byte[])valid.Clone();
                int changes = random.Next(1, 4);
                for (int c = 0; c < changes; c++)
                {
                    int at = random.Next(mutated.Length);
                    mutated[at] = random.Next(3) == 0 ? (byte)random.Next(256) : (byte)(mutated[at] ^ (1 << random.Next(8)));
                }
                // A mutation may only succeed if it left the signed content intact (e.g. a re-encodable key form).
                try
                {
                    var record = PeerRecord.Open(mutated);
                    var original = PeerRecord.Open(valid);
                    Assert.Equal(original.PeerId, record.PeerId);
                    Assert.Equal(original.Seq, record.Seq);
                }
                catch (EnvelopeException) { }
                catch (PeerRecordException) { }
            }
        }
    }
}
