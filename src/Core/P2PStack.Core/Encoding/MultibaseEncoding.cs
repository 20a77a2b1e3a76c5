namespace P2PStack.Encoding;

/// <summary>Multibase encodings this library reads and writes; each value is its prefix character.</summary>
public enum MultibaseEncoding
{
    Base2 = '0',
    Base8 = '7',
    Base10 = '9',
    Base16 = 'f',
    Base16Upper = 'F',
    Base32Hex = 'v',
    Base32HexUpper = 'V',
    Base32HexPad = 't',
    Base32HexPadUpper = 'T',
    Base32 = 'b',
    Base32Upper = 'B',
    Base32Pad = 'c',
    Base32PadUpper = 'C',
    Base32Z = 'h',
    Base36 = 'k',
    Base36Upper = 'K',
    Base58Btc = 'z',
    Base58Flickr = 'Z',
    Base64 = 'm',
    Base64Pad = 'M',
    Base64Url = 'u',
    Base64UrlPad = 'U',
}
