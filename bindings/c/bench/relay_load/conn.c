/* What every system reports about its connections (ready, acked, delivered, failed), the
 * publishers' window, and the payload that carries the id and send time end to end. */
#include "load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void conns_init(run *r, int n) {
    r->conns = calloc((size_t)n, sizeof *r->conns);
    if (!r->conns) {
        fprintf(stderr, "relay_load: out of memory\n");
        exit(1);
    }
    r->n_conns = n;
    for (int i = 0; i < n; i++) {
        r->conns[i].run = r;
        r->conns[i].index = i;
        r->conns[i].fd = -1;
    }
}

void conn_setup(conn *c, conn_role role, const char *prefix, int number) {
    c->role = role;
    snprintf(c->name, sizeof c->name, "%s%d", prefix, number);
    if (role == ROLE_SUBSCRIBER) {
        c->seen = calloc((size_t)(c->run->messages / 8 + 1), 1);
        if (!c->seen) {
            fprintf(stderr, "relay_load: out of memory\n");
            exit(1);
        }
    }
}

void conn_ready(conn *c) {
    if (c->ready) return;
    c->ready = 1;
    atomic_fetch_add(&c->run->ready, 1);
}

void conn_not_ready(conn *c) {
    if (!c->ready) return;
    c->ready = 0;
    atomic_fetch_sub(&c->run->ready, 1);
}

static uint64_t read_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void write_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t micros_since(uint64_t then_ns, uint64_t now) {
    uint64_t us = now > then_ns ? (now - then_ns) / 1000u : 0;
    return us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

void conn_acked(conn *c, uint64_t key) {
    for (int i = 0; i < MAX_WINDOW; i++) {
        pending_send *p = &c->pending[i];
        if (!p->used || p->key != key) continue;
        uint64_t now = now_ns();
        samples_add(&c->stats.ack_us, micros_since(p->sent_ns, now));
        p->used = 0;
        c->inflight--;
        c->stats.acks++;
        c->stats.last_ack_ns = now;
        atomic_fetch_add_explicit(&c->run->acks, 1, memory_order_relaxed);
        return;
    }
    /* Not one of ours in flight: a second ack of a retransmitted message. */
}

void conn_delivered(conn *c, const uint8_t *payload, size_t len) {
    if (c->role != ROLE_SUBSCRIBER) return; /* publishers are members too, and ignore it */
    if (len < PAYLOAD_HEADER) {
        conn_error(c, "delivery", "payload too short");
        return;
    }
    uint64_t id = read_u64(payload), now = now_ns();
    if (id >= c->run->messages) {
        conn_error(c, "delivery", "unknown message id");
        return;
    }
    uint8_t bit = (uint8_t)(1u << (id % 8));
    if (c->seen[id / 8] & bit) {
        c->stats.duplicates++;
        return;
    }
    c->seen[id / 8] |= bit;
    c->stats.deliveries++;
    c->stats.last_delivery_ns = now;
    samples_add(&c->stats.delivery_us, micros_since(read_u64(payload + 8), now));
    atomic_fetch_add_explicit(&c->run->deliveries, 1, memory_order_relaxed);
}

void conn_error(conn *c, const char *what, const char *detail) {
    c->stats.errors++;
    /* The first few of a connection are shown; the count goes into the result. */
    if (c->stats.errors <= 3) fprintf(stderr, "relay_load: %s: %s: %s\n", c->name, what, detail ? detail : "");
    atomic_fetch_add(&c->run->errors, 1);
}

/* Sends until the window is full; one flush for the batch. */
void publisher_fill(conn *c) {
    run *r = c->run;
    int sent = 0;
    uint8_t payload[4096];
    if (!c->ready) return;
    while (c->inflight < r->window && c->next_id < r->messages) {
        int slot = 0;
        while (c->pending[slot].used) slot++;
        uint64_t t = now_ns();
        memset(payload + PAYLOAD_HEADER, 'x', r->payload_bytes - PAYLOAD_HEADER);
        write_u64(payload, c->next_id);
        write_u64(payload + 8, t);
        c->pending[slot].key = r->ops->publish(c, c->next_id, payload, r->payload_bytes);
        c->pending[slot].sent_ns = t;
        c->pending[slot].used = 1;
        c->inflight++;
        c->next_id += c->stride;
        sent++;
    }
    if (sent) r->ops->flush(c);
}

void conns_free(run *r) {
    for (int i = 0; i < r->n_conns; i++) {
        conn *c = &r->conns[i];
        if (r->ops->destroy) r->ops->destroy(c);
        free(c->seen);
        samples_free(&c->stats.ack_us);
        samples_free(&c->stats.delivery_us);
    }
    free(r->conns);
    r->conns = NULL;
    r->n_conns = 0;
}
