using P2PStack.Encoding;

namespace P2PStack.Core.Tests.Encoding;

public class CidTests
{
    private const string PeerIdV0 = "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N";
    private const string PeerIdCid = "bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxe";

    [Fact]
    public void Peer_id_cid_and_legacy_peer_id_share_the_multihash()
    {
        // libp2p peer-ids spec: the same peer as a base58 multihash and as a libp2p-key CIDv1.
        Cid cid = Cid.Parse(PeerIdCid);
        Assert.Equal(1, cid.Version);
        Assert.Equal(Multicodec.Libp2pKey, cid.Codec);
        Assert.Equal(MultihashCode.Sha2_256, cid.Hash.Code);
        Assert.Equal(PeerIdV0, cid.Hash.ToString());
        Assert.Equal(PeerIdCid, cid.ToString());
        Assert.Equal(PeerIdCid, Cid.V1(Multicodec.Libp2pKey, Multihash.Parse(PeerIdV0)).ToString());
    }

    [Fact]
    public void Parses_a_cidv0_and_converts_it_to_v1()
    {
        Cid v0 = Cid.Parse(PeerIdV0);
        Assert.Equal(0, v0.Version);
        Assert.Equal(Multicodec.DagPb, v0.Codec);
        Assert.Equal(34, v0.EncodedLength);
        Assert.Equal(PeerIdV0, v0.ToString());
        Assert.Equal(PeerIdV0, v0.ToString(MultibaseEncoding.Base58Btc));
        Assert.Throws<InvalidOperationException>(() => v0.ToString(MultibaseEncoding.Base32));
        Assert.Equal(v0, Cid.Decode(v0.ToBytes()));
        Assert.Equal(v0, Cid.V0(v0.Hash));

        Cid v1 = v0.ToV1();
        Assert.Equal(1, v1.Version);
        Assert.Equal(Multicodec.DagPb, v1.Codec);
        Assert.StartsWith("bafybei", v1.ToString());
        Assert.NotEqual(v0, v1);
        Assert.Equal(v1, Cid.Parse(v1.ToString()));
    }

    [Fact]
    public void Matches_the_cid_spec_example()
    {
        // multiformats/cid README: base58btc - cidv1 - raw - sha2-256-256-6e6ff795...
        Cid cid = Cid.Parse("zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA");
        Assert.Equal(1, cid.Version);
        Assert.Equal(Multicodec.Raw, cid.Codec);
        Assert.Equal(MultihashCode.Sha2_256, cid.Hash.Code);
        Assert.Equal("6e6ff7950a36187a801613426e858dce686cd7d7e3c0fc42ee0330072d245c95", Convert.ToHexStringLower(cid.Hash.Digest.Span));
        Assert.Equal("zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA", cid.ToString(MultibaseEncoding.Base58Btc));
    }

    [Fact]
    public void The_raw_cid_of_empty_content_is_the_well_known_one()
    {
        Cid cid = Cid.V1(Multicodec.Raw, Multihash.Sha2_256([]));
        Assert.Equal("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", cid.ToString());
        Assert.Equal(new byte[] { 0x01, 0x55, 0x12, 0x20, 0xe3, 0xb0 }, cid.ToBytes()[..6]);
    }

    [Fact]
    public void Writes_and_reads_every_multibase()
    {
        Cid cid = Cid.Parse(PeerIdCid);
        foreach (MultibaseEncoding e in Enum.GetValues<MultibaseEncoding>())
        {
            string text = cid.ToString(e);
            Assert.Equal((char)e, text[0]);
            Assert.Equal(cid, Cid.Parse(text));
        }
    }

    [Fact]
    public void Read_consumes_only_the_cid()
    {
        Cid cid = Cid.Parse(PeerIdCid);
        byte[] buffer = [.. cid.ToBytes(), 0x01, 0x02];
        Assert.Equal(cid, Cid.Read(buffer, out int read));
        Assert.Equal(cid.EncodedLength, read);
        Assert.Throws<CidException>(() => Cid.Decode(buffer));

        Cid v0 = Cid.Parse(PeerIdV0);
        byte[] v0Buffer = [.. v0.ToBytes(), 0x12];
        Assert.Equal(v0, Cid.Read(v0Buffer, out read));
        Assert.Equal(34, read);
    }

    [Theory]
    [InlineData("")]
    [InlineData("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5")] // 45 characters: not v0, and 'Q' is no multibase
    [InlineData("QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx50")] // '0' is not base58
    [InlineData("zQmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N")] // CIDv0 may not be multibase encoded
    [InlineData("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqx")] // truncated
    [InlineData("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxea")] // extra character
    [InlineData("bafzbeie5745rpv2m6tjyuugywy4d5ewrqgqqhfnf445he3omzpjbx5xqxf")] // nonzero trailing bits
    [InlineData("b")]
    [InlineData("f00")]
    [InlineData("f02551220e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")] // version 2 is reserved
    [InlineData("f03551220e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")]
    [InlineData("f0155")]
    [InlineData("f015512")]
    [InlineData("f8101551220e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")] // non-minimal version varint
    public void Parse_rejects_invalid_text(string text)
    {
        Assert.Throws<CidException>(() => Cid.Parse(text));
        Assert.False(Cid.TryParse(text, out _));
    }

    [Theory]
    [InlineData("")]
    [InlineData("12")]
    [InlineData("1220")]
    [InlineData("1220e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8")] // 33 bytes
    [InlineData("1221e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85500")] // v0 with a 33-byte digest
    [InlineData("001220e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")] // explicit version 0
    [InlineData("01")]
    [InlineData("0155")]
    [InlineData("01551220")]
    [InlineData("01ff")]
    [InlineData("0455")]
    public void Decode_rejects_invalid_bytes(string hex)
    {
        Assert.Throws<CidException>(() => Cid.Decode(Convert.FromHexString(hex)));
    }

    [Fact]
    public void Rejects_overlong_text_before_decoding_it()
    {
        Assert.Throws<CidException>(() => Cid.Parse("z" + new string('z', 200_000)));
        Assert.Throws<CidException>(() => Cid.Parse("k" + new string('z', 200_000)));
    }

    [Fact]
    public void V0_needs_a_full_sha2_256_hash()
    {
        Assert.Throws<ArgumentException>(() => Cid.V0(Multihash.Compute(MultihashCode.Sha2_512, "x"u8)));
        Assert.Throws<ArgumentException>(() => Cid.V0(Multihash.Compute(MultihashCode.Sha2_256, "x"u8, 20)));
    }

    [Fact]
    public void Equality_is_by_value()
    {
        Cid a = Cid.Parse(PeerIdCid);
        Cid b = Cid.Parse(PeerIdCid.ToUpperInvariant().Replace("BAFZ", "Bafz"));
        Assert.Equal(a, b);
        Assert.True(a == b);
        Assert.Equal(a.GetHashCode(), b.GetHashCode());
        Assert.NotEqual(a, Cid.V1(Multicodec.Raw, a.Hash));
    }
}
