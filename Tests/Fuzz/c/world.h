/* The handles a fuzz-abi script works on, the argument pickers, and the wiring of a
 * client to a server. */
#ifndef FUZZ_WORLD_H
#define FUZZ_WORLD_H

#include <stdint.h>

#include "imr.h"
#include "input.h"

typedef struct {
    imr_config *config;
    imr_splitter *splitter;
    imr_clock *clocks[2];
    imr_client *client;
    imr_server *server;
    uint64_t link;       /* the server session the client is wired to */
    uint64_t sessions[4];
    uint64_t now;
    uint8_t last_id[16];
} world;

/* A string of 5,000 bytes: over every identifier and token limit. */
extern char long_string[5001];
/* Golden frames: a hello (its token registered for bob) and a ping. */
extern const uint8_t hello_frame[47], ping_frame[11];
extern const char hello_token[];

const char *pick_string(input *in, char *buf, size_t cap);
uint8_t *pick_bytes(input *in, size_t max, size_t *len);
uint64_t pick_now(world *w, input *in);
int pick_key(input *in);
uint64_t pick_session(world *w, input *in);

void new_config(world *w);
void new_server(world *w);
void new_client(world *w);
void drain_events(world *w);
void pump(world *w, int rounds, int queue);

/* The steps of a script, by the part of the ABI they call. */
void config_ops(world *w, input *in);
void splitter_ops(world *w, input *in);
void framing_ops(input *in);
void clock_ops(world *w, input *in);
void client_ops(world *w, input *in);
void server_ops(world *w, input *in);
void misc_ops(input *in);

#endif
