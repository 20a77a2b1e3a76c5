using Google.Protobuf;
using P2PStack.Records;

namespace P2PStack.Tests.Records.Pb;

/// <summary>Re-encodes an envelope with chosen fields replaced, to build forged or malformed inputs.</summary>
internal sealed class EnvelopeBuilder(SignedEnvelope source)
{
    public byte[] PayloadType { get; init; } = source.PayloadType.ToArray();
    public byte[] Payload { get; init; } = source.Payload.ToArray();
    public byte[] Signature { get; init; } = source.Signature.ToArray();
    public byte[] KeyData { get; init; } = source.PublicKey.Raw.ToArray();
    public bool OmitKey { get; init; }

    public byte[] Build()
    {
        var message = new P2PStack.Records.Pb.Envelope
        {
            PayloadType = ByteString.CopyFrom(PayloadType),
            Payload = ByteString.CopyFrom(Payload),
            Signature = ByteString.CopyFrom(Signature),
        };
        if (!OmitKey)
            message.PublicKey = new P2PStack.Identity.Pb.PublicKey { Type = (P2PStack.Identity.Pb.KeyType)source.PublicKey.Type, Data = ByteString.CopyFrom(KeyData) };
        return message.ToByteArray();
    }
}
