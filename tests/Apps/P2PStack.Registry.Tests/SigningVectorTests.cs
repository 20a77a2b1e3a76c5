using System.Buffers.Text;
using System.Security.Cryptography;
using P2PStack.Identity;

namespace P2PStack.Registry.Tests;

/// <summary>
/// The worked example of docs/specs/registry.md: another client implementation must produce the same bytes (checked
/// once against Node's crypto module when the vector was made).
/// </summary>
public sealed class SigningVectorTests
{
    public const string Method = "POST";
    public const string Authority = "Registry.Example:8190";
    public const string Target = "/heartbeat";
    public const string Timestamp = "1700000000000";
    public const string Nonce = "AAECAwQFBgcICQoLDA0ODw";
    public const string Body = """{"connections":[]}""";

    public const string ExpectedPublicKeyHeader = "CAESIAOhB7_zzhC-HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
    public const string ExpectedInputHex =
        "2173796e61707469632d6d6573682f72656769737472792f726571756573742f763104504f53541572656769737472792e6578616d706c653a383139300a2f6865617274626561740d313730303030303030303030301641414543417751464267634943516f4c4441304f4477240801122003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b820bbdcd6b32401259c4e60d24b74c477a9c76d1010ba6fc707d1656ac59ea114a7";
    public const string ExpectedSignature = "VoQTb75XoMPNR8jkse7lO_YM0Wmx4b9tdeH8PqW4yrGeqSYlbEIrffdhkOrXl9sHF6BSWnvVsLHuPokrS1muDA";

    private static PrivateKey Key()
    {
        byte[] seed = new byte[32];
        for (int i = 0; i < seed.Length; i++) seed[i] = (byte)i;
        return Ed25519PrivateKey.FromSeed(seed);
    }

    [Fact]
    public void The_spec_example_signs_to_the_published_bytes()
    {
        using var key = Key();
        byte[] body = System.Text.Encoding.UTF8.GetBytes(Body);
        byte[] input = RequestSigning.SigningInput(Method, Authority, Target, Timestamp, Nonce, key.PublicKey.ToProtobuf(), SHA256.HashData(body));
        var signed = RequestSigning.Sign(key, Method, Authority, Target, body, Timestamp, Nonce);
        Assert.Equal(ExpectedPublicKeyHeader, signed.PublicKey);
        Assert.Equal(ExpectedInputHex, Convert.ToHexStringLower(input));
        Assert.Equal(ExpectedSignature, signed.Signature);
        Assert.True(key.PublicKey.Verify(input, Base64Url.DecodeFromChars(signed.Signature)));
    }
}
