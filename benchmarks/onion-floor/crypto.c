/* The layer transform (docs/specs/onion.md section 5) on AES-NI/VAES and (V)PCLMULQDQ, and ChaCha20-Poly1305 through
 * OpenSSL's EVP. Written from the spec and FIPS 197 / SP 800-38A / RFC 8452; checked in selftest.c. */
#define _GNU_SOURCE
#include "floor.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum ctr_backend g_ctr = CTR_VAES;

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "onion-floor: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

double cpu_s(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static inline uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

/* ---- AES-256 (FIPS 197 key schedule on AESKEYGENASSIST) ---- */

/* Each word XORed with the words before it: w0, w0^w1, w0^w1^w2, w0^w1^w2^w3. */
static inline __m128i prefix_xor(__m128i x)
{
    x = _mm_xor_si128(x, _mm_slli_si128(x, 4));
    return _mm_xor_si128(x, _mm_slli_si128(x, 8));
}

#define EVEN(i, rcon)                                                                                     \
    a = _mm_xor_si128(prefix_xor(a), _mm_shuffle_epi32(_mm_aeskeygenassist_si128(b, rcon), 0xff));       \
    rk[i] = a;
#define ODD(i)                                                                                            \
    b = _mm_xor_si128(prefix_xor(b), _mm_shuffle_epi32(_mm_aeskeygenassist_si128(a, 0), 0xaa));          \
    rk[i] = b;

void aes256_expand(const uint8_t key[32], __m128i rk[15])
{
    __m128i a = _mm_loadu_si128((const __m128i *)key), b = _mm_loadu_si128((const __m128i *)(key + 16));
    rk[0] = a;
    rk[1] = b;
    EVEN(2, 0x01) ODD(3) EVEN(4, 0x02) ODD(5) EVEN(6, 0x04) ODD(7) EVEN(8, 0x08) ODD(9)
    EVEN(10, 0x10) ODD(11) EVEN(12, 0x20) ODD(13) EVEN(14, 0x40)
}

static void aes256_invert(const __m128i rk[15], __m128i kd[15])
{
    kd[0] = rk[14];
    for (int i = 1; i < 14; i++) kd[i] = _mm_aesimc_si128(rk[14 - i]);
    kd[14] = rk[0];
}

__m128i aes256_block(const __m128i rk[15], __m128i x)
{
    x = _mm_xor_si128(x, rk[0]);
    for (int r = 1; r < 14; r++) x = _mm_aesenc_si128(x, rk[r]);
    return _mm_aesenclast_si128(x, rk[14]);
}

static inline __m128i aes256_block_inverse(const __m128i kd[15], __m128i x)
{
    x = _mm_xor_si128(x, kd[0]);
    for (int r = 1; r < 14; r++) x = _mm_aesdec_si128(x, kd[r]);
    return _mm_aesdeclast_si128(x, kd[14]);
}

/* ---- AES-256-CTR with inc32 (the last 4 bytes a big-endian counter mod 2^32) ---- */

/* VAES: 4 blocks per 512-bit register, 8 registers (32 blocks, one cell's R) in flight. */
static void ctr_vaes(const __m512i rk[15], const uint8_t iv[16], uint8_t *d, size_t len)
{
    const __m512i base = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)iv));
    const __m512i bswap = _mm512_broadcast_i32x4(_mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3));
    const __m512i four = _mm512_set1_epi32(4);
    /* Dword 3 of lane j holds counter + j; epi32 addition wraps mod 2^32 as inc32 does. */
    __m512i cv = _mm512_add_epi32(_mm512_set1_epi32((int)be32(iv + 12)),
                                  _mm512_set_epi32(3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0));
    for (size_t off = 0; off < len; off += 512) {
        __m512i x[8];
        for (int j = 0; j < 8; j++) {
            x[j] = _mm512_xor_si512(_mm512_mask_mov_epi32(base, 0x8888, _mm512_shuffle_epi8(cv, bswap)), rk[0]);
            cv = _mm512_add_epi32(cv, four);
        }
        for (int r = 1; r < 14; r++)
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) x[j] = _mm512_aesenc_epi128(x[j], rk[r]);
        for (int j = 0; j < 8; j++) x[j] = _mm512_aesenclast_epi128(x[j], rk[14]);
        for (int j = 0; j < 8; j++) {
            size_t o = off + 64 * (size_t)j;
            if (o >= len) break;
            size_t n = len - o;
            if (n >= 64) {
                _mm512_storeu_si512(d + o, _mm512_xor_si512(_mm512_loadu_si512(d + o), x[j]));
            } else {
                __mmask64 m = (1ULL << n) - 1;
                _mm512_mask_storeu_epi8(d + o, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, d + o), x[j]));
            }
        }
    }
}

/* AES-NI on 128-bit registers, 8 blocks in flight (what the C# Aes256 does). */
static void ctr_aesni(const __m128i rk[15], const uint8_t iv[16], uint8_t *d, size_t len)
{
    const __m128i base = _mm_loadu_si128((const __m128i *)iv);
    uint32_t c = be32(iv + 12);
    size_t off = 0;
    while (off < len) {
        __m128i x[8];
        for (int j = 0; j < 8; j++)
            x[j] = _mm_xor_si128(_mm_insert_epi32(base, (int)__builtin_bswap32(c + (uint32_t)j), 3), rk[0]);
        c += 8;
        for (int r = 1; r < 14; r++)
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) x[j] = _mm_aesenc_si128(x[j], rk[r]);
        for (int j = 0; j < 8; j++) x[j] = _mm_aesenclast_si128(x[j], rk[14]);
        for (int j = 0; j < 8 && off < len; j++) {
            size_t n = len - off;
            if (n >= 16) {
                _mm_storeu_si128((__m128i *)(d + off), _mm_xor_si128(_mm_loadu_si128((const __m128i *)(d + off)), x[j]));
                off += 16;
            } else {
                uint8_t ks[16];
                _mm_storeu_si128((__m128i *)ks, x[j]);
                for (size_t i = 0; i < n; i++) d[off + i] ^= ks[i];
                off += n;
            }
        }
    }
}

/* OpenSSL EVP AES-256-CTR, IV reset per call. EVP carries into all 128 bits; inc32 wraps the last 32, so a
 * keystream that would cross 2^32 (2^-27 of the cells) is split there and restarted with the low word zero. */
static void ctr_evp(EVP_CIPHER_CTX *ctx, const uint8_t iv[16], uint8_t *d, size_t len)
{
    uint32_t c = be32(iv + 12);
    uint64_t blocks = (len + 15) / 16;
    int outl;
    if ((uint64_t)c + blocks - 1 > 0xffffffffULL) {
        size_t first = (size_t)(0x100000000ULL - c) * 16;
        uint8_t iv2[16];
        memcpy(iv2, iv, 12);
        memset(iv2 + 12, 0, 4);
        if (!EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) || !EVP_EncryptUpdate(ctx, d, &outl, d, (int)first) ||
            !EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv2) ||
            !EVP_EncryptUpdate(ctx, d + first, &outl, d + first, (int)(len - first)))
            die("EVP AES-CTR failed");
        return;
    }
    if (!EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) || !EVP_EncryptUpdate(ctx, d, &outl, d, (int)len))
        die("EVP AES-CTR failed");
}

void ctr_xor(layer_t *l, const uint8_t iv[16], uint8_t *data, size_t len)
{
    uint8_t counter[16]; /* the IV may overlap nothing here, but T' is read before R changes either way */
    memcpy(counter, iv, 16);
    switch (g_ctr) {
    case CTR_VAES: ctr_vaes(l->c512, counter, data, len); break;
    case CTR_AESNI: ctr_aesni(l->c, counter, data, len); break;
    case CTR_EVP: ctr_evp(l->evp, counter, data, len); break;
    }
}

/* ---- POLYVAL (RFC 8452): dot(a, b) = a * b * x^-128 mod x^128 + x^127 + x^126 + x^121 + 1 ---- */

static inline void clmul_acc(__m128i a, __m128i b, __m128i *lo, __m128i *mid, __m128i *hi)
{
    *lo = _mm_xor_si128(*lo, _mm_clmulepi64_si128(a, b, 0x00));
    *hi = _mm_xor_si128(*hi, _mm_clmulepi64_si128(a, b, 0x11));
    *mid = _mm_xor_si128(*mid, _mm_xor_si128(_mm_clmulepi64_si128(a, b, 0x10), _mm_clmulepi64_si128(a, b, 0x01)));
}

/* The 256-bit product hi:mid:lo times x^-128: two Montgomery folds of the low half by the reflected polynomial. */
static inline __m128i reduce(__m128i lo, __m128i mid, __m128i hi)
{
    const __m128i poly = _mm_set_epi64x((long long)0xC200000000000000ULL, 1);
    lo = _mm_xor_si128(lo, _mm_slli_si128(mid, 8));
    hi = _mm_xor_si128(hi, _mm_srli_si128(mid, 8));
    __m128i fold = _mm_clmulepi64_si128(lo, poly, 0x10);
    lo = _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4e), fold);
    fold = _mm_clmulepi64_si128(lo, poly, 0x10);
    lo = _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4e), fold);
    return _mm_xor_si128(lo, hi);
}

__m128i polyval_mul(__m128i a, __m128i b)
{
    __m128i lo = _mm_setzero_si128(), mid = lo, hi = lo;
    clmul_acc(a, b, &lo, &mid, &hi);
    return reduce(lo, mid, hi);
}

static inline __m128i fold4(__m512i v)
{
    __m256i h = _mm256_xor_si256(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
    return _mm_xor_si128(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* POLYVAL_J(data zero-padded to blocks || LE64(tweak) || LE64(8 * len)) for up to 46 data blocks: every block times its
 * own power of H (four per VPCLMULQDQ), one reduction. */
__m128i polyval_cell(const __m128i pw[48], const uint8_t *data, size_t len, uint64_t tweak)
{
    size_t whole = len / 16, rest = len % 16;
    uint8_t tail[32] __attribute__((aligned(16))) = {0};
    memcpy(tail, data + whole * 16, rest);
    size_t tail_blocks = rest ? 2 : 1;
    uint64_t fin[2] = {tweak, (uint64_t)len * 8};
    memcpy(tail + (tail_blocks - 1) * 16, fin, 16);
    const __m128i *p = pw + 48 - (whole + tail_blocks);
    __m512i lo4 = _mm512_setzero_si512(), mid4 = lo4, hi4 = lo4;
    size_t i = 0;
    for (; i + 4 <= whole; i += 4) {
        __m512i x = _mm512_loadu_si512(data + 16 * i), h = _mm512_loadu_si512(p + i);
        lo4 = _mm512_xor_si512(lo4, _mm512_clmulepi64_epi128(x, h, 0x00));
        hi4 = _mm512_xor_si512(hi4, _mm512_clmulepi64_epi128(x, h, 0x11));
        mid4 = _mm512_ternarylogic_epi64(mid4, _mm512_clmulepi64_epi128(x, h, 0x10), _mm512_clmulepi64_epi128(x, h, 0x01), 0x96);
    }
    __m128i lo = fold4(lo4), mid = fold4(mid4), hi = fold4(hi4);
    for (; i < whole; i++) clmul_acc(_mm_loadu_si128((const __m128i *)(data + 16 * i)), p[i], &lo, &mid, &hi);
    for (size_t t = 0; t < tail_blocks; t++) clmul_acc(_mm_load_si128((const __m128i *)(tail + 16 * t)), p[whole + t], &lo, &mid, &hi);
    return reduce(lo, mid, hi);
}

/* ---- the layer ---- */

layer_t *layer_new(const uint8_t keys[80])
{
    layer_t *l = aligned_alloc(64, sizeof(layer_t));
    if (!l) die("out of memory");
    memset(l, 0, sizeof *l);
    aes256_expand(keys, l->k);
    aes256_invert(l->k, l->kd);
    aes256_expand(keys + 32, l->c);
    for (int i = 0; i < 15; i++) l->c512[i] = _mm512_broadcast_i32x4(l->c[i]);
    __m128i h = _mm_loadu_si128((const __m128i *)(keys + 64)), power = h;
    for (int k = 1; k <= 48; k++) {
        l->pw[48 - k] = power;
        power = polyval_mul(power, h);
    }
    l->evp = EVP_CIPHER_CTX_new();
    if (!l->evp || !EVP_EncryptInit_ex(l->evp, EVP_aes_256_ctr(), NULL, keys + 32, keys + 48)) die("EVP AES-CTR init");
    return l;
}

void layer_free(layer_t *l)
{
    EVP_CIPHER_CTX_free(l->evp);
    memset(l, 0, sizeof *l);
    free(l);
}

static inline int is_zero(__m128i t) { return _mm_testz_si128(t, t); }

/* E: h = POLYVAL_J(R, n); T' = AES_K(T ^ h) ^ h; R' = R ^ AES-CTR_C(iv = T'); n += 1 */
int layer_encrypt(layer_t *l, uint8_t *body)
{
    uint8_t *r = body + TAG_SIZE;
    __m128i h = polyval_cell(l->pw, r, REST_SIZE, l->n++);
    __m128i t = _mm_xor_si128(aes256_block(l->k, _mm_xor_si128(_mm_loadu_si128((const __m128i *)body), h)), h);
    _mm_storeu_si128((__m128i *)body, t);
    ctr_xor(l, body, r, REST_SIZE);
    return is_zero(t);
}

/* D: R = R' ^ AES-CTR_C(iv = T'); h = POLYVAL_J(R, n); T = AES_K^-1(T' ^ h) ^ h; n += 1 */
int layer_decrypt(layer_t *l, uint8_t *body)
{
    uint8_t *r = body + TAG_SIZE;
    ctr_xor(l, body, r, REST_SIZE);
    __m128i h = polyval_cell(l->pw, r, REST_SIZE, l->n++);
    __m128i t = _mm_xor_si128(aes256_block_inverse(l->kd, _mm_xor_si128(_mm_loadu_si128((const __m128i *)body), h)), h);
    _mm_storeu_si128((__m128i *)body, t);
    return is_zero(t);
}

/* ---- ChaCha20-Poly1305 (EVP), Noise's nonce ---- */

static void nonce_of(uint64_t n, uint8_t nonce[12])
{
    memset(nonce, 0, 4);
    memcpy(nonce + 4, &n, 8); /* little-endian host */
}

void aead_init(aead_t *a, const uint8_t key[32], int enc)
{
    a->ctx = EVP_CIPHER_CTX_new();
    a->n = 0;
    a->enc = enc;
    if (!a->ctx || !EVP_CipherInit_ex(a->ctx, EVP_chacha20_poly1305(), NULL, key, NULL, enc)) die("EVP ChaCha20-Poly1305 init");
}

void aead_free(aead_t *a) { EVP_CIPHER_CTX_free(a->ctx); }

void aead_seal(aead_t *a, uint8_t *p, size_t len)
{
    uint8_t nonce[12];
    int outl;
    nonce_of(a->n++, nonce);
    if (!EVP_EncryptInit_ex(a->ctx, NULL, NULL, NULL, nonce) || !EVP_EncryptUpdate(a->ctx, p, &outl, p, (int)len) ||
        !EVP_EncryptFinal_ex(a->ctx, p + outl, &outl) || !EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG, p + len))
        die("seal failed");
}

int aead_open(aead_t *a, uint8_t *p, size_t ctlen)
{
    aead_open_begin(a);
    aead_open_update(a, p, ctlen - AEAD_TAG);
    return aead_open_end(a, p + ctlen - AEAD_TAG);
}

void aead_open_begin(aead_t *a)
{
    uint8_t nonce[12];
    nonce_of(a->n++, nonce);
    if (!EVP_DecryptInit_ex(a->ctx, NULL, NULL, NULL, nonce)) die("open init failed");
}

void aead_open_update(aead_t *a, uint8_t *p, size_t n)
{
    int outl;
    if (!EVP_DecryptUpdate(a->ctx, p, &outl, p, (int)n) || (size_t)outl != n) die("open update failed");
}

int aead_open_end(aead_t *a, const uint8_t tag[16])
{
    uint8_t fin[16];
    int outl;
    if (!EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG, (void *)tag)) die("set tag failed");
    return EVP_DecryptFinal_ex(a->ctx, fin, &outl) > 0;
}

/* ---- the data pattern ---- */

static inline uint64_t word_at(uint64_t i) { return i * 0x9E3779B97F4A7C15ULL + 1; }

void pattern_fill(uint8_t *p, uint64_t o, size_t n)
{
    while (n && (o & 7)) { *p++ = (uint8_t)(word_at(o >> 3) >> (8 * (o & 7))); o++; n--; }
    for (; n >= 8; p += 8, o += 8, n -= 8) { uint64_t w = word_at(o >> 3); memcpy(p, &w, 8); }
    while (n) { *p++ = (uint8_t)(word_at(o >> 3) >> (8 * (o & 7))); o++; n--; }
}

int pattern_check(const uint8_t *p, uint64_t o, size_t n)
{
    uint64_t diff = 0;
    while (n && (o & 7)) { diff |= *p++ ^ (uint8_t)(word_at(o >> 3) >> (8 * (o & 7))); o++; n--; }
    for (; n >= 8; p += 8, o += 8, n -= 8) { uint64_t w; memcpy(&w, p, 8); diff |= w ^ word_at(o >> 3); }
    while (n) { diff |= *p++ ^ (uint8_t)(word_at(o >> 3) >> (8 * (o & 7))); o++; n--; }
    return diff == 0;
}
