/* The server half of the NATS client protocol: INFO, PING, PONG, +OK, -ERR, MSG, HMSG. */
#ifndef NATS_PROTO_H
#define NATS_PROTO_H

#include "load.h"

typedef struct {
    const char *subject;
    size_t subject_len;
    long sid;
    const char *reply; /* NULL when the message has none */
    size_t reply_len;
    const uint8_t *headers; /* HMSG only: "NATS/1.0 ...\r\n...\r\n\r\n" */
    size_t headers_len;
    const uint8_t *payload;
    size_t payload_len;
} nats_msg;

typedef struct {
    void (*on_msg)(void *ctx, const nats_msg *m);
    void (*on_ping)(void *ctx);
    void (*on_pong)(void *ctx);
    void (*on_err)(void *ctx, const char *line, size_t len);
} nats_handlers;

/* Handles every complete operation in `in` and keeps the rest; -1 on bytes that are not
 * the protocol. */
int nats_parse(bytes *in, const nats_handlers *h, void *ctx);

#endif
