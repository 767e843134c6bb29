/* The NATS JetStream side, over the client protocol (nats_proto.c parses the server's half).
 *
 * The stream: file storage, one subject, a duplicate window, so that the Nats-Msg-Id header
 * of a retransmitted publish is stored once. A publish is an HPUB with a reply inbox; its
 * "ack" is the stream's PubAck on that inbox, sent once the message is in the stream.
 *
 * Subscribers each read through their own push consumer, not a plain subscription on the
 * subject: a core subscription gets the publish as it is routed, whether or not the stream
 * stored it, and is dropped for a slow reader, so it would count neither the store nor every
 * message. A consumer delivers from the stream, and its acks (policy "all": one ack covers
 * everything before it, sent once per read, like the relay's delivered watermark) make the
 * stream redeliver what a subscriber did not confirm. */
#include "nats_proto.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SID_INBOX 1
#define SID_DELIVER 2
/* How long JetStream remembers a Nats-Msg-Id: longer than any run. */
#define DUPLICATE_WINDOW_NS "600000000000"

typedef struct {
    bytes in, out;
    char ack_reply[256]; /* the newest delivery's reply subject, acked after each read */
    size_t ack_reply_len;
} nats_conn;

static void append_text(bytes *b, const char *text) { bytes_append(b, text, strlen(text)); }

/* PUB subject reply size CRLF payload CRLF */
static void publish_text(bytes *b, const char *subject, const char *reply, const char *payload) {
    char line[512];
    size_t len = strlen(payload);
    snprintf(line, sizeof line, "PUB %s %s %zu\r\n", subject, reply, len);
    append_text(b, line);
    bytes_append(b, payload, len);
    append_text(b, "\r\n");
}

static void nats_open(conn *c) {
    nats_conn *nc = c->impl;
    const char *stream = c->run->subject;
    char line[1024], reply[128];
    if (!nc) nc = c->impl = calloc(1, sizeof *nc);
    c->fd = net_dial(c->run->host, c->run->port);
    if (c->fd < 0) {
        conn_error(c, "connect", strerror(errno));
        return;
    }
    /* Headers on: HPUB and HMSG carry the message id. */
    snprintf(line, sizeof line,
             "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"%s\",\"lang\":\"c\",\"version\":\"0\","
             "\"protocol\":1,\"headers\":true,\"no_responders\":true}\r\nSUB _INBOX.%s.* %d\r\n",
             c->name, c->name, SID_INBOX);
    append_text(&nc->out, line);
    snprintf(reply, sizeof reply, "_INBOX.%s.api", c->name);
    switch (c->role) {
    case ROLE_SETUP:
        snprintf(line, sizeof line, "$JS.API.STREAM.CREATE.%s", stream);
        char config[512];
        snprintf(config, sizeof config,
                 "{\"name\":\"%s\",\"subjects\":[\"%s\"],\"storage\":\"file\",\"retention\":\"limits\","
                 "\"num_replicas\":1,\"duplicate_window\":" DUPLICATE_WINDOW_NS "}",
                 stream, stream);
        publish_text(&nc->out, line, reply, config);
        break;
    case ROLE_SUBSCRIBER:
        snprintf(line, sizeof line, "SUB deliver.%s %d\r\n", c->name, SID_DELIVER);
        append_text(&nc->out, line);
        snprintf(line, sizeof line, "$JS.API.CONSUMER.CREATE.%s", stream);
        char consumer[512];
        snprintf(consumer, sizeof consumer,
                 "{\"stream_name\":\"%s\",\"config\":{\"deliver_subject\":\"deliver.%s\",\"deliver_policy\":\"all\","
                 "\"ack_policy\":\"all\",\"max_ack_pending\":1000000,\"replay_policy\":\"instant\"}}",
                 stream, c->name);
        publish_text(&nc->out, line, reply, consumer);
        break;
    default:
        append_text(&nc->out, "PING\r\n"); /* its PONG: everything before it is in place */
        break;
    }
    bytes_flush(&nc->out, c->fd);
}

static int is_error_reply(const nats_msg *m) {
    /* A status header (503: no stream answered) or a JSON {"error": ...}. */
    if (m->headers_len >= 12 && memcmp(m->headers, "NATS/1.0 ", 9) == 0) return 1;
    return m->payload_len >= 7 && memmem(m->payload, m->payload_len, "\"error\"", 7) != NULL;
}

static void on_inbox(conn *c, const nats_msg *m) {
    const char *dot = memrchr(m->subject, '.', m->subject_len);
    const char *tail = dot ? dot + 1 : m->subject;
    size_t tail_len = m->subject_len - (size_t)(tail - m->subject);
    int api = tail_len == 3 && memcmp(tail, "api", 3) == 0;
    char text[256];
    if (is_error_reply(m)) {
        size_t n = m->payload_len < sizeof text - 1 ? m->payload_len : sizeof text - 1;
        memcpy(text, m->payload, n);
        text[n] = '\0';
        conn_error(c, "jetstream", n ? text : "status reply");
        if (api) conn_ready(c); /* answered: the caller sees the error */
        return;
    }
    if (api) {
        conn_ready(c); /* the stream or the consumer exists */
        return;
    }
    char digits[24];
    if (tail_len == 0 || tail_len >= sizeof digits) return;
    memcpy(digits, tail, tail_len);
    digits[tail_len] = '\0';
    conn_acked(c, strtoull(digits, NULL, 10));
}

static void on_msg(void *ctx, const nats_msg *m) {
    conn *c = ctx;
    nats_conn *nc = c->impl;
    if (m->sid == SID_INBOX) {
        on_inbox(c, m);
        return;
    }
    if (m->sid != SID_DELIVER) return;
    if (m->reply && m->reply_len < sizeof nc->ack_reply) {
        memcpy(nc->ack_reply, m->reply, m->reply_len);
        nc->ack_reply_len = m->reply_len;
    }
    if (m->payload_len > 0) conn_delivered(c, m->payload, m->payload_len);
}

static void on_ping(void *ctx) {
    conn *c = ctx;
    append_text(&((nats_conn *)c->impl)->out, "PONG\r\n");
}

static void on_pong(void *ctx) { conn_ready(ctx); }

static void on_err(void *ctx, const char *line, size_t len) {
    char text[256];
    size_t n = len < sizeof text - 1 ? len : sizeof text - 1;
    memcpy(text, line, n);
    text[n] = '\0';
    conn_error(ctx, "server", text);
}

static const nats_handlers handlers = {on_msg, on_ping, on_pong, on_err};

static void lost_connection(conn *c, const char *why) {
    conn_error(c, "connection lost", why);
    close(c->fd);
    c->fd = -1;
    conn_not_ready(c);
}

static short nats_poll_events(const conn *c) {
    const nats_conn *nc = c->impl;
    return (short)(POLLIN | (nc->out.len ? POLLOUT : 0));
}

static void nats_handle_io(conn *c, short revents) {
    nats_conn *nc = c->impl;
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        for (int reads = 0; reads < 4; reads++) {
            bytes_reserve(&nc->in, 65536);
            ssize_t n = recv(c->fd, nc->in.data + nc->in.len, nc->in.cap - nc->in.len, 0);
            if (n == 0) {
                lost_connection(c, "closed by the server");
                return;
            }
            if (n < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                    lost_connection(c, strerror(errno));
                    return;
                }
                break;
            }
            size_t room = nc->in.cap - nc->in.len;
            nc->in.len += (size_t)n;
            if (nats_parse(&nc->in, &handlers, c) < 0) {
                lost_connection(c, "bytes that are not the NATS protocol");
                return;
            }
            if ((size_t)n < room) break;
        }
        if (nc->ack_reply_len) {
            char line[300];
            snprintf(line, sizeof line, "PUB %.*s 0\r\n\r\n", (int)nc->ack_reply_len, nc->ack_reply);
            append_text(&nc->out, line);
            nc->ack_reply_len = 0;
        }
    }
    if (bytes_flush(&nc->out, c->fd) < 0) lost_connection(c, strerror(errno));
}

static uint64_t nats_deadline_ms(const conn *c) {
    (void)c;
    return 0; /* the server pings; nothing here runs on a timer */
}

static void nats_handle_timer(conn *c) { (void)c; }

/* HPUB subject reply header-size total-size CRLF headers payload CRLF; the reply inbox ends
 * in the message id, so the PubAck names the message it acks. */
static uint64_t nats_publish(conn *c, uint64_t id, const uint8_t *payload, size_t len) {
    nats_conn *nc = c->impl;
    char headers[96], line[256];
    int header_len = snprintf(headers, sizeof headers, "NATS/1.0\r\nNats-Msg-Id: %llu\r\n\r\n", (unsigned long long)id);
    int line_len = snprintf(line, sizeof line, "HPUB %s _INBOX.%s.%llu %d %zu\r\n", c->run->subject, c->name,
                            (unsigned long long)id, header_len, (size_t)header_len + len);
    bytes_reserve(&nc->out, (size_t)line_len + (size_t)header_len + len + 2);
    bytes_append(&nc->out, line, (size_t)line_len);
    bytes_append(&nc->out, headers, (size_t)header_len);
    bytes_append(&nc->out, payload, len);
    bytes_append(&nc->out, "\r\n", 2);
    return id;
}

static void nats_flush(conn *c) {
    nats_conn *nc = c->impl;
    if (c->fd >= 0 && bytes_flush(&nc->out, c->fd) < 0) lost_connection(c, strerror(errno));
}

static void nats_disconnect(conn *c) {
    nats_conn *nc = c->impl;
    if (c->fd < 0) return;
    close(c->fd);
    c->fd = -1;
    nc->in.len = nc->out.len = 0;
    conn_not_ready(c);
}

static void nats_destroy(conn *c) {
    nats_conn *nc = c->impl;
    if (!nc) return;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    free(nc->in.data);
    free(nc->out.data);
    free(nc);
    c->impl = NULL;
}

/* The stream, created once per server on a connection of its own. */
static int nats_create_stream(run *r) {
    conn setup;
    conn *one = &setup;
    memset(&setup, 0, sizeof setup);
    setup.run = r;
    setup.fd = -1;
    conn_setup(&setup, ROLE_SETUP, "setup", 0);
    int before = atomic_load(&r->ready);
    int rc = loop_until_ready(r, &one, 1, before + 1, 10000, 1);
    if (rc == 0 && setup.stats.errors) rc = -1;
    nats_disconnect(&setup);
    nats_destroy(&setup);
    return rc;
}

const system_ops nats_ops = {
    .name = "nats",
    .prepare = nats_create_stream,
    .open = nats_open,
    .poll_events = nats_poll_events,
    .handle_io = nats_handle_io,
    .deadline_ms = nats_deadline_ms,
    .handle_timer = nats_handle_timer,
    .publish = nats_publish,
    .flush = nats_flush,
    .disconnect = nats_disconnect,
    .destroy = nats_destroy,
};
