using P2PStack.Identity;
using SynapticMesh.Cli;

namespace SynapticMesh.Home;

/// <summary>Creates and unlocks the node's identity key file (home/identity.key).</summary>
public static class IdentityFile
{
    /// <summary>Generates an Ed25519 key and writes it, encrypted unless <paramref name="passphrase"/> is null.</summary>
    public static PeerId Create(NodeHome home, string? passphrase)
    {
        if (home.HasIdentity) throw new CliException($"{home.Directory} already has an identity ({home.IdentityPath})");
        using var key = PrivateKey.Generate(KeyType.Ed25519);
        if (passphrase is null) KeyFile.SaveUnencrypted(home.IdentityPath, key);
        else KeyFile.Save(home.IdentityPath, key, passphrase);
        return PeerId.FromPublicKey(key.PublicKey);
    }

    public static bool IsEncrypted(NodeHome home) => KeyFile.IsEncrypted(ReadFile(home));

    /// <summary>Rewrites an unencrypted key file encrypted with <paramref name="passphrase"/>; the peer id stays.</summary>
    public static PeerId Encrypt(NodeHome home, string passphrase)
    {
        byte[] file = ReadFile(home);
        try
        {
            using var key = KeyFile.Decode(file, null);
            KeyFile.Save(home.IdentityPath, key, passphrase);
            return PeerId.FromPublicKey(key.PublicKey);
        }
        catch (P2PStack.P2PFormatException e)
        {
            throw new CliException($"cannot read {home.IdentityPath}: {e.Message}", inner: e);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(file);
        }
    }

    /// <summary>Reads the key, asking for the passphrase only when the file is encrypted.</summary>
    public static PrivateKey Load(NodeHome home, CliOutput output)
    {
        if (!home.HasIdentity) throw new CliException($"{home.Directory} has no identity: run `synaptic-mesh p2p init` first");
        byte[] file = ReadFile(home);
        try
        {
            string? passphrase = KeyFile.IsEncrypted(file) ? Passphrase.ForExistingKey(output, home.IdentityPath) : null;
            return KeyFile.Decode(file, passphrase);
        }
        catch (P2PStack.P2PFormatException e)
        {
            throw new CliException($"cannot unlock {home.IdentityPath}: {e.Message}", inner: e);
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(file);
        }
    }

    private static byte[] ReadFile(NodeHome home)
    {
        try
        {
            return File.ReadAllBytes(home.IdentityPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot read {home.IdentityPath}: {e.Message}", inner: e);
        }
    }
}
