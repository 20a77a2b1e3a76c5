/* Single-thread costs of each piece of the per-byte work, in ms of CPU per MiB of application data, so that a reader
 * can add up what each process of the chain must spend. Thread CPU time, best of several batches. */
#define _GNU_SOURCE
#include "floor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MIB 1048576.0
/* Per MiB of application data: end-to-end stream bytes (messages of 65,507 data bytes, 30 bytes of framing each),
 * the cells that carry them, and the bytes of the links between relays (127 cells, 30 bytes per message). */
#define E2E_PER_MIB (MIB * (E2E_DATA + 30.0) / E2E_DATA)
#define CELLS_PER_MIB (E2E_PER_MIB / CELL_DATA)
#define LINK_PER_MIB (CELLS_PER_MIB * CELL_SIZE * (1 + 30.0 / (CELLS_PER_FRAME * CELL_SIZE)))

static int batches = 7;

typedef void (*op_fn)(void *);

/* CPU ns per call: the best of `batches` batches of `iters` calls. */
static double best_ns(op_fn f, void *ctx, long iters)
{
    double best = 1e30;
    for (int b = 0; b < batches; b++) {
        double t0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
        for (long i = 0; i < iters; i++) f(ctx);
        double dt = (cpu_s(CLOCK_THREAD_CPUTIME_ID) - t0) / (double)iters * 1e9;
        if (dt < best) best = dt;
    }
    return best;
}

static void row(const char *what, double ns, double per_mib, const char *unit)
{
    printf("  %-58s %10.1f ns  %7.3f ms/MiB  (x %.0f %s per MiB)\n", what, ns, ns * per_mib * 1e-6, per_mib, unit);
}

typedef struct {
    aead_t a;
    uint8_t *buf;
    size_t len;
    layer_t *l;
    uint8_t cell[CELL_SIZE];
} ctx_t;

static void op_seal(void *p) { ctx_t *c = p; aead_seal(&c->a, c->buf, c->len); }
static void op_open(void *p) { ctx_t *c = p; (void)aead_open(&c->a, c->buf, c->len + AEAD_TAG); }
static void op_layer_e(void *p) { ctx_t *c = p; (void)layer_encrypt(c->l, c->cell + 1); }
static void op_layer_d(void *p) { ctx_t *c = p; (void)layer_decrypt(c->l, c->cell + 1); }
static void op_ctr(void *p) { ctx_t *c = p; ctr_xor(c->l, c->cell + 1, c->cell + 1 + TAG_SIZE, REST_SIZE); }
static void op_polyval(void *p)
{
    ctx_t *c = p;
    __m128i h = polyval_cell(c->l->pw, c->cell + 1 + TAG_SIZE, REST_SIZE, c->l->n++);
    _mm_storeu_si128((__m128i *)(c->cell + 1), h);
}
static void op_block(void *p)
{
    ctx_t *c = p;
    _mm_storeu_si128((__m128i *)(c->cell + 1), aes256_block(c->l->k, _mm_loadu_si128((const __m128i *)(c->cell + 1))));
}
static void op_cut(void *p)
{
    ctx_t *c = p;
    memcpy(c->cell + 23, c->buf + (c->l->n++ % 128) * CELL_DATA, CELL_DATA);
    __asm__ volatile("" ::: "memory");
}
static uint64_t pattern_offset;
static void op_fill(void *p) { ctx_t *c = p; pattern_fill(c->buf, pattern_offset, c->len); pattern_offset += c->len; }
static void op_check(void *p)
{
    ctx_t *c = p;
    if (!pattern_check(c->buf, 0, c->len)) die("pattern");
}

/* ---- loopback TCP ---- */

static void tcp_pair(int fd[2])
{
    int l = socket(AF_INET, SOCK_STREAM, 0), big = 4 << 20;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1) || getsockname(l, (struct sockaddr *)&a, &len)) die("listen");
    fd[0] = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    if (connect(fd[0], (struct sockaddr *)&a, sizeof a)) die("connect");
    fd[1] = accept(l, NULL, NULL);
    setsockopt(fd[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    close(l);
}

#define LINK_MESSAGE (2 + FRAME_HEADER + CELLS_PER_FRAME * CELL_SIZE + AEAD_TAG) /* 65,308 bytes */

typedef struct {
    int fd;
    uint8_t *buf;
} sock_ctx_t;

static void op_send_recv(void *p)
{
    sock_ctx_t *s = p;
    if (send(s[0].fd, s[0].buf, LINK_MESSAGE, 0) != LINK_MESSAGE) die("send");
    if (recv(s[1].fd, s[1].buf, LINK_MESSAGE, MSG_WAITALL) != LINK_MESSAGE) die("recv");
}

typedef struct {
    int fd;
    long messages;
} stream_arg_t;

static void *receiver(void *p)
{
    stream_arg_t *a = p;
    uint8_t *buf = malloc(LINK_MESSAGE);
    for (long i = 0; i < a->messages; i++)
        if (recv(a->fd, buf, LINK_MESSAGE, MSG_WAITALL) != LINK_MESSAGE) die("recv");
    free(buf);
    return NULL;
}

int components(int argc, char **argv)
{
    for (int i = 0; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--batches")) batches = atoi(argv[i + 1]);
        else die("unknown option %s", argv[i]);
    }
    ctx_t c;
    memset(&c, 0, sizeof c);
    uint8_t key[80];
    RAND_bytes(key, sizeof key);
    c.buf = aligned_alloc(64, 2 * MAX_MESSAGE);
    RAND_bytes(c.buf, 2 * MAX_MESSAGE);
    RAND_bytes(c.cell, CELL_SIZE);
    printf("components (CPU per call, best of %d batches; per MiB of application data: %.1f end-to-end stream bytes, "
           "%.1f cells, %.1f link bytes between relays)\n", batches, E2E_PER_MIB, CELLS_PER_MIB, LINK_PER_MIB);

    double seal, open, layer_e[3], layer_d[3], fill, check, cut, pair1, pair2;
    c.len = MAX_PLAINTEXT;
    aead_init(&c.a, key, 1);
    seal = best_ns(op_seal, &c, 400);
    row("ChaCha20-Poly1305 seal, 65,519-byte message (EVP)", seal, MIB / MAX_PLAINTEXT, "messages");
    aead_free(&c.a);
    aead_init(&c.a, key, 0);
    open = best_ns(op_open, &c, 400);
    row("ChaCha20-Poly1305 open, 65,519-byte message (EVP)", open, MIB / MAX_PLAINTEXT, "messages");
    aead_free(&c.a);

    static const char *ctr_names[] = {"VAES 512-bit", "AES-NI 128-bit", "OpenSSL EVP"};
    c.l = layer_new(key);
    for (int b = 0; b < 3; b++) {
        g_ctr = (enum ctr_backend)b;
        char what[100];
        layer_e[b] = best_ns(op_layer_e, &c, 200000);
        snprintf(what, sizeof what, "layer E (relay) on a 514-byte cell, CTR on %s", ctr_names[b]);
        row(what, layer_e[b], CELLS_PER_MIB, "cells");
        layer_d[b] = best_ns(op_layer_d, &c, 200000);
        snprintf(what, sizeof what, "layer D (client) on a 514-byte cell, CTR on %s", ctr_names[b]);
        row(what, layer_d[b], CELLS_PER_MIB, "cells");
        snprintf(what, sizeof what, "  of which AES-256-CTR over R (497 bytes), %s", ctr_names[b]);
        row(what, best_ns(op_ctr, &c, 200000), CELLS_PER_MIB, "cells");
    }
    g_ctr = CTR_VAES;
    row("  of which POLYVAL over R (33 blocks, VPCLMULQDQ)", best_ns(op_polyval, &c, 200000), CELLS_PER_MIB, "cells");
    row("  of which AES-256 on the tag (one block)", best_ns(op_block, &c, 200000), CELLS_PER_MIB, "cells");
    cut = best_ns(op_cut, &c, 200000);
    row("copy of one cell's data (the client's cut, the exit's strip)", cut, CELLS_PER_MIB, "cells");
    c.len = 65536;
    fill = best_ns(op_fill, &c, 2000);
    row("data pattern: fill 64 KiB (the client's source)", fill, 16, "x 64 KiB");
    pattern_fill(c.buf, 0, c.len);
    check = best_ns(op_check, &c, 2000);
    row("data pattern: check 64 KiB (the destination's verification)", check, 16, "x 64 KiB");
    layer_free(c.l);

    int fd[2];
    tcp_pair(fd);
    sock_ctx_t s[2] = {{fd[0], aligned_alloc(64, LINK_MESSAGE + 64)}, {fd[1], aligned_alloc(64, LINK_MESSAGE + 64)}};
    memset(s[0].buf, 1, LINK_MESSAGE);
    pair1 = best_ns(op_send_recv, s, 2000);
    row("loopback TCP send + recv of a 65,308-byte link message, one thread", pair1, LINK_PER_MIB / LINK_MESSAGE, "messages");
    /* the same through two threads, as in the chain: the receiver sleeps and is woken */
    long messages = 8192;
    double best2 = 1e30;
    for (int b = 0; b < 3; b++) {
        stream_arg_t a = {fd[1], messages};
        pthread_t t;
        double t0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
        pthread_create(&t, NULL, receiver, &a);
        for (long i = 0; i < messages; i++)
            if (send(fd[0], s[0].buf, LINK_MESSAGE, 0) != LINK_MESSAGE) die("send");
        pthread_join(t, NULL);
        double dt = (cpu_s(CLOCK_PROCESS_CPUTIME_ID) - t0) / (double)messages * 1e9;
        if (dt < best2) best2 = dt;
    }
    pair2 = best2;
    row("loopback TCP send + recv, sender and receiver threads (process CPU)", pair2, LINK_PER_MIB / LINK_MESSAGE, "messages");
    close(fd[0]), close(fd[1]);
    free(s[0].buf), free(s[1].buf), free(c.buf);

    /* Adding up, per process, ms per MiB of application data (AEAD per byte; the link between relays carries cells) */
    double seal_b = seal / MAX_PLAINTEXT, open_b = open / MAX_PLAINTEXT; /* ns per byte */
    double tcp = pair2 / LINK_MESSAGE;                                     /* ns per byte moved over one link */
    for (int b = 0; b < 3; b++) {
        double relay = (open_b + seal_b) * LINK_PER_MIB + layer_e[b] * CELLS_PER_MIB + tcp * LINK_PER_MIB;
        double exit = open_b * LINK_PER_MIB + layer_e[b] * CELLS_PER_MIB + cut * CELLS_PER_MIB + seal_b * E2E_PER_MIB +
                      tcp * (LINK_PER_MIB + E2E_PER_MIB) / 2;
        double cd = fill * 16 + seal_b * E2E_PER_MIB + cut * CELLS_PER_MIB + 3 * layer_d[b] * CELLS_PER_MIB +
                    seal_b * LINK_PER_MIB + open_b * E2E_PER_MIB + open_b * E2E_PER_MIB + check * 16 +
                    tcp * (LINK_PER_MIB + E2E_PER_MIB) / 2;
        printf("sum of the parts, CTR on %s: guard/middle %.2f, exit %.2f, client+destination %.2f, all five %.2f ms/MiB\n",
               ctr_names[b], relay * 1e-6, exit * 1e-6, cd * 1e-6, (2 * relay + exit + cd) * 1e-6);
    }
    printf("  (TCP counted once per link from the two-thread figure, shared between its two ends)\n");
    return 0;
}
