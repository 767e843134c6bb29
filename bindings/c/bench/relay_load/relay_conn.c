/* The relay side: libimr's client engine over TCP, driven as bindings/c/examples/chat.c
 * drives it (after every input: frames out, events, then the timer). */
#include "load.h"

#include <imr.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    imr_client *client;
    imr_splitter *splitter;
    bytes out;
} relay_conn;

static void check(conn *c, int rc, const char *what) {
    if (rc < 0) {
        fprintf(stderr, "relay_load: %s: %s: %s\n", c->name, what, imr_strerror(rc));
        exit(1);
    }
}

static uint64_t key_of(const uint8_t id[16]) {
    uint64_t k;
    memcpy(&k, id, sizeof k);
    return k;
}

static imr_client *new_client(conn *c) {
    imr_config *config;
    imr_client *client;
    check(c, imr_config_new(&config), "config");
    check(c, imr_config_set_u64(config, IMR_CONFIG_NODE_ID, (uint64_t)c->index + 1), "config");
    check(c, imr_config_set_u64(config, IMR_CONFIG_SEED, (uint64_t)c->index + 1), "config");
    /* The relay runs with --insecure-user-tokens: the token is the user name. */
    check(c, imr_config_set_string(config, IMR_CONFIG_TOKEN, c->name), "config");
    check(c, imr_config_set_u64(config, IMR_CONFIG_INFLIGHT_WINDOW, (uint64_t)c->run->window), "config");
    /* Nothing here reads history: arrival order spares the generator the causal sort. */
    check(c, imr_config_set_u64(config, IMR_CONFIG_HISTORY_ORDER, IMR_HISTORY_ARRIVAL), "config");
    check(c, imr_client_new(config, &client), "client");
    imr_config_free(config);
    return client;
}

static void drain_events(conn *c, relay_conn *rc) {
    imr_event e;
    while (imr_client_poll_event(rc->client, &e) == 1) {
        switch (e.kind) {
        case IMR_EVENT_CONNECTION_READY: conn_ready(c); break;
        case IMR_EVENT_MESSAGE_SENT: conn_acked(c, key_of(e.message_id)); break;
        case IMR_EVENT_MESSAGE_RECEIVED: conn_delivered(c, e.payload, e.payload_len); break;
        case IMR_EVENT_MESSAGE_FAILED: conn_error(c, "message failed", imr_strerror((int)e.code)); break;
        case IMR_EVENT_SERVER_ERROR: conn_error(c, "server error", e.detail); break;
        case IMR_EVENT_ERROR: conn_error(c, imr_strerror(e.code), e.detail); break;
        default: break;
        }
    }
}

static void drain_transmit(conn *c, relay_conn *rc) {
    const uint8_t *frame;
    size_t len, written;
    while (imr_client_poll_transmit(rc->client, &frame, &len) == 1) {
        if (c->fd < 0) continue;
        imr_ssize need = imr_frame_delimited_size(len);
        if (need < 0) check(c, (int)need, "delimit");
        bytes_reserve(&rc->out, (size_t)need);
        check(c, imr_frame_delimit(frame, len, rc->out.data + rc->out.len, rc->out.cap - rc->out.len, &written),
              "delimit");
        rc->out.len += written;
    }
}

static void lost_connection(conn *c, const char *why) {
    conn_error(c, "connection lost", why);
    c->run->ops->disconnect(c);
}

static void after_input(conn *c, relay_conn *rc) {
    drain_transmit(c, rc);
    drain_events(c, rc);
    if (c->fd >= 0 && bytes_flush(&rc->out, c->fd) < 0) lost_connection(c, strerror(errno));
}

static void relay_open(conn *c) {
    relay_conn *rc = c->impl;
    if (!rc) {
        rc = c->impl = calloc(1, sizeof *rc);
        rc->client = new_client(c);
    }
    c->fd = net_dial(c->run->host, c->run->port);
    if (c->fd < 0) {
        conn_error(c, "connect", strerror(errno));
        return;
    }
    check(c, imr_splitter_new(0, &rc->splitter), "splitter");
    check(c, imr_client_connected(rc->client, now_ms()), "connected");
    after_input(c, rc);
}

static short relay_poll_events(const conn *c) {
    const relay_conn *rc = c->impl;
    return (short)(POLLIN | (rc->out.len ? POLLOUT : 0));
}

static void relay_handle_io(conn *c, short revents) {
    static _Thread_local uint8_t buf[65536];
    relay_conn *rc = c->impl;
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        /* A few reads at most: other connections of this loop wait meanwhile. */
        for (int reads = 0; reads < 4 && c->fd >= 0; reads++) {
            ssize_t n = recv(c->fd, buf, sizeof buf, 0);
            if (n == 0) {
                lost_connection(c, "closed by the server");
                return;
            }
            if (n < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) lost_connection(c, strerror(errno));
                break;
            }
            uint64_t now = now_ms();
            int rc_push = imr_splitter_push(rc->splitter, buf, (size_t)n);
            const uint8_t *frame;
            size_t len;
            int got = 0;
            while (rc_push == IMR_OK && (got = imr_splitter_next(rc->splitter, &frame, &len)) == 1) {
                int r = imr_client_handle_frame(rc->client, frame, len, now);
                if (r < 0) conn_error(c, "frame refused", imr_strerror(r));
            }
            if (rc_push < 0 || got < 0) {
                lost_connection(c, "framing");
                return;
            }
            drain_transmit(c, rc);
            drain_events(c, rc);
            if ((size_t)n < sizeof buf) break;
        }
    }
    if (c->fd >= 0 && bytes_flush(&rc->out, c->fd) < 0) lost_connection(c, strerror(errno));
}

static uint64_t relay_deadline_ms(const conn *c) {
    const relay_conn *rc = c->impl;
    uint64_t deadline = 0;
    if (imr_client_next_timeout(rc->client, &deadline) == 1) return deadline ? deadline : 1;
    return 0;
}

static void relay_handle_timer(conn *c) {
    relay_conn *rc = c->impl;
    imr_client_handle_timeout(rc->client, now_ms());
    after_input(c, rc);
}

static uint64_t relay_publish(conn *c, uint64_t id, const uint8_t *payload, size_t len) {
    relay_conn *rc = c->impl;
    uint8_t message_id[16];
    (void)id; /* the engine names the message; the id rides in the payload */
    check(c, imr_client_send(rc->client, c->run->subject, payload, len, message_id, now_ms()), "send");
    drain_transmit(c, rc);
    return key_of(message_id);
}

static void relay_flush(conn *c) {
    relay_conn *rc = c->impl;
    after_input(c, rc);
}

static void relay_disconnect(conn *c) {
    relay_conn *rc = c->impl;
    if (!rc || c->fd < 0) return;
    close(c->fd);
    c->fd = -1;
    rc->out.len = 0;
    imr_splitter_free(rc->splitter);
    rc->splitter = NULL;
    imr_client_disconnected(rc->client, now_ms());
    conn_not_ready(c);
    after_input(c, rc);
}

static void relay_destroy(conn *c) {
    relay_conn *rc = c->impl;
    if (!rc) return;
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    imr_splitter_free(rc->splitter);
    imr_client_free(rc->client);
    free(rc->out.data);
    free(rc);
    c->impl = NULL;
}

const system_ops relay_ops = {
    .name = "relay",
    .open = relay_open,
    .poll_events = relay_poll_events,
    .handle_io = relay_handle_io,
    .deadline_ms = relay_deadline_ms,
    .handle_timer = relay_handle_timer,
    .publish = relay_publish,
    .flush = relay_flush,
    .disconnect = relay_disconnect,
    .destroy = relay_destroy,
};
