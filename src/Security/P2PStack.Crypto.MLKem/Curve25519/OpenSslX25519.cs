using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace P2PStack.Crypto.MLKem;

/// <summary>
/// X25519 from OpenSSL's libcrypto (libcrypto.so.3, else libcrypto.so.1.1), called through function pointers
/// resolved once. .NET on Linux needs OpenSSL for its own cryptography (our AEAD among it), so the library is there
/// wherever the stack runs on Linux; elsewhere, or when it lacks X25519 or fails the RFC 7748 self-test,
/// <see cref="Available"/> is false and <see cref="X25519Key"/> uses BouncyCastle.
/// </summary>
/// <remarks>
/// Only the EVP_PKEY interface common to OpenSSL 1.1.1 and 3.x is used. Raw key import does not validate the point
/// (any 32 bytes are a public key, as in RFC 7748); <c>EVP_PKEY_derive</c> fails when the result is all zeros, which
/// callers turn back into BouncyCastle's semantics. Every failure clears the thread's OpenSSL error queue so that
/// nothing is left for .NET's own OpenSSL calls on the same thread.
/// </remarks>
internal static unsafe class OpenSslX25519
{
    private const int NidX25519 = 1034;
    private const int KeySize = 32;

    private static readonly delegate* unmanaged<int, nint, byte*, nuint, nint> NewRawPrivateKey;
    private static readonly delegate* unmanaged<int, nint, byte*, nuint, nint> NewRawPublicKey;
    private static readonly delegate* unmanaged<nint, byte*, nuint*, int> GetRawPublicKey;
    private static readonly delegate* unmanaged<nint, byte*, nuint*, int> GetRawPrivateKey;
    private static readonly delegate* unmanaged<nint, void> PkeyFree;
    private static readonly delegate* unmanaged<int, nint, nint> CtxNewId;
    private static readonly delegate* unmanaged<nint, nint, nint> CtxNew;
    private static readonly delegate* unmanaged<nint, void> CtxFree;
    private static readonly delegate* unmanaged<nint, int> KeygenInit;
    private static readonly delegate* unmanaged<nint, nint*, int> Keygen;
    private static readonly delegate* unmanaged<nint, int> DeriveInit;
    private static readonly delegate* unmanaged<nint, nint, int> DeriveSetPeer;
    private static readonly delegate* unmanaged<nint, nint, int, int> DeriveSetPeerEx;
    private static readonly delegate* unmanaged<nint, byte*, nuint*, int> Derive;
    private static readonly delegate* unmanaged<void> ClearError;

    static OpenSslX25519()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsFreeBSD())
        {
            return;
        }

        nint lib = 0;
        foreach (var name in (ReadOnlySpan<string>)["libcrypto.so.3", "libcrypto.so.1.1"])
        {
            if (NativeLibrary.TryLoad(name, out lib))
            {
                LibraryName = name;
                break;
            }
        }

        if (lib == 0)
        {
            return;
        }

        try
        {
            NewRawPrivateKey = (delegate* unmanaged<int, nint, byte*, nuint, nint>)NativeLibrary.GetExport(lib, "EVP_PKEY_new_raw_private_key");
            NewRawPublicKey = (delegate* unmanaged<int, nint, byte*, nuint, nint>)NativeLibrary.GetExport(lib, "EVP_PKEY_new_raw_public_key");
            GetRawPublicKey = (delegate* unmanaged<nint, byte*, nuint*, int>)NativeLibrary.GetExport(lib, "EVP_PKEY_get_raw_public_key");
            GetRawPrivateKey = (delegate* unmanaged<nint, byte*, nuint*, int>)NativeLibrary.GetExport(lib, "EVP_PKEY_get_raw_private_key");
            PkeyFree = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(lib, "EVP_PKEY_free");
            CtxNewId = (delegate* unmanaged<int, nint, nint>)NativeLibrary.GetExport(lib, "EVP_PKEY_CTX_new_id");
            CtxNew = (delegate* unmanaged<nint, nint, nint>)NativeLibrary.GetExport(lib, "EVP_PKEY_CTX_new");
            CtxFree = (delegate* unmanaged<nint, void>)NativeLibrary.GetExport(lib, "EVP_PKEY_CTX_free");
            KeygenInit = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(lib, "EVP_PKEY_keygen_init");
            Keygen = (delegate* unmanaged<nint, nint*, int>)NativeLibrary.GetExport(lib, "EVP_PKEY_keygen");
            DeriveInit = (delegate* unmanaged<nint, int>)NativeLibrary.GetExport(lib, "EVP_PKEY_derive_init");
            DeriveSetPeer = (delegate* unmanaged<nint, nint, int>)NativeLibrary.GetExport(lib, "EVP_PKEY_derive_set_peer");
            Derive = (delegate* unmanaged<nint, byte*, nuint*, int>)NativeLibrary.GetExport(lib, "EVP_PKEY_derive");
            ClearError = (delegate* unmanaged<void>)NativeLibrary.GetExport(lib, "ERR_clear_error");
            // 3.x: setting the peer without validating it; the validation (a public-key check of an X25519 key, which
            // only asks whether it has one) costs a context of its own per call.
            if (NativeLibrary.TryGetExport(lib, "EVP_PKEY_derive_set_peer_ex", out nint setPeerEx))
            {
                DeriveSetPeerEx = (delegate* unmanaged<nint, nint, int, int>)setPeerEx;
            }

            Available = SelfTest();
        }
        catch (EntryPointNotFoundException)
        {
            Available = false;
        }
    }

    /// <summary>libcrypto loaded, with X25519 giving RFC 7748's answer.</summary>
    public static bool Available { get; }

    /// <summary>The libcrypto file loaded (null when none was).</summary>
    public static string? LibraryName { get; }

    /// <summary>A key generated by OpenSSL; its public key into <paramref name="publicKey"/>.</summary>
    public static SafeEvpPkeyHandle Generate(Span<byte> publicKey)
    {
        nint ctx = CtxNewId(NidX25519, 0);
        if (ctx == 0)
        {
            throw Failure("EVP_PKEY_CTX_new_id");
        }

        nint pkey = 0;
        try
        {
            if (KeygenInit(ctx) != 1 || Keygen(ctx, &pkey) != 1)
            {
                throw Failure("EVP_PKEY_keygen");
            }
        }
        finally
        {
            CtxFree(ctx);
        }

        return Wrap(pkey, publicKey);
    }

    /// <summary>A key from its 32 private bytes (OpenSSL computes the public key, by the fixed-base method).</summary>
    public static SafeEvpPkeyHandle Import(ReadOnlySpan<byte> privateKey, Span<byte> publicKey)
    {
        return Wrap(ImportRaw(privateKey), publicKey);
    }

    private static SafeEvpPkeyHandle Wrap(nint pkey, Span<byte> publicKey)
    {
        var handle = new SafeEvpPkeyHandle(pkey);
        try
        {
            ExportPublic(pkey, publicKey);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>The private key's 32 bytes (for the rare fall-back path; the caller erases them).</summary>
    public static void ExportPrivate(SafeEvpPkeyHandle key, Span<byte> privateKey)
    {
        bool added = false;
        try
        {
            key.DangerousAddRef(ref added);
            nuint length = KeySize;
            fixed (byte* p = privateKey)
            {
                if (GetRawPrivateKey(key.DangerousGetHandle(), p, &length) != 1 || length != KeySize)
                {
                    throw Failure("EVP_PKEY_get_raw_private_key");
                }
            }
        }
        finally
        {
            if (added) key.DangerousRelease();
        }
    }

    /// <summary>A derive context for <paramref name="key"/>, initialized; reused for many agreements.</summary>
    public static SafeEvpPkeyCtxHandle NewDeriveContext(SafeEvpPkeyHandle key)
    {
        bool added = false;
        try
        {
            key.DangerousAddRef(ref added);
            return new SafeEvpPkeyCtxHandle(NewDeriveContext(key.DangerousGetHandle()));
        }
        finally
        {
            if (added) key.DangerousRelease();
        }
    }

    /// <summary>
    /// X25519(private key of <paramref name="ctx"/>, <paramref name="peerPublicKey"/>) into
    /// <paramref name="sharedSecret"/>. False when OpenSSL refused (an all-zero result: a low-order peer key).
    /// The caller holds <paramref name="ctx"/> exclusively.
    /// </summary>
    public static bool TryDerive(SafeEvpPkeyCtxHandle ctx, ReadOnlySpan<byte> peerPublicKey, Span<byte> sharedSecret) =>
        TryDerive(ctx.DangerousGetHandle(), peerPublicKey, sharedSecret);

    /// <summary>
    /// One-shot, for a scalar used once (X-Wing's encapsulation): its public key, and its agreement with
    /// <paramref name="peerPublicKey"/>. False when the agreement was refused (all zeros); the public key is written.
    /// </summary>
    public static bool TryScalarMultBaseAndDerive(ReadOnlySpan<byte> scalar, ReadOnlySpan<byte> peerPublicKey,
        Span<byte> publicKey, Span<byte> sharedSecret)
    {
        nint pkey = ImportRaw(scalar);
        nint ctx = 0;
        try
        {
            ExportPublic(pkey, publicKey);
            ctx = NewDeriveContext(pkey);
            return TryDerive(ctx, peerPublicKey, sharedSecret);
        }
        finally
        {
            if (ctx != 0) CtxFree(ctx);
            PkeyFree(pkey);
        }
    }

    internal static void FreeKey(nint pkey) => PkeyFree(pkey);

    internal static void FreeContext(nint ctx) => CtxFree(ctx);

    private static nint ImportRaw(ReadOnlySpan<byte> privateKey)
    {
        if (privateKey.Length != KeySize)
        {
            throw new ArgumentException($"an X25519 private key is {KeySize} bytes", nameof(privateKey));
        }

        nint pkey;
        fixed (byte* p = privateKey)
        {
            pkey = NewRawPrivateKey(NidX25519, 0, p, KeySize);
        }

        return pkey != 0 ? pkey : throw Failure("EVP_PKEY_new_raw_private_key");
    }

    private static void ExportPublic(nint pkey, Span<byte> publicKey)
    {
        nuint length = KeySize;
        fixed (byte* p = publicKey)
        {
            if (publicKey.Length < KeySize || GetRawPublicKey(pkey, p, &length) != 1 || length != KeySize)
            {
                throw Failure("EVP_PKEY_get_raw_public_key");
            }
        }
    }

    private static nint NewDeriveContext(nint pkey)
    {
        nint ctx = CtxNew(pkey, 0);
        if (ctx == 0)
        {
            throw Failure("EVP_PKEY_CTX_new");
        }

        if (DeriveInit(ctx) != 1)
        {
            CtxFree(ctx);
            throw Failure("EVP_PKEY_derive_init");
        }

        return ctx;
    }

    private static bool TryDerive(nint ctx, ReadOnlySpan<byte> peerPublicKey, Span<byte> sharedSecret)
    {
        if (peerPublicKey.Length != KeySize)
        {
            throw new ArgumentException($"an X25519 public key is {KeySize} bytes, not {peerPublicKey.Length}", nameof(peerPublicKey));
        }

        if (sharedSecret.Length < KeySize)
        {
            throw new ArgumentException($"the shared secret needs {KeySize} bytes", nameof(sharedSecret));
        }

        nint peer;
        fixed (byte* p = peerPublicKey)
        {
            peer = NewRawPublicKey(NidX25519, 0, p, KeySize);
        }

        if (peer == 0)
        {
            throw Failure("EVP_PKEY_new_raw_public_key");
        }

        try
        {
            int set = DeriveSetPeerEx != null ? DeriveSetPeerEx(ctx, peer, 0) : DeriveSetPeer(ctx, peer);
            if (set != 1)
            {
                throw Failure("EVP_PKEY_derive_set_peer");
            }

            nuint length = KeySize;
            fixed (byte* s = sharedSecret)
            {
                if (Derive(ctx, s, &length) == 1 && length == KeySize)
                {
                    return true;
                }
            }

            ClearError();
            return false;
        }
        finally
        {
            // The context keeps its own reference to the peer key until the next peer replaces it.
            PkeyFree(peer);
        }
    }

    private static CryptographicException Failure(string function)
    {
        ClearError();
        return new CryptographicException($"OpenSSL {function} failed");
    }

    // RFC 7748 section 5.2, the first X25519 vector.
    private static bool SelfTest()
    {
        try
        {
            ReadOnlySpan<byte> scalar = Convert.FromHexString("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4");
            ReadOnlySpan<byte> u = Convert.FromHexString("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c");
            ReadOnlySpan<byte> expected = Convert.FromHexString("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
            Span<byte> publicKey = stackalloc byte[KeySize];
            Span<byte> shared = stackalloc byte[KeySize];
            return TryScalarMultBaseAndDerive(scalar, u, publicKey, shared) && shared.SequenceEqual(expected);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }
}

/// <summary>An OpenSSL EVP_PKEY, freed deterministically on dispose (or by the finalizer).</summary>
internal sealed class SafeEvpPkeyHandle : SafeHandle
{
    public SafeEvpPkeyHandle(nint handle) : base(0, ownsHandle: true) => SetHandle(handle);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        OpenSslX25519.FreeKey(handle);
        return true;
    }
}

/// <summary>An OpenSSL EVP_PKEY_CTX, freed deterministically on dispose (or by the finalizer).</summary>
internal sealed class SafeEvpPkeyCtxHandle : SafeHandle
{
    public SafeEvpPkeyCtxHandle(nint handle) : base(0, ownsHandle: true) => SetHandle(handle);

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        OpenSslX25519.FreeContext(handle);
        return true;
    }
}
