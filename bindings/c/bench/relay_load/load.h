/*
 * relay_load — one load generator for three servers: the relay (libimr's client engine),
 * NATS JetStream (the client protocol, written here) and mosquitto (libmosquitto).
 * main.c says how it is run; this header holds what every part shares.
 */
#ifndef RELAY_LOAD_H
#define RELAY_LOAD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define MAX_WINDOW 64
/* The payload starts with the message id and the publisher's clock (8 bytes each). */
#define PAYLOAD_HEADER 16

typedef enum { ROLE_PUBLISHER, ROLE_SUBSCRIBER, ROLE_IDLE, ROLE_SETUP } conn_role;

typedef struct run run;
typedef struct conn conn;

/* What each system implements; the poll loop (loop.c) drives every connection through it. */
typedef struct system_ops {
    const char *name;
    int (*prepare)(run *r);                 /* once per server before the load; may be NULL */
    void (*open)(conn *c);                  /* connect and start the handshake (sets c->fd) */
    short (*poll_events)(const conn *c);    /* POLLIN, and POLLOUT while output waits */
    void (*handle_io)(conn *c, short revents);
    uint64_t (*deadline_ms)(const conn *c); /* the next timer, 0 for none */
    void (*handle_timer)(conn *c);
    /* Queues one message; returns the key its ack will carry. */
    uint64_t (*publish)(conn *c, uint64_t id, const uint8_t *payload, size_t len);
    void (*flush)(conn *c);                 /* writes what publish queued */
    void (*disconnect)(conn *c);            /* closes the socket; open may follow */
    void (*destroy)(conn *c);
} system_ops;

extern const system_ops relay_ops, nats_ops, mqtt_ops;

typedef struct {
    uint32_t *v;
    size_t n, cap;
} samples;

typedef struct {
    uint64_t acks, deliveries, duplicates, errors;
    uint64_t last_ack_ns, last_delivery_ns;
    samples ack_us, delivery_us;
} conn_stats;

typedef struct {
    uint64_t key;
    uint64_t sent_ns;
    int used;
} pending_send;

struct conn {
    run *run;
    void *impl;        /* the system's state */
    conn_role role;
    int index;
    char name[32];     /* user, client id or inbox name: pub0, sub3, idle17 */
    int fd;            /* -1 while closed */
    int opened, ready;
    /* Publishers send ids next_id, next_id + stride, ... below run->messages. */
    uint64_t next_id, stride;
    int inflight;
    pending_send pending[MAX_WINDOW];
    uint8_t *seen;     /* subscribers: a bit per id */
    conn_stats stats;
};

struct run {
    const system_ops *ops;
    const char *host, *port;
    const char *subject;  /* the conversation, subject or topic */
    uint64_t messages;
    int window;
    size_t payload_bytes;
    int server_pid;
    conn *conns;
    int n_conns;
    _Atomic int ready;           /* connections with their handshake done */
    _Atomic int go;              /* publishers may send */
    _Atomic int stop;            /* poll loops return */
    _Atomic uint64_t acks;       /* progress, for the main thread */
    _Atomic uint64_t deliveries; /* first deliveries only */
    _Atomic uint64_t errors;
};

/* clock.c */
uint64_t now_ns(void);
uint64_t now_ms(void);

/* conn.c: what systems report, and the publishers' window. */
void conns_init(run *r, int n);
void conn_setup(conn *c, conn_role role, const char *prefix, int number);
void conn_ready(conn *c);
void conn_not_ready(conn *c);
void conn_acked(conn *c, uint64_t key);
void conn_delivered(conn *c, const uint8_t *payload, size_t len);
void conn_error(conn *c, const char *what, const char *detail);
void publisher_fill(conn *c);
void conns_free(run *r);

/* loop.c: poll loops over sets of connections. */
typedef struct workers workers;
struct pollfd;
void loop_once(run *r, conn **cs, struct pollfd *fds, int n, int max_wait_ms, int max_opening);
int loop_until_ready(run *r, conn **cs, int n, int want, uint64_t timeout_ms, int max_opening);
workers *workers_start(run *r, int threads, int max_opening);
void workers_stop(workers *w);
void sleep_ms(int ms);

/* net.c: sockets and byte buffers shared by the relay and NATS sides. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
} bytes;
int net_dial(const char *host, const char *port);
void bytes_reserve(bytes *b, size_t extra);
void bytes_append(bytes *b, const void *data, size_t len);
int bytes_flush(bytes *b, int fd); /* 0, or -1 when the connection failed */

/* proc.c: the server process, seen from /proc. */
double proc_cpu_seconds(int pid);
uint64_t proc_status_kib(int pid, const char *field);

/* stats.c */
void samples_add(samples *s, uint32_t v);
void samples_free(samples *s);
double samples_percentile_ms(samples *s, double p);
void samples_merge(samples *into, const samples *from);

#endif
