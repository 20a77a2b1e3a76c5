/* Known answers (FIPS 197, SP 800-38A F.5.5, RFC 8452 appendix A) and cross-checks against slow references, so that
 * the timed code is the transform the spec defines and not merely something that inverts itself. */
#include "floor.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        failures++;
        fprintf(stderr, "selftest FAILED: %s\n", what);
    }
}

static void unhex(const char *h, uint8_t *out)
{
    for (size_t i = 0; h[2 * i]; i++) sscanf(h + 2 * i, "%2hhx", &out[i]);
}

/* inc32 counter mode one block at a time: the reference the three backends must match. */
static void ctr_reference(const __m128i rk[15], const uint8_t iv[16], uint8_t *d, size_t len)
{
    uint8_t block[16], ks[16];
    memcpy(block, iv, 16);
    uint32_t c = (uint32_t)block[12] << 24 | block[13] << 16 | block[14] << 8 | block[15];
    for (size_t off = 0; off < len; off += 16, c++) {
        block[12] = (uint8_t)(c >> 24), block[13] = (uint8_t)(c >> 16), block[14] = (uint8_t)(c >> 8), block[15] = (uint8_t)c;
        _mm_storeu_si128((__m128i *)ks, aes256_block(rk, _mm_loadu_si128((const __m128i *)block)));
        for (size_t i = 0; i < 16 && off + i < len; i++) d[off + i] ^= ks[i];
    }
}

/* dot(a, b) bit by bit (RFC 8452's definition with Montgomery's x^-128), for cross-checking the PCLMULQDQ code. */
static unsigned __int128 soft_dot(unsigned __int128 a, unsigned __int128 b)
{
    const unsigned __int128 low = ((unsigned __int128)1 << 127) | ((unsigned __int128)1 << 126) | ((unsigned __int128)1 << 121) | 1;
    unsigned __int128 r = 0;
    for (int i = 0; i < 128; i++) {
        if ((b >> i) & 1) r ^= a;
        int odd = (int)(r & 1);
        r >>= 1;
        if (odd) r ^= (low >> 1) | ((unsigned __int128)1 << 127);
    }
    return r;
}

static unsigned __int128 u128(__m128i v)
{
    unsigned __int128 x;
    memcpy(&x, &v, 16);
    return x;
}

static __m128i polyval_reference(__m128i h, const uint8_t *data, size_t len, uint64_t tweak)
{
    uint8_t buf[1024] = {0};
    memcpy(buf, data, len);
    size_t padded = (len + 15) / 16 * 16;
    uint64_t fin[2] = {tweak, (uint64_t)len * 8};
    memcpy(buf + padded, fin, 16);
    unsigned __int128 s = 0, hh = u128(h);
    for (size_t off = 0; off < padded + 16; off += 16) {
        unsigned __int128 x;
        memcpy(&x, buf + off, 16);
        s = soft_dot(s ^ x, hh);
    }
    __m128i out;
    memcpy(&out, &s, 16);
    return out;
}

static int eq128(__m128i a, __m128i b) { return u128(a) == u128(b); }

int selftest(void)
{
    uint8_t key[32], pt[16], out[16], expect[64], data[64];
    __m128i rk[15];

    unhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", key);
    unhex("00112233445566778899aabbccddeeff", pt);
    unhex("8ea2b7ca516745bfeafc49904b496089", expect);
    aes256_expand(key, rk);
    _mm_storeu_si128((__m128i *)out, aes256_block(rk, _mm_loadu_si128((const __m128i *)pt)));
    check(!memcmp(out, expect, 16), "AES-256 FIPS 197 C.3");

    /* SP 800-38A F.5.5 (CTR-AES256.Encrypt), through each backend's layer keystream */
    uint8_t keys[80] = {0}, iv[16];
    unhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", keys + 32);
    unhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", iv);
    layer_t *l = layer_new(keys);
    const char *names[] = {"VAES", "AES-NI", "EVP"};
    for (int b = 0; b < 3; b++) {
        g_ctr = (enum ctr_backend)b;
        unhex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710", data);
        unhex("601ec313775789a5b7a7f504bbf3d228f443e3ca4d62b59aca84e990cacaf5c52b0930daa23de94ce87017ba2d84988ddfc9c58db67aada613c2dd08457941a6", expect);
        ctr_xor(l, iv, data, 64);
        char what[64];
        snprintf(what, sizeof what, "AES-256-CTR SP 800-38A F.5.5 (%s)", names[b]);
        check(!memcmp(data, expect, 64), what);
    }

    /* random cells, counters that wrap inside the cell, lengths 1..600: every backend equals the reference */
    for (int trial = 0; trial < 3000; trial++) {
        uint8_t ref[600], got[600];
        size_t len = trial < 2000 ? REST_SIZE : 1 + (size_t)(trial % 600);
        RAND_bytes(iv, 16);
        if (trial % 3 == 0) memset(iv + 12, 0xff, 4);
        if (trial % 3 == 1) iv[12] = iv[13] = iv[14] = 0xff, iv[15] = (uint8_t)(0xe0 + trial % 32);
        RAND_bytes(ref, (int)len);
        ctr_reference(l->c, iv, ref, len);
        for (int b = 0; b < 3; b++) {
            g_ctr = (enum ctr_backend)b;
            memcpy(got, ref, len);
            ctr_reference(l->c, iv, got, len); /* undo with the reference ... */
            ctr_xor(l, iv, got, len);           /* ... and redo with the backend */
            if (memcmp(got, ref, len)) { check(0, names[b]); break; }
        }
    }
    layer_free(l);

    /* POLYVAL, RFC 8452 appendix A: POLYVAL(H, X_1, X_2) */
    uint8_t h[16], x[32];
    unhex("25629347589242761d31f826ba4b757b", h);
    unhex("4f4f95668c83dfb6401762bb2d01a262d1a24ddd2721d006bbe45f20d3c9f362", x);
    unhex("f7a3b47b846119fae5b7866cf5e5b77e", expect);
    __m128i H = _mm_loadu_si128((const __m128i *)h);
    __m128i s = polyval_mul(_mm_loadu_si128((const __m128i *)x), H);
    s = polyval_mul(_mm_xor_si128(s, _mm_loadu_si128((const __m128i *)(x + 16))), H);
    _mm_storeu_si128((__m128i *)out, s);
    check(!memcmp(out, expect, 16), "POLYVAL RFC 8452 appendix A");
    check(u128(polyval_mul(_mm_loadu_si128((const __m128i *)x), H)) == soft_dot(u128(_mm_loadu_si128((const __m128i *)x)), u128(H)),
          "POLYVAL dot against the bit-serial one");

    /* the aggregated cell hash against Horner's rule with the bit-serial dot */
    for (int trial = 0; trial < 400; trial++) {
        uint8_t k[80], msg[736];
        RAND_bytes(k, 80);
        size_t len = trial < 200 ? REST_SIZE : (size_t)(trial * 7 % 736);
        RAND_bytes(msg, (int)len);
        uint64_t tweak;
        RAND_bytes((uint8_t *)&tweak, 8);
        layer_t *m = layer_new(k);
        __m128i j = _mm_loadu_si128((const __m128i *)(k + 64));
        if (!eq128(polyval_cell(m->pw, msg, len, tweak), polyval_reference(j, msg, len, tweak))) { check(0, "POLYVAL cell hash"); trial = 400; }
        layer_free(m);
    }

    /* the layer: D undoes E at the same counter, a changed bit is not recognised, backends agree */
    for (int trial = 0; trial < 300; trial++) {
        uint8_t k[80], plain[BODY_SIZE], body[BODY_SIZE], other[BODY_SIZE];
        RAND_bytes(k, 80);
        RAND_bytes(plain, BODY_SIZE);
        memset(plain, 0, TAG_SIZE);
        layer_t *relay[3], *client = layer_new(k);
        for (int b = 0; b < 3; b++) relay[b] = layer_new(k);
        for (int cell = 0; cell < 4; cell++) {
            g_ctr = CTR_VAES;
            memcpy(body, plain, BODY_SIZE);
            layer_decrypt(client, body); /* the client's D, then a relay's E recovers the plaintext */
            memcpy(other, body, BODY_SIZE);
            for (int b = 0; b < 3; b++) {
                g_ctr = (enum ctr_backend)b;
                uint8_t copy[BODY_SIZE];
                memcpy(copy, other, BODY_SIZE);
                int recognised = layer_encrypt(relay[b], copy);
                check(recognised && !memcmp(copy, plain, BODY_SIZE), "E(D(x)) = x, recognised");
            }
        }
        /* a flipped bit at the next counter: not recognised */
        g_ctr = CTR_VAES;
        memcpy(body, plain, BODY_SIZE);
        layer_decrypt(client, body);
        body[100 + trial % 400] ^= 1;
        check(!layer_encrypt(relay[0], body), "a changed cell is not recognised");
        layer_free(client);
        for (int b = 0; b < 3; b++) layer_free(relay[b]);
    }
    g_ctr = CTR_VAES;

    /* AEAD: round trip, streaming in pieces, a changed byte fails */
    uint8_t ak[32], msg[2000], copy[2000];
    RAND_bytes(ak, 32);
    RAND_bytes(msg, 1000);
    aead_t enc, dec;
    aead_init(&enc, ak, 1);
    aead_init(&dec, ak, 0);
    memcpy(copy, msg, 1000);
    aead_seal(&enc, copy, 1000);
    check(aead_open(&dec, copy, 1016) && !memcmp(copy, msg, 1000), "AEAD round trip");
    memcpy(copy, msg, 1000);
    aead_seal(&enc, copy, 1000);
    aead_open_begin(&dec);
    aead_open_update(&dec, copy, 3);
    aead_open_update(&dec, copy + 3, 500);
    aead_open_update(&dec, copy + 503, 497);
    check(aead_open_end(&dec, copy + 1000) && !memcmp(copy, msg, 1000), "AEAD streaming open");
    memcpy(copy, msg, 1000);
    aead_seal(&enc, copy, 1000);
    copy[7] ^= 4;
    check(!aead_open(&dec, copy, 1016), "AEAD detects a change");
    aead_free(&enc);
    aead_free(&dec);

    uint8_t pat[100];
    pattern_fill(pat, 12345, 100);
    check(pattern_check(pat, 12345, 100), "pattern");
    pat[50] ^= 0x10;
    check(!pattern_check(pat, 12345, 100), "pattern detects a change");

    printf("selftest: %s\n", failures ? "FAILED" : "ok (AES-256, CTR x3 backends, POLYVAL, layer E/D, AEAD, pattern)");
    return failures ? 1 : 0;
}
