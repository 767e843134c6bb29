/* Parsing what a NATS server sends. A control line ends in CRLF; MSG and HMSG are followed
 * by a body of the announced size and its own CRLF. */
#include "nats_proto.h"

#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 6

/* Splits a control line at spaces; returns the number of words. */
static int split(char *line, size_t len, char *words[MAX_ARGS], size_t lens[MAX_ARGS]) {
    int n = 0;
    size_t i = 0;
    while (i < len && n < MAX_ARGS) {
        while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
        if (i == len) break;
        words[n] = line + i;
        while (i < len && line[i] != ' ' && line[i] != '\t') i++;
        lens[n] = (size_t)(words[n] - line);
        lens[n] = i - lens[n];
        n++;
    }
    return n;
}

static long number(const char *word, size_t len) {
    long v = 0;
    if (len == 0) return -1;
    for (size_t i = 0; i < len; i++) {
        if (word[i] < '0' || word[i] > '9') return -1;
        v = v * 10 + (word[i] - '0');
    }
    return v;
}

/* MSG <subject> <sid> [reply] <size>  |  HMSG <subject> <sid> [reply] <header size> <size>.
 * Returns the bytes the operation takes, 0 if it is not all here, -1 if malformed. */
static long message(char *line, size_t line_len, size_t available, int with_headers, const nats_handlers *h,
                    void *ctx) {
    char *w[MAX_ARGS];
    size_t l[MAX_ARGS];
    int n = split(line, line_len, w, l);
    int fixed = with_headers ? 5 : 4; /* words without a reply */
    if (n != fixed && n != fixed + 1) return -1;
    nats_msg m;
    memset(&m, 0, sizeof m);
    m.subject = w[1];
    m.subject_len = l[1];
    m.sid = number(w[2], l[2]);
    if (n == fixed + 1) {
        m.reply = w[3];
        m.reply_len = l[3];
    }
    long total = number(w[n - 1], l[n - 1]);
    long header = with_headers ? number(w[n - 2], l[n - 2]) : 0;
    if (m.sid < 0 || total < 0 || header < 0 || header > total) return -1;
    size_t need = line_len + 2 + (size_t)total + 2;
    if (available < need) return 0;
    const uint8_t *body = (const uint8_t *)line + line_len + 2;
    m.headers = with_headers ? body : NULL;
    m.headers_len = (size_t)header;
    m.payload = body + header;
    m.payload_len = (size_t)(total - header);
    h->on_msg(ctx, &m);
    return (long)need;
}

int nats_parse(bytes *in, const nats_handlers *h, void *ctx) {
    size_t pos = 0;
    int status = 0;
    while (pos < in->len) {
        char *line = (char *)in->data + pos;
        size_t left = in->len - pos;
        char *end = memchr(line, '\n', left);
        if (!end) break;
        size_t len = (size_t)(end - line);
        if (len == 0 || line[len - 1] != '\r') {
            status = -1;
            break;
        }
        len--; /* without the CR */
        long used = (long)len + 2;
        if (len >= 4 && memcmp(line, "MSG ", 4) == 0) {
            used = message(line, len, left, 0, h, ctx);
        } else if (len >= 5 && memcmp(line, "HMSG ", 5) == 0) {
            used = message(line, len, left, 1, h, ctx);
        } else if (len == 4 && memcmp(line, "PING", 4) == 0) {
            h->on_ping(ctx);
        } else if (len == 4 && memcmp(line, "PONG", 4) == 0) {
            h->on_pong(ctx);
        } else if (len >= 4 && memcmp(line, "-ERR", 4) == 0) {
            h->on_err(ctx, line, len);
        } else if (!(len >= 3 && memcmp(line, "+OK", 3) == 0) && !(len >= 4 && memcmp(line, "INFO", 4) == 0)) {
            status = -1;
            break;
        }
        if (used < 0) {
            status = -1;
            break;
        }
        if (used == 0) break; /* a body still on its way */
        pos += (size_t)used;
    }
    memmove(in->data, in->data + pos, in->len - pos);
    in->len -= pos;
    return status;
}
