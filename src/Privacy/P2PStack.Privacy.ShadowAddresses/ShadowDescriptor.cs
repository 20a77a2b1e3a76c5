using System.Buffers.Binary;
using System.Security.Cryptography;
using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Privacy.ShadowAddresses;

/// <summary>An onion relay through which a shadow service accepts introductions.</summary>
/// <param name="Relay">The relay's peer id.</param>
/// <param name="Addresses">Where to reach the relay (at most <see cref="ShadowDescriptor.MaxAddressesPerPoint"/>).</param>
/// <param name="AuthKey">32 bytes the service chose for this introduction point: the relay recognises the service's
/// circuit by it, and it names nothing else.</param>
public sealed record IntroductionPoint(PeerId Relay, IReadOnlyList<Multiaddr> Addresses, ReadOnlyMemory<byte> AuthKey);

/// <summary>The decrypted content of a descriptor.</summary>
public sealed record ShadowDescriptorContent(IReadOnlyList<IntroductionPoint> IntroductionPoints)
{
    /// <summary>The peer id the service authenticates as on its shadow connections (derived from the address key,
    /// never the node's identity; docs/specs/shadow.md, section 7). Set from the key when a descriptor is created;
    /// read from the body when one is decrypted.</summary>
    public PeerId? Service { get; init; }

    /// <summary>True for a retirement record: no introduction points, the address is retired (docs/specs/shadow.md,
    /// section 6). It supersedes the address's earlier descriptors of the period (a higher revision) and, being
    /// encrypted like any body and padded to the same size, tells DHT nodes only that the record changed.</summary>
    public bool Retired => IntroductionPoints.Count == 0;

    /// <summary>The content of a retirement record.</summary>
    public static ShadowDescriptorContent Retirement { get; } = new([]);
}

/// <summary>
/// A shadow descriptor as stored in the DHT (docs/specs/shadow.md): a public header (blinded key, period, revision,
/// expiry) that any DHT node checks against the blinded key's signature, and a body of introduction points encrypted
/// with a key derived from the unblinded address, which only those who know the address can read.
/// </summary>
public sealed class ShadowDescriptor
{
    /// <summary>The DHT namespace: keys are <c>/shadow/</c> followed by the 33-byte blinded key.</summary>
    public const string Namespace = "shadow";

    public const int MaxIntroductionPoints = 10;
    public const int MaxAddressesPerPoint = 4;
    public const int MaxAddressLength = 256;
    public const int MaxPeerIdLength = 64;
    public const int AuthKeySize = 32;

    /// <summary>The body's version byte (2: with the service's connection peer id).</summary>
    public const byte BodyVersion = 2;

    /// <summary>The body is padded to a multiple of this, so its size reveals little.</summary>
    public const int BodyBlock = 512;

    /// <summary>Largest ciphertext (nonce, body, tag) accepted.</summary>
    public const int MaxCiphertext = 8192;

    private const int NonceSize = 12;
    private const int TagSize = 16;
    private const int HeaderSize = 4 + ShadowCurve.PointSize + 8 + 8 + 8 + 8 + 2;
    private static readonly byte[] Magic = "SHD1"u8.ToArray();
    private static readonly byte[] SignatureLabel = "synaptic-shadow-descriptor-v1"u8.ToArray();
    private static readonly byte[] KeyLabel = "synaptic-shadow-descriptor-key-v1"u8.ToArray();
    private static readonly byte[] KeyPrefix = "/shadow/"u8.ToArray();

    private ShadowDescriptor(byte[] encoded, byte[] blindedKey, ShadowPeriod period, ulong revision, DateTimeOffset expires,
        int ciphertextOffset, int ciphertextLength)
    {
        Encoded = encoded;
        BlindedKey = blindedKey;
        Period = period;
        Revision = revision;
        Expires = expires;
        _ciphertextOffset = ciphertextOffset;
        _ciphertextLength = ciphertextLength;
    }

    private readonly int _ciphertextOffset;
    private readonly int _ciphertextLength;

    /// <summary>The record value.</summary>
    public byte[] Encoded { get; }

    /// <summary>The blinded key <c>A'</c> that signed the descriptor.</summary>
    public byte[] BlindedKey { get; }

    public ShadowPeriod Period { get; }

    /// <summary>Higher revisions replace lower ones in the DHT.</summary>
    public ulong Revision { get; }

    public DateTimeOffset Expires { get; }

    /// <summary>The DHT key of <paramref name="blindedKey"/>: <c>/shadow/</c> || A'.</summary>
    public static byte[] DhtKey(ReadOnlySpan<byte> blindedKey) => [.. KeyPrefix, .. blindedKey];

    /// <summary>The DHT key under which <paramref name="address"/>'s descriptor for <paramref name="period"/> is stored.</summary>
    public static byte[] DhtKey(ShadowAddress address, ShadowPeriod period) => DhtKey(BlindedShadowKey.FromAddress(address, period).PublicKey);

    /// <summary>Builds, encrypts and signs a descriptor of <paramref name="key"/> for <paramref name="period"/>.</summary>
    public static ShadowDescriptor Create(ShadowKey key, ShadowPeriod period, ulong revision, DateTimeOffset expires,
        ShadowDescriptorContent content)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(content);
        return Seal(key, period, revision, expires, EncodeBody(content, key.ServiceIdentity.PeerId));
    }

    /// <summary>Encrypts and signs a body as given (zero-padded to whole blocks, cut at the largest): for the fuzz
    /// target, which reaches the body's decoder past the signature and the AEAD this way.</summary>
    internal static ShadowDescriptor CreateFromBody(ShadowKey key, ShadowPeriod period, ulong revision, DateTimeOffset expires, ReadOnlySpan<byte> body)
    {
        int room = (MaxCiphertext - NonceSize - TagSize) / BodyBlock * BodyBlock;
        int padded = Math.Clamp((body.Length + BodyBlock - 1) / BodyBlock * BodyBlock, BodyBlock, room);
        var block = new byte[padded];
        body[..Math.Min(body.Length, padded)].CopyTo(block);
        return Seal(key, period, revision, expires, block);
    }

    private static ShadowDescriptor Seal(ShadowKey key, ShadowPeriod period, ulong revision, DateTimeOffset expires, byte[] body)
    {
        var blinded = key.Blind(period);
        int ciphertextLength = NonceSize + body.Length + TagSize;
        var encoded = new byte[HeaderSize + ciphertextLength + ShadowCurve.SignatureSize];
        var span = encoded.AsSpan();
        Magic.CopyTo(span);
        blinded.PublicKey.CopyTo(span[4..]);
        BinaryPrimitives.WriteUInt64BigEndian(span[37..], period.LengthSeconds);
        BinaryPrimitives.WriteUInt64BigEndian(span[45..], period.Number);
        BinaryPrimitives.WriteUInt64BigEndian(span[53..], revision);
        BinaryPrimitives.WriteUInt64BigEndian(span[61..], (ulong)expires.ToUnixTimeSeconds());
        BinaryPrimitives.WriteUInt16BigEndian(span[69..], (ushort)ciphertextLength);

        var nonce = span.Slice(HeaderSize, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using (var aes = new AesGcm(BodyKey(key.Address.PublicKey, blinded.PublicKey), TagSize))
        {
            aes.Encrypt(nonce, body, span.Slice(HeaderSize + NonceSize, body.Length),
                span.Slice(HeaderSize + NonceSize + body.Length, TagSize), span[..(HeaderSize - 2)]);
        }
        int signed = HeaderSize + ciphertextLength;
        blinded.Sign(SignedBytes(span[..signed])).CopyTo(span[signed..]);
        return new ShadowDescriptor(encoded, blinded.PublicKey, period, revision, expires, HeaderSize, ciphertextLength);
    }

    /// <summary>
    /// Parses and checks a record as a DHT node can, without the address: layout, blinded key, signature, the period
    /// (of <paramref name="periodLength"/>, the current one or a neighbour at <paramref name="now"/>) and expiry (in the
    /// future, at most one period after the end of its own period). Throws <see cref="ShadowFormatException"/>.
    /// </summary>
    public static ShadowDescriptor Verify(ReadOnlySpan<byte> dhtKey, ReadOnlySpan<byte> value, DateTimeOffset now, TimeSpan periodLength)
    {
        if (value.Length < HeaderSize + ShadowCurve.SignatureSize) throw new ShadowFormatException("shadow descriptor is truncated");
        if (!value[..4].SequenceEqual(Magic)) throw new ShadowFormatException("not a shadow descriptor (magic)");
        var blindedKey = value.Slice(4, ShadowCurve.PointSize);
        if (!dhtKey.SequenceEqual(DhtKey(blindedKey)))
            throw new ShadowFormatException("shadow descriptor stored under another key than its blinded key") { Reason = "wrong_key" };
        var period = new ShadowPeriod(BinaryPrimitives.ReadUInt64BigEndian(value[45..]), BinaryPrimitives.ReadUInt64BigEndian(value[37..]));
        ulong revision = BinaryPrimitives.ReadUInt64BigEndian(value[53..]);
        ulong expiresSeconds = BinaryPrimitives.ReadUInt64BigEndian(value[61..]);
        int ciphertextLength = BinaryPrimitives.ReadUInt16BigEndian(value[69..]);
        if (ciphertextLength is < NonceSize + BodyBlock + TagSize or > MaxCiphertext)
            throw new ShadowFormatException($"shadow descriptor body of {ciphertextLength} bytes is out of range");
        if (value.Length != HeaderSize + ciphertextLength + ShadowCurve.SignatureSize)
            throw new ShadowFormatException("shadow descriptor length does not match its body length");

        var current = ShadowPeriod.At(now, periodLength);
        if (period.LengthSeconds != current.LengthSeconds)
            throw new ShadowFormatException($"shadow descriptor period length {period.LengthSeconds} s is not this network's {current.LengthSeconds} s") { Reason = "wrong_period" };
        if (period.Number + 1 < current.Number || period.Number > current.Number + 1)
            throw new ShadowFormatException($"shadow descriptor is for period {period.Number}, not around the current {current.Number}") { Reason = "wrong_period" };
        // Beyond year 9999 DateTimeOffset cannot hold it (found by the shadow-descriptor fuzz target).
        if (expiresSeconds > (ulong)DateTimeOffset.MaxValue.ToUnixTimeSeconds()) throw new ShadowFormatException("shadow descriptor expiry out of range");
        var expires = DateTimeOffset.FromUnixTimeSeconds((long)expiresSeconds);
        if (expires <= now) throw new ShadowFormatException("shadow descriptor has expired") { Reason = "expired" };
        if (expires > period.End + periodLength)
            throw new ShadowFormatException("shadow descriptor outlives its period by more than one period") { Reason = "lifetime" };

        BlindedShadowKey blinded;
        try
        {
            blinded = BlindedShadowKey.FromPublic(blindedKey, period);
        }
        catch (ShadowFormatException ex)
        {
            throw new ShadowFormatException("shadow descriptor blinded key is invalid", ex);
        }
        int signed = HeaderSize + ciphertextLength;
        if (!blinded.Verify(SignedBytes(value[..signed]), value[signed..]))
            throw new ShadowFormatException("shadow descriptor signature is invalid") { Reason = "signature" };
        return new ShadowDescriptor(value.ToArray(), blindedKey.ToArray(), period, revision, expires, HeaderSize, ciphertextLength);
    }

    /// <summary>
    /// Decrypts the body with the key derived from <paramref name="address"/>; throws <see cref="ShadowFormatException"/>
    /// when the descriptor is not this address's (its blinded key differs or the body does not decrypt) or the body
    /// is malformed.
    /// </summary>
    public ShadowDescriptorContent Decrypt(ShadowAddress address) => DecodeBody(DecryptBody(address));

    /// <summary>The body in the clear, padding included (see <see cref="Decrypt"/>).</summary>
    internal byte[] DecryptBody(ShadowAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (!BlindedShadowKey.FromAddress(address, Period).PublicKey.AsSpan().SequenceEqual(BlindedKey))
            throw new ShadowFormatException("shadow descriptor belongs to another address or period") { Reason = "wrong_address" };
        var ciphertext = Encoded.AsSpan(_ciphertextOffset, _ciphertextLength);
        var body = new byte[_ciphertextLength - NonceSize - TagSize];
        try
        {
            using var aes = new AesGcm(BodyKey(address.PublicKey, BlindedKey), TagSize);
            aes.Decrypt(ciphertext[..NonceSize], ciphertext.Slice(NonceSize, body.Length), ciphertext[^TagSize..], body,
                Encoded.AsSpan(0, HeaderSize - 2));
        }
        catch (AuthenticationTagMismatchException ex)
        {
            throw new ShadowFormatException("shadow descriptor body does not decrypt with this address", ex) { Reason = "undecryptable" };
        }
        return body;
    }

    private static byte[] SignedBytes(ReadOnlySpan<byte> record) => [.. SignatureLabel, .. record];

    private static byte[] BodyKey(ReadOnlySpan<byte> addressKey, ReadOnlySpan<byte> blindedKey) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, addressKey.ToArray(), 32, blindedKey.ToArray(), KeyLabel);

    private static byte[] EncodeBody(ShadowDescriptorContent content, PeerId service)
    {
        var points = content.IntroductionPoints;
        if (points.Count > MaxIntroductionPoints) // 0: a retirement record
            throw new ArgumentException($"a descriptor lists 0 to {MaxIntroductionPoints} introduction points", nameof(content));
        var body = new MemoryStream();
        body.WriteByte(BodyVersion);
        byte[] servicePeer = service.ToBytes();
        body.WriteByte((byte)servicePeer.Length);
        body.Write(servicePeer);
        body.WriteByte((byte)points.Count);
        foreach (var point in points)
        {
            byte[] peer = point.Relay.ToBytes();
            if (peer.Length > MaxPeerIdLength) throw new ArgumentException("peer id too long", nameof(content));
            if (point.Addresses.Count > MaxAddressesPerPoint) throw new ArgumentException($"at most {MaxAddressesPerPoint} addresses per introduction point", nameof(content));
            if (point.AuthKey.Length != AuthKeySize) throw new ArgumentException($"an introduction auth key has {AuthKeySize} bytes", nameof(content));
            body.WriteByte((byte)peer.Length);
            body.Write(peer);
            body.WriteByte((byte)point.Addresses.Count);
            foreach (var address in point.Addresses)
            {
                var bytes = address.ToBytes();
                if (bytes.Length > MaxAddressLength) throw new ArgumentException("address too long", nameof(content));
                body.WriteByte((byte)(bytes.Length >> 8));
                body.WriteByte((byte)bytes.Length);
                body.Write(bytes);
            }
            body.Write(point.AuthKey.Span);
        }
        int padded = (int)((body.Length + BodyBlock - 1) / BodyBlock * BodyBlock);
        if (padded > MaxCiphertext - NonceSize - TagSize) throw new ArgumentException("descriptor body too large", nameof(content));
        body.SetLength(padded); // zeros, inside the encryption
        return body.ToArray();
    }

    private static ShadowDescriptorContent DecodeBody(ReadOnlySpan<byte> body)
    {
        var reader = new BodyReader(body);
        if (reader.Byte() != BodyVersion) throw new ShadowFormatException($"shadow descriptor body version is not {BodyVersion}");
        int serviceLength = reader.Byte();
        if (serviceLength is 0 or > MaxPeerIdLength) throw new ShadowFormatException("service peer id length out of range");
        PeerId service;
        try
        {
            service = PeerId.FromBytes(reader.Bytes(serviceLength));
        }
        catch (FormatException ex)
        {
            throw new ShadowFormatException("service peer id is invalid", ex);
        }
        int count = reader.Byte();
        if (count > MaxIntroductionPoints) throw new ShadowFormatException($"shadow descriptor lists {count} introduction points");
        var points = new List<IntroductionPoint>(count);
        for (int i = 0; i < count; i++)
        {
            int peerLength = reader.Byte();
            if (peerLength is 0 or > MaxPeerIdLength) throw new ShadowFormatException("introduction point peer id length out of range");
            PeerId relay;
            try
            {
                relay = PeerId.FromBytes(reader.Bytes(peerLength));
            }
            catch (FormatException ex)
            {
                throw new ShadowFormatException("introduction point peer id is invalid", ex);
            }
            int addressCount = reader.Byte();
            if (addressCount > MaxAddressesPerPoint) throw new ShadowFormatException("too many addresses for an introduction point");
            var addresses = new List<Multiaddr>(addressCount);
            for (int j = 0; j < addressCount; j++)
            {
                int length = reader.UInt16();
                if (length is 0 or > MaxAddressLength) throw new ShadowFormatException("introduction point address length out of range");
                try
                {
                    addresses.Add(Multiaddr.Decode(reader.Bytes(length)));
                }
                catch (FormatException ex)
                {
                    throw new ShadowFormatException("introduction point address is invalid", ex);
                }
            }
            points.Add(new IntroductionPoint(relay, addresses, reader.Bytes(AuthKeySize).ToArray()));
        }
        return new ShadowDescriptorContent(points) { Service = service };
    }

    private ref struct BodyReader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _rest = data;

        public ReadOnlySpan<byte> Bytes(int count)
        {
            if (_rest.Length < count) throw new ShadowFormatException("shadow descriptor body is truncated");
            var taken = _rest[..count];
            _rest = _rest[count..];
            return taken;
        }

        public byte Byte() => Bytes(1)[0];

        public int UInt16() => BinaryPrimitives.ReadUInt16BigEndian(Bytes(2));
    }
}
