/* The topology of `onion-loopback --relay-processes`: client and destination in one process (threads), guard,
 * middle and exit in a process each, loopback TCP between consecutive hops, one stream client -> destination.
 * Blocking sockets, one thread per direction (the forward one carries the data, the backward one the SENDMEs), no muxer,
 * no copies but the cut into cells at the client and the strip at the exit. */
#define _GNU_SOURCE
#include "floor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum mode { MODE_RAW, MODE_PLAIN, MODE_AEAD, MODE_LAYERS, MODE_FULL };
static const char *mode_names[] = {"raw", "plain", "aead", "layers", "full"};

typedef struct {
    enum mode mode;
    int aead, layers, sendme;
    uint64_t total, warm;   /* application bytes */
    uint64_t warm_stream;   /* end-to-end stream bytes (messages with their framing) of the warm-up */
    uint8_t link_key[4][32], e2e_key[32], layer_key[3][80];   /* forward: links client->guard ... exit->destination */
    uint8_t back_key[3][32], back_layer_key[3][80];           /* backward (SENDMEs): links guard->client ... exit->middle */
} config_t;

/* Flow control (docs/specs/onion.md section 7, the defaults): windows of DATA cells, refilled by SENDMEs. */
#define CIRCUIT_WINDOW 1000
#define CIRCUIT_INCREMENT 100
#define STREAM_WINDOW 500
#define STREAM_INCREMENT 50
#define SENDME 5

typedef struct {
    double cpu0, cpu1, t0, t1, cs0, cs1; /* cs: context switches, voluntary and not */
    uint64_t units, messages, waits;
    int started;
} result_t;

/* The client's windows and the tags its circuit SENDMEs must carry (T of every 100th DATA cell as the exit gets it). */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int circuit, stream;
    uint8_t tags[CIRCUIT_WINDOW / CIRCUIT_INCREMENT + 1][16];
    int head, count;
    volatile int measuring;
} flow_t;

static int take_window(flow_t *f, int want, result_t *res)
{
    pthread_mutex_lock(&f->mu);
    if ((f->circuit == 0 || f->stream == 0) && res->started) res->waits++; /* counted over the measured part */
    while (f->circuit == 0 || f->stream == 0) pthread_cond_wait(&f->cv, &f->mu);
    int n = want < f->circuit ? want : f->circuit;
    n = n < f->stream ? n : f->stream;
    f->circuit -= n, f->stream -= n;
    pthread_mutex_unlock(&f->mu);
    return n;
}

static void record_tag(flow_t *f, const uint8_t *t)
{
    pthread_mutex_lock(&f->mu);
    if (f->count == CIRCUIT_WINDOW / CIRCUIT_INCREMENT + 1) die("more circuit SENDMEs outstanding than the window allows");
    memcpy(f->tags[(f->head + f->count++) % (CIRCUIT_WINDOW / CIRCUIT_INCREMENT + 1)], t, 16);
    pthread_mutex_unlock(&f->mu);
}

#define BUF_SIZE (2 + MAX_MESSAGE + 64)

static uint8_t *buffer(void)
{
    uint8_t *b = aligned_alloc(64, BUF_SIZE);
    if (!b) die("out of memory");
    memset(b, 0, BUF_SIZE);
    return b;
}

static void put16(uint8_t *p, size_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static size_t get16(const uint8_t *p) { return (size_t)p[0] << 8 | p[1]; }

/* A yamux data frame's header (version, type, flags, stream 1, length): the bytes our links carry, nothing read. */
static void frame_header(uint8_t *p, size_t len)
{
    memset(p, 0, 12);
    p[7] = 1;
    p[8] = (uint8_t)(len >> 24), p[9] = (uint8_t)(len >> 16), p[10] = (uint8_t)(len >> 8), p[11] = (uint8_t)len;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("send: %s", strerror(errno));
        }
        p += w, n -= (size_t)w;
    }
}

/* Reads exactly n bytes unless the stream ends first; returns what it read. */
static size_t read_full(int fd, uint8_t *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, p + got, n - got, MSG_WAITALL);
        if (r < 0) {
            if (errno == EINTR) continue;
            die("recv: %s", strerror(errno));
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return got;
}

/* One link message: 2-byte length, ciphertext (frame header, payload), tag. Returns the plaintext length, 0 at EOF. */
static size_t read_message(int fd, uint8_t *buf, aead_t *rx, const config_t *cfg)
{
    size_t got = read_full(fd, buf, 2);
    if (got == 0) return 0;
    size_t ctlen = get16(buf);
    if (got != 2 || ctlen < AEAD_TAG + FRAME_HEADER) die("bad link message length");
    if (read_full(fd, buf + 2, ctlen) != ctlen) die("the link ended inside a message");
    if (cfg->aead && !aead_open(rx, buf + 2, ctlen)) die("link message failed authentication");
    return ctlen - AEAD_TAG;
}

static void send_message(int fd, uint8_t *buf, size_t plen, aead_t *tx, const config_t *cfg)
{
    put16(buf, plen + AEAD_TAG);
    if (cfg->aead) aead_seal(tx, buf + 2, plen);
    write_all(fd, buf, 2 + plen + AEAD_TAG);
}

static void mark(result_t *r, clockid_t clock, int start)
{
    struct rusage u;
    getrusage(clock == CLOCK_PROCESS_CPUTIME_ID ? RUSAGE_SELF : RUSAGE_THREAD, &u);
    double cs = (double)(u.ru_nvcsw + u.ru_nivcsw);
    if (start) {
        r->cpu0 = cpu_s(clock), r->t0 = now_s(), r->cs0 = cs, r->started = 1;
    } else {
        r->cpu1 = cpu_s(clock), r->t1 = now_s(), r->cs1 = cs;
    }
}

/* ---- client ---- */

typedef struct {
    const config_t *cfg;
    int fd;
    flow_t *flow;
    result_t res;
} peer_t;

/* A relay cell's plaintext header: command, stream id, length, flags 0; the tag T zero. */
static void relay_header(uint8_t *cell, int command, int stream, size_t len)
{
    cell[0] = 3; /* RELAY */
    memset(cell + 1, 0, TAG_SIZE);
    uint8_t *h = cell + 1 + TAG_SIZE;
    h[0] = (uint8_t)command, h[1] = (uint8_t)(stream >> 8), h[2] = (uint8_t)stream;
    h[3] = (uint8_t)(len >> 8), h[4] = (uint8_t)len, h[5] = 0;
}

static void *client_main(void *arg)
{
    peer_t *me = arg;
    const config_t *cfg = me->cfg;
    uint8_t *frame = buffer(), *msg = buffer();
    uint64_t produced = 0; /* application bytes put into end-to-end messages */

    if (cfg->mode == MODE_RAW) {
        while (produced < cfg->total) {
            size_t n = cfg->total - produced < 65536 ? (size_t)(cfg->total - produced) : 65536;
            if (!me->res.started && produced >= cfg->warm) mark(&me->res, CLOCK_THREAD_CPUTIME_ID, 1);
            pattern_fill(frame, produced, n);
            write_all(me->fd, frame, n);
            produced += n;
        }
        goto done;
    }

    layer_t *layer[3];
    for (int i = 0; i < 3; i++) layer[i] = layer_new(cfg->layer_key[i]);
    aead_t e2e, link;
    aead_init(&e2e, cfg->e2e_key, 1);
    aead_init(&link, cfg->link_key[0], 1);
    size_t mpos = 0, mlen = 0; /* the current end-to-end message's bytes still to cut into cells */
    int cells = 0, allowed = 0;
    uint64_t data_cells = 0;
    for (;;) {
        if (cells == 0) allowed = cfg->sendme ? take_window(me->flow, CELLS_PER_FRAME, &me->res) : CELLS_PER_FRAME;
        uint8_t *cell = frame + 2 + FRAME_HEADER + (size_t)cells * CELL_SIZE;
        uint8_t *data = cell + 1 + TAG_SIZE + RELAY_HEADER;
        size_t n = 0;
        while (n < CELL_DATA) {
            if (mpos == mlen) {
                if (produced == cfg->total) break;
                if (!me->res.started && produced >= cfg->warm) {
                    mark(&me->res, CLOCK_THREAD_CPUTIME_ID, 1);
                    me->flow->measuring = 1;
                }
                size_t d = cfg->total - produced < E2E_DATA ? (size_t)(cfg->total - produced) : E2E_DATA;
                put16(msg, FRAME_HEADER + d + AEAD_TAG);
                frame_header(msg + 2, d);
                pattern_fill(msg + 2 + FRAME_HEADER, produced, d);
                if (cfg->aead) aead_seal(&e2e, msg + 2, FRAME_HEADER + d);
                mpos = 0, mlen = 2 + FRAME_HEADER + d + AEAD_TAG;
                produced += d;
            }
            size_t k = mlen - mpos < CELL_DATA - n ? mlen - mpos : CELL_DATA - n;
            memcpy(data + n, msg + mpos, k);
            n += k, mpos += k;
        }
        if (n) {
            relay_header(cell, 1, 1, n); /* DATA, stream 1 */
            if (n < CELL_DATA) memset(data + n, 0, CELL_DATA - n);
            if (cfg->layers) layer_decrypt(layer[2], cell + 1); /* D_f3: what the exit will get */
            if (cfg->sendme && ++data_cells % CIRCUIT_INCREMENT == 0) record_tag(me->flow, cell + 1);
            if (cfg->layers) layer_decrypt(layer[1], cell + 1), layer_decrypt(layer[0], cell + 1); /* D_f2, D_f1 */
            cells++;
            me->res.units += n;
        }
        if (cells == allowed || (n < CELL_DATA && cells)) {
            size_t plen = FRAME_HEADER + (size_t)cells * CELL_SIZE;
            frame_header(frame + 2, plen - FRAME_HEADER);
            send_message(me->fd, frame, plen, &link, cfg);
            if (me->res.started) me->res.messages++;
            cells = 0;
        }
        if (n < CELL_DATA) break;
    }
    for (int i = 0; i < 3; i++) layer_free(layer[i]);
    aead_free(&e2e);
    aead_free(&link);
done:
    mark(&me->res, CLOCK_THREAD_CPUTIME_ID, 0);
    shutdown(me->fd, SHUT_WR);
    free(frame), free(msg);
    return NULL;
}

/* The client's backward direction: SENDMEs from the exit, through D_b1, D_b2, D_b3, refill the windows. */
static void *client_reader_main(void *arg)
{
    peer_t *me = arg;
    const config_t *cfg = me->cfg;
    flow_t *f = me->flow;
    uint8_t *buf = buffer();
    layer_t *layer[3];
    for (int i = 0; i < 3; i++) layer[i] = layer_new(cfg->back_layer_key[i]);
    aead_t rx;
    aead_init(&rx, cfg->back_key[0], 0);
    size_t plen;
    while ((plen = read_message(me->fd, buf, &rx, cfg)) != 0) {
        if (!me->res.started && f->measuring) mark(&me->res, CLOCK_THREAD_CPUTIME_ID, 1);
        if ((plen - FRAME_HEADER) % CELL_SIZE) die("a link message of partial cells");
        for (size_t i = 0; i < (plen - FRAME_HEADER) / CELL_SIZE; i++) {
            uint8_t *cell = buf + 2 + FRAME_HEADER + i * CELL_SIZE;
            int hop = 2;
            if (cfg->layers)
                for (hop = 0; hop < 3 && !layer_decrypt(layer[hop], cell + 1); hop++) {}
            const uint8_t *h = cell + 1 + TAG_SIZE;
            if (cell[0] != 3 || hop != 2 || h[0] != SENDME) die("integrity: not a SENDME from the exit");
            pthread_mutex_lock(&f->mu);
            if (get16(h + 1) == 0) {
                if (get16(h + 3) != 17 || h[6] != 1 || !f->count || memcmp(h + 7, f->tags[f->head], 16))
                    die("a circuit SENDME without the tag it acknowledges");
                f->head = (f->head + 1) % (CIRCUIT_WINDOW / CIRCUIT_INCREMENT + 1), f->count--;
                f->circuit += CIRCUIT_INCREMENT;
            } else {
                if (get16(h + 1) != 1 || get16(h + 3) != 0) die("a bad stream SENDME");
                f->stream += STREAM_INCREMENT;
            }
            pthread_cond_signal(&f->cv);
            pthread_mutex_unlock(&f->mu);
        }
    }
    mark(&me->res, CLOCK_THREAD_CPUTIME_ID, 0);
    for (int i = 0; i < 3; i++) layer_free(layer[i]);
    aead_free(&rx);
    free(buf);
    return NULL;
}

/* ---- relays ---- */

/* A guard's or middle's backward direction: cells from the next hop get this hop's E_b and go to the previous one. */
typedef struct {
    const config_t *cfg;
    int hop, from, to;
} backward_t;

static void *relay_backward_main(void *arg)
{
    backward_t *b = arg;
    const config_t *cfg = b->cfg;
    uint8_t *buf = buffer();
    layer_t *layer = layer_new(cfg->back_layer_key[b->hop]);
    aead_t rx, tx;
    aead_init(&rx, cfg->back_key[b->hop + 1], 0);
    aead_init(&tx, cfg->back_key[b->hop], 1);
    size_t plen;
    while ((plen = read_message(b->from, buf, &rx, cfg)) != 0) {
        if ((plen - FRAME_HEADER) % CELL_SIZE) die("a link message of partial cells");
        for (size_t i = 0; i < (plen - FRAME_HEADER) / CELL_SIZE; i++) {
            uint8_t *cell = buf + 2 + FRAME_HEADER + i * CELL_SIZE;
            if (cell[0] != 3) die("not a RELAY cell");
            if (cfg->layers && layer_encrypt(layer, cell + 1)) die("a backward cell recognised at a relay");
        }
        send_message(b->to, buf, plen, &tx, cfg);
    }
    shutdown(b->to, SHUT_WR);
    layer_free(layer);
    aead_free(&rx);
    aead_free(&tx);
    free(buf);
    return NULL;
}

/* The exit's SENDMEs for what it has written to the destination: one backward link message per forward one. */
typedef struct {
    layer_t *layer;
    aead_t tx;
    uint64_t cells, circuit_sent, stream_sent;
    uint8_t tags[4][16];
    int tag_count;
    uint8_t *buf;
} exit_flow_t;

static void exit_received(exit_flow_t *x, const uint8_t *body)
{
    x->cells++;
    if (x->cells - x->circuit_sent * CIRCUIT_INCREMENT > CIRCUIT_WINDOW || x->cells - x->stream_sent * STREAM_INCREMENT > STREAM_WINDOW)
        die("a DATA cell past the window");
    if (x->cells % CIRCUIT_INCREMENT == 0) {
        if (x->tag_count == 4) die("too many circuit SENDMEs due");
        memcpy(x->tags[x->tag_count++], body, 16); /* T as it arrived, before this hop's layer */
    }
}

static void exit_send_sendmes(exit_flow_t *x, const config_t *cfg, int fd)
{
    size_t cells = 0;
    for (int t = 0; t < x->tag_count; t++, cells++) {
        uint8_t *cell = x->buf + 2 + FRAME_HEADER + cells * CELL_SIZE;
        relay_header(cell, SENDME, 0, 17);
        cell[1 + TAG_SIZE + RELAY_HEADER] = 1; /* version 1: the tag follows */
        memcpy(cell + 1 + TAG_SIZE + RELAY_HEADER + 1, x->tags[t], 16);
        memset(cell + 1 + TAG_SIZE + RELAY_HEADER + 17, 0, CELL_DATA - 17);
        x->circuit_sent++;
    }
    x->tag_count = 0;
    for (; x->stream_sent < x->cells / STREAM_INCREMENT; x->stream_sent++, cells++) {
        uint8_t *cell = x->buf + 2 + FRAME_HEADER + cells * CELL_SIZE;
        relay_header(cell, SENDME, 1, 0);
        memset(cell + 1 + TAG_SIZE + RELAY_HEADER, 0, CELL_DATA);
    }
    if (!cells) return;
    for (size_t i = 0; i < cells && cfg->layers; i++) layer_encrypt(x->layer, x->buf + 2 + FRAME_HEADER + i * CELL_SIZE + 1);
    frame_header(x->buf + 2, cells * CELL_SIZE);
    send_message(fd, x->buf, FRAME_HEADER + cells * CELL_SIZE, &x->tx, cfg);
}

static void relay_main(const config_t *cfg, int hop, int in, int out, result_t *res)
{
    uint8_t *buf = buffer(), *exit_out = buffer();
    if (cfg->mode == MODE_RAW) {
        for (;;) {
            ssize_t r = recv(in, buf, 65536, 0);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) die("recv: %s", strerror(errno));
            if (r == 0) break;
            write_all(out, buf, (size_t)r);
            res->units += (uint64_t)r;
            if (!res->started && res->units >= cfg->warm) mark(res, CLOCK_PROCESS_CPUTIME_ID, 1);
        }
        goto done;
    }
    layer_t *layer = layer_new(cfg->layer_key[hop]);
    aead_t rx, tx;
    aead_init(&rx, cfg->link_key[hop], 0);
    aead_init(&tx, cfg->link_key[hop + 1], 1);
    pthread_t back;
    backward_t backward = {cfg, hop, out, in};
    exit_flow_t xf = {0};
    if (cfg->sendme && hop < 2) pthread_create(&back, NULL, relay_backward_main, &backward);
    if (cfg->sendme && hop == 2) {
        xf.layer = layer_new(cfg->back_layer_key[2]);
        aead_init(&xf.tx, cfg->back_key[2], 1);
        xf.buf = buffer();
    }
    size_t plen;
    while ((plen = read_message(in, buf, &rx, cfg)) != 0) {
        size_t cells = (plen - FRAME_HEADER) / CELL_SIZE;
        if ((plen - FRAME_HEADER) % CELL_SIZE) die("a link message of partial cells");
        size_t stripped = 0;
        for (size_t i = 0; i < cells; i++) {
            uint8_t *cell = buf + 2 + FRAME_HEADER + i * CELL_SIZE;
            if (cell[0] != 3) die("not a RELAY cell");
            int recognised = 1;
            if (hop < 2) {
                if (cfg->layers) recognised = layer_encrypt(layer, cell + 1);
                if (cfg->layers && recognised) die("a data cell recognised at hop %d", hop + 1);
                res->units += CELL_DATA;
                continue;
            }
            if (cfg->sendme) exit_received(&xf, cell + 1);
            if (cfg->layers) recognised = layer_encrypt(layer, cell + 1);
            const uint8_t *h = cell + 1 + TAG_SIZE;
            size_t n = get16(h + 3);
            if (!recognised || h[0] != 1 || get16(h + 1) != 1 || n > CELL_DATA || h[5] != 0) die("integrity: the exit cannot read a cell");
            memcpy(exit_out + 2 + FRAME_HEADER + stripped, h + RELAY_HEADER, n);
            stripped += n;
        }
        if (hop < 2) {
            send_message(out, buf, plen, &tx, cfg);
        } else {
            frame_header(exit_out + 2, stripped);
            send_message(out, exit_out, FRAME_HEADER + stripped, &tx, cfg);
            res->units += stripped;
            if (cfg->sendme) exit_send_sendmes(&xf, cfg, in);
        }
        if (!res->started && res->units >= cfg->warm_stream) mark(res, CLOCK_PROCESS_CPUTIME_ID, 1);
    }
    shutdown(out, SHUT_WR);
    if (cfg->sendme && hop < 2) pthread_join(back, NULL);
    if (cfg->sendme && hop == 2) {
        shutdown(in, SHUT_WR); /* no more SENDMEs: the backward direction ends hop by hop */
        layer_free(xf.layer);
        aead_free(&xf.tx);
        free(xf.buf);
    }
    layer_free(layer);
    aead_free(&rx);
    aead_free(&tx);
done:
    mark(res, CLOCK_PROCESS_CPUTIME_ID, 0);
    shutdown(out, SHUT_WR);
    free(buf), free(exit_out);
}

/* ---- destination: link-decrypt, then the end-to-end messages decrypted in place as their bytes arrive ---- */

typedef struct {
    aead_t e2e;
    int phase;            /* 0: length prefix, 1: ciphertext, 2: tag */
    size_t have, left, pos;
    uint8_t prefix[2], tag[16];
    uint64_t received;    /* application bytes checked */
} e2e_reader_t;

static void e2e_feed(e2e_reader_t *s, const config_t *cfg, uint8_t *p, size_t n)
{
    while (n) {
        if (s->phase == 0) {
            s->prefix[s->have++] = *p++, n--;
            if (s->have < 2) continue;
            size_t len = get16(s->prefix);
            if (len < FRAME_HEADER + AEAD_TAG) die("bad end-to-end message length");
            s->left = len - AEAD_TAG, s->pos = 0, s->have = 0, s->phase = 1;
            if (cfg->aead) aead_open_begin(&s->e2e);
        } else if (s->phase == 1) {
            size_t k = s->left < n ? s->left : n;
            if (cfg->aead) aead_open_update(&s->e2e, p, k);
            size_t skip = s->pos < FRAME_HEADER ? (FRAME_HEADER - s->pos < k ? FRAME_HEADER - s->pos : k) : 0;
            if (!pattern_check(p + skip, s->received, k - skip)) die("the destination got other bytes than were sent");
            s->received += k - skip;
            s->pos += k, s->left -= k, p += k, n -= k;
            if (s->left == 0) s->phase = 2;
        } else {
            size_t k = 16 - s->have < n ? 16 - s->have : n;
            memcpy(s->tag + s->have, p, k);
            s->have += k, p += k, n -= k;
            if (s->have < 16) continue;
            if (cfg->aead && !aead_open_end(&s->e2e, s->tag)) die("an end-to-end message failed authentication");
            s->phase = 0, s->have = 0;
        }
    }
}

static void *destination_main(void *arg)
{
    peer_t *me = arg;
    const config_t *cfg = me->cfg;
    uint8_t *buf = buffer();
    e2e_reader_t s = {0};
    if (cfg->mode == MODE_RAW) {
        for (;;) {
            ssize_t r = recv(me->fd, buf, 65536, 0);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) die("recv: %s", strerror(errno));
            if (r == 0) break;
            if (!pattern_check(buf, s.received, (size_t)r)) die("the destination got other bytes than were sent");
            s.received += (uint64_t)r;
            if (!me->res.started && s.received >= cfg->warm) mark(&me->res, CLOCK_THREAD_CPUTIME_ID, 1);
        }
    } else {
        aead_t link;
        aead_init(&link, cfg->link_key[3], 0);
        aead_init(&s.e2e, cfg->e2e_key, 0);
        size_t plen;
        while ((plen = read_message(me->fd, buf, &link, cfg)) != 0) {
            e2e_feed(&s, cfg, buf + 2 + FRAME_HEADER, plen - FRAME_HEADER);
            if (!me->res.started && s.received >= cfg->warm) mark(&me->res, CLOCK_THREAD_CPUTIME_ID, 1);
        }
        if (s.phase != 0 || s.have != 0) die("the stream ended inside an end-to-end message");
        aead_free(&link);
        aead_free(&s.e2e);
    }
    mark(&me->res, CLOCK_THREAD_CPUTIME_ID, 0);
    if (s.received != cfg->total) die("the destination got %llu bytes of %llu", (unsigned long long)s.received, (unsigned long long)cfg->total);
    me->res.units = s.received;
    free(buf);
    return NULL;
}

/* ---- sockets and processes ---- */

static int listener(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) || bind(fd, (struct sockaddr *)&a, sizeof a) ||
        listen(fd, 4) || getsockname(fd, (struct sockaddr *)&a, &len))
        die("listen: %s", strerror(errno));
    *port = ntohs(a.sin_port);
    return fd;
}

static void nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int dial(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) die("connect: %s", strerror(errno));
    nodelay(fd);
    return fd;
}

static int accept_one(int l)
{
    int fd = accept(l, NULL, NULL);
    if (fd < 0) die("accept: %s", strerror(errno));
    nodelay(fd);
    close(l);
    return fd;
}

typedef struct {
    double mibs, cd, client, dest, hop[3], total, parent_all, messages, waits, cs_cd, cs_hop[3];
} run_t;

static run_t run_once(const config_t *cfg)
{
    uint16_t port[4];
    int l[4]; /* guard, middle, exit, destination */
    for (int i = 0; i < 4; i++) l[i] = listener(&port[i]);
    int pipes[3][2];
    pid_t pid[3];
    double parent0 = cpu_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int hop = 0; hop < 3; hop++) {
        if (pipe(pipes[hop])) die("pipe");
        pid[hop] = fork();
        if (pid[hop] < 0) die("fork");
        if (pid[hop] == 0) {
            for (int i = 0; i < 4; i++)
                if (i != hop && i != hop + 1) close(l[i]);
            for (int i = 0; i <= hop; i++) close(pipes[i][0]);
            close(l[hop + 1]);
            int out = dial(port[hop + 1]);
            int in = accept_one(l[hop]);
            result_t res = {0};
            relay_main(cfg, hop, in, out, &res);
            if (write(pipes[hop][1], &res, sizeof res) != (ssize_t)sizeof res) _exit(3);
            _exit(0);
        }
        close(pipes[hop][1]);
    }
    for (int i = 0; i < 3; i++) close(l[i]);
    flow_t flow = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .circuit = CIRCUIT_WINDOW, .stream = STREAM_WINDOW};
    peer_t client = {.cfg = cfg, .flow = &flow}, dest = {.cfg = cfg}, reader = {.cfg = cfg, .flow = &flow};
    client.fd = reader.fd = dial(port[0]);
    dest.fd = accept_one(l[3]);
    pthread_t tc, td, tr;
    pthread_create(&td, NULL, destination_main, &dest);
    if (cfg->sendme) pthread_create(&tr, NULL, client_reader_main, &reader);
    pthread_create(&tc, NULL, client_main, &client);
    pthread_join(tc, NULL);
    pthread_join(td, NULL);
    if (cfg->sendme) pthread_join(tr, NULL);
    result_t hop[3];
    for (int i = 0; i < 3; i++) {
        int status;
        if (read(pipes[i][0], &hop[i], sizeof hop[i]) != (ssize_t)sizeof hop[i]) die("hop %d reported nothing", i + 1);
        close(pipes[i][0]);
        if (waitpid(pid[i], &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) die("hop %d failed", i + 1);
    }
    close(client.fd), close(dest.fd);
    double mib = (double)(cfg->total - cfg->warm) / 1048576.0;
    run_t r = {0};
    r.mibs = mib / (dest.res.t1 - dest.res.t0);
    r.client = (client.res.cpu1 - client.res.cpu0) * 1e3 / mib;
    if (reader.res.started) r.client += (reader.res.cpu1 - reader.res.cpu0) * 1e3 / mib;
    r.messages = (double)client.res.messages / mib;
    r.cs_cd = (client.res.cs1 - client.res.cs0 + dest.res.cs1 - dest.res.cs0) / mib;
    if (reader.res.started) r.cs_cd += (reader.res.cs1 - reader.res.cs0) / mib;
    r.waits = (double)client.res.waits;
    r.dest = (dest.res.cpu1 - dest.res.cpu0) * 1e3 / mib;
    r.cd = r.client + r.dest;
    r.total = r.cd;
    for (int i = 0; i < 3; i++) {
        if (!hop[i].started) die("hop %d never passed the warm-up", i + 1);
        r.hop[i] = (hop[i].cpu1 - hop[i].cpu0) * 1e3 / mib;
        r.cs_hop[i] = (hop[i].cs1 - hop[i].cs0) / mib;
        r.total += r.hop[i];
    }
    r.parent_all = (cpu_s(CLOCK_PROCESS_CPUTIME_ID) - parent0) * 1e3 / ((double)cfg->total / 1048576.0);
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(double *v, int n, double *lo, double *hi)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *lo = v[0], *hi = v[n - 1];
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

int chain(int argc, char **argv)
{
    uint64_t mib = 256, warm_mib = 64;
    int runs = 3, sendme = 1;
    const char *modes = "full,aead,layers,plain,raw";
    for (int i = 0; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--mib")) mib = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--warmup-mib")) warm_mib = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--modes")) modes = argv[i + 1];
        else if (!strcmp(argv[i], "--sendme")) sendme = strcmp(argv[i + 1], "off") != 0;
        else if (!strcmp(argv[i], "--ctr")) g_ctr = !strcmp(argv[i + 1], "evp") ? CTR_EVP : !strcmp(argv[i + 1], "aesni") ? CTR_AESNI : CTR_VAES;
        else die("unknown option %s", argv[i]);
    }
    enum mode list[5];
    int count = 0;
    char copy[128];
    snprintf(copy, sizeof copy, "%s", modes);
    for (char *t = strtok(copy, ","); t && count < 5; t = strtok(NULL, ",")) {
        int found = -1;
        for (int m = 0; m < 5; m++)
            if (!strcmp(t, mode_names[m])) found = m;
        if (found < 0) die("unknown mode %s", t);
        list[count++] = (enum mode)found;
    }
    static const char *ctr_names[] = {"vaes", "aesni", "evp"};
    config_t cfg = {0};
    cfg.warm = warm_mib << 20;
    cfg.total = cfg.warm + (mib << 20);
    uint64_t messages = (cfg.warm + E2E_DATA - 1) / E2E_DATA;
    cfg.warm_stream = cfg.warm + messages * (2 + FRAME_HEADER + AEAD_TAG);
    RAND_bytes(&cfg.link_key[0][0], sizeof cfg.link_key);
    RAND_bytes(cfg.e2e_key, sizeof cfg.e2e_key);
    RAND_bytes(&cfg.layer_key[0][0], sizeof cfg.layer_key);
    RAND_bytes(&cfg.back_key[0][0], sizeof cfg.back_key);
    RAND_bytes(&cfg.back_layer_key[0][0], sizeof cfg.back_layer_key);
    double (*all)[5][9] = calloc((size_t)runs, sizeof *all);
    printf("chain: %llu MiB measured after %llu MiB warm-up per run, %d runs per mode, AES-CTR backend %s, SENDMEs %s\n",
           (unsigned long long)mib, (unsigned long long)warm_mib, runs, ctr_names[g_ctr], sendme ? "on" : "off");
    printf("%-7s %5s %6s %9s | CPU ms per MiB: %7s %7s %7s | %6s %6s %6s | %6s | %9s %6s | %s\n", "mode", "run", "load",
           "MiB/s", "client", "dest", "c+d", "guard", "middle", "exit", "all", "msgs/MiB", "waits",
           "context switches per MiB: c+d, guard, middle, exit");
    for (int r = 0; r < runs; r++)
        for (int m = 0; m < count; m++) {
            cfg.mode = list[m];
            cfg.aead = cfg.mode == MODE_AEAD || cfg.mode == MODE_FULL;
            cfg.layers = cfg.mode == MODE_LAYERS || cfg.mode == MODE_FULL;
            cfg.sendme = sendme && cfg.mode != MODE_RAW;
            double load = loadavg();
            run_t x = run_once(&cfg);
            printf("%-7s %5d %6.2f %9.1f | %22.2f %7.2f %7.2f | %6.2f %6.2f %6.2f | %6.2f | %9.1f %6.0f | %.0f, %.0f, %.0f, %.0f\n",
                   mode_names[cfg.mode], r + 1, load, x.mibs, x.client, x.dest, x.cd, x.hop[0], x.hop[1], x.hop[2], x.total,
                   x.messages, x.waits, x.cs_cd, x.cs_hop[0], x.cs_hop[1], x.cs_hop[2]);
            fflush(stdout);
            double v[9] = {x.mibs, x.client, x.dest, x.cd, x.hop[0], x.hop[1], x.hop[2], x.total, load};
            memcpy(all[r][m], v, sizeof v);
        }
    static const char *labels[] = {"MiB/s", "client", "dest", "c+d", "guard", "middle", "exit", "all", "load"};
    printf("summary: median (min-max) of %d runs; CPU in ms per MiB\n%-7s", runs, "mode");
    for (int k = 0; k < 9; k++) printf(" %19s", labels[k]);
    printf("\n");
    for (int m = 0; m < count; m++) {
        printf("%-7s", mode_names[list[m]]);
        for (int k = 0; k < 9; k++) {
            double v[runs], lo, hi, med;
            for (int r = 0; r < runs; r++) v[r] = all[r][m][k];
            med = median_of(v, runs, &lo, &hi);
            char cell[40];
            snprintf(cell, sizeof cell, k == 0 ? "%.0f (%.0f-%.0f)" : "%.2f (%.2f-%.2f)", med, lo, hi);
            printf(" %19s", cell);
        }
        printf("\n");
    }
    free(all);
    return 0;
}
