/* The floor of the onion data path's mandated per-byte work (docs/benchmarks.md, "Onion loopback: the floor of the
 * mandated work on this machine"). Shapes from docs/specs/onion.md: 514-byte cells, the layer transform of section 5,
 * ChaCha20-Poly1305 link and end-to-end messages of at most 65,535 bytes as in libp2p Noise. */
#ifndef ONION_FLOOR_H
#define ONION_FLOOR_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#define CELL_SIZE 514
#define BODY_SIZE (CELL_SIZE - 1)              /* 513: command byte, then the body */
#define TAG_SIZE 16                             /* the layer tag T */
#define REST_SIZE (BODY_SIZE - TAG_SIZE)        /* 497: R */
#define RELAY_HEADER 6                          /* command, stream id, length, flags */
#define CELL_DATA (REST_SIZE - RELAY_HEADER)    /* 492 data bytes per cell */
#define CELLS_PER_FRAME 127                     /* 65,278 bytes: one yamux frame, one Noise message */
#define FRAME_HEADER 12                         /* a yamux data frame's header (no muxer logic here) */
#define AEAD_TAG 16
#define MAX_MESSAGE 65535                       /* Noise: ciphertext of at most 65,535 bytes */
#define MAX_PLAINTEXT (MAX_MESSAGE - AEAD_TAG)  /* 65,519 */
#define E2E_DATA (MAX_PLAINTEXT - FRAME_HEADER) /* 65,507 application bytes per end-to-end message */

enum ctr_backend { CTR_VAES, CTR_AESNI, CTR_EVP };
extern enum ctr_backend g_ctr;

/* One hop's layer in one direction (LayerCipher): AES-256 block key K, counter-mode key C, POLYVAL key J, counter n. */
typedef struct {
    __m512i c512[15];   /* C's round keys broadcast to four lanes (VAES) */
    __m128i k[15];      /* K, encryption round keys */
    __m128i kd[15];     /* K, the equivalent inverse cipher's round keys */
    __m128i c[15];      /* C, round keys */
    __m128i pw[48];     /* H^48 .. H^1 (POLYVAL powers, descending) */
    uint64_t n;
    EVP_CIPHER_CTX *evp; /* AES-256-CTR keyed by C, for the EVP backend */
} layer_t;

layer_t *layer_new(const uint8_t keys[80]);
void layer_free(layer_t *l);
int layer_encrypt(layer_t *l, uint8_t *body); /* E, the relay's; returns 1 when T is zero (recognised) */
int layer_decrypt(layer_t *l, uint8_t *body); /* D, the client's */

/* Pieces, for the component timings and the self-test. */
void aes256_expand(const uint8_t key[32], __m128i rk[15]);
__m128i aes256_block(const __m128i rk[15], __m128i x);
void ctr_xor(layer_t *l, const uint8_t iv[16], uint8_t *data, size_t len);
__m128i polyval_cell(const __m128i pw[48], const uint8_t *data, size_t len, uint64_t tweak);
__m128i polyval_mul(__m128i a, __m128i b);

/* A Noise-style ChaCha20-Poly1305 cipher state: nonce = 4 zero bytes || LE64(counter), empty associated data. */
typedef struct {
    EVP_CIPHER_CTX *ctx;
    uint64_t n;
    int enc;
} aead_t;

void aead_init(aead_t *a, const uint8_t key[32], int enc);
void aead_free(aead_t *a);
void aead_seal(aead_t *a, uint8_t *p, size_t len);           /* in place; the tag goes to p + len */
int aead_open(aead_t *a, uint8_t *p, size_t ctlen);          /* in place; 0 when the tag fails */
void aead_open_begin(aead_t *a);                             /* streaming decryption, in place */
void aead_open_update(aead_t *a, uint8_t *p, size_t n);
int aead_open_end(aead_t *a, const uint8_t tag[16]);

/* The data pattern: the stream's 64-bit words, word i = i * odd constant (little-endian). */
void pattern_fill(uint8_t *p, uint64_t offset, size_t n);
int pattern_check(const uint8_t *p, uint64_t offset, size_t n);

double now_s(void);
double cpu_s(clockid_t clock);
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

int selftest(void);
int components(int argc, char **argv);
int chain(int argc, char **argv);

#endif
