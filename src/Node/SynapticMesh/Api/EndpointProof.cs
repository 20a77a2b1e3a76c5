using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace SynapticMesh.Api;

/// <summary>
/// How the CLI makes sure the process on api.json's port is the node that wrote the file before it sends the token:
/// after a crash the file stays behind and the port may belong to anyone next. The CLI sends a random challenge to
/// the unauthenticated <c>GET /v1/endpoint-proof?challenge=</c>; the node answers with its peer id, its pid and
/// HMAC-SHA256 keyed by the token over the challenge, peer id and pid. Only the node that holds the token can
/// answer, and the token itself never leaves the CLI until the answer matches the file.
/// </summary>
public static class EndpointProof
{
    public const string Path = "/v1/endpoint-proof";

    /// <summary>Random bytes in a challenge.</summary>
    public const int ChallengeSize = 32;

    private const int MaxChallengeLength = 128;

    /// <summary>The node's answer.</summary>
    public sealed record Answer(string PeerId, int Pid, string Proof);

    public static string NewChallenge() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(ChallengeSize));

    /// <summary>True when <paramref name="challenge"/> is a challenge this API answers (bounded, printable).</summary>
    public static bool IsAcceptableChallenge(string? challenge) =>
        challenge is { Length: >= 16 and <= MaxChallengeLength } && challenge.All(c => c is > ' ' and < (char)127);

    public static string Compute(string token, string challenge, string peerId, int pid)
    {
        byte[] message = Encoding.UTF8.GetBytes(
            $"synaptic-mesh control API endpoint proof v1\n{challenge}\n{peerId}\n{pid.ToString(CultureInfo.InvariantCulture)}");
        return Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(token), message));
    }

    /// <summary>True when <paramref name="answer"/> comes from the node described by <paramref name="endpoint"/>.</summary>
    public static bool Verify(ApiEndpointFile endpoint, string challenge, Answer? answer)
    {
        if (answer is null || answer.PeerId != endpoint.PeerId || answer.Pid != endpoint.Pid) return false;
        byte[] expected = Encoding.ASCII.GetBytes(Compute(endpoint.Token, challenge, endpoint.PeerId, endpoint.Pid));
        byte[] presented = Encoding.ASCII.GetBytes(answer.Proof ?? "");
        return CryptographicOperations.FixedTimeEquals(expected, presented);
    }
}
