/* The argument pickers, the handles' constructors and the wiring of client and server. */
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "world.h"

char long_string[5001];

/* Golden vectors (Tests/Vectors): hello.bin (its token is registered for bob) and ping.bin,
 * frames that get a session an answer, where random bytes mostly get it closed. */
const uint8_t hello_frame[47] = {
    0x08, 0x01, 0x52, 0x2b, 0x0a, 0x1e, 0x74, 0x6f, 0x6b, 0x2e, 0x65, 0x79, 0x4a, 0x31, 0x63, 0x32,
    0x56, 0x79, 0x49, 0x6a, 0x6f, 0x69, 0x59, 0x57, 0x78, 0x70, 0x59, 0x32, 0x55, 0x69, 0x66, 0x51,
    0x2e, 0x73, 0x69, 0x67, 0x10, 0x01, 0x19, 0xf0, 0xde, 0xbc, 0x9a, 0x78, 0x56, 0x34, 0x12};
const uint8_t ping_frame[11] = {0x08, 0x01, 0x9a, 0x01, 0x06, 0x08, 0xb1, 0xd1, 0xf9, 0xd6, 0x03};
const char hello_token[] = "tok.eyJ1c2VyIjoiYWxpY2UifQ.sig";

/* A string argument: NULL, a name the engines know, an invalid one, or input bytes. */
const char *pick_string(input *in, char *buf, size_t cap) {
    static const char *const pool[] = {"general", "alice", "talice", "random", "bob", "tbob", "caf\xc3\xa9",
                                       "cafe\xcc\x81", "\xff\xfe", "", "x"};
    uint8_t k = in_byte(in) % 16;
    if (k == 0) return NULL;
    if (k == 1) return long_string;
    if (k == 2) {
        size_t n;
        const uint8_t *p = in_bytes(in, cap - 1, &n);
        memcpy(buf, p, n);
        buf[n] = 0;
        return buf;
    }
    return pool[k % (sizeof pool / sizeof pool[0])];
}

/* Bytes as the library gets them: an exact-size heap copy, so that an over-read is caught. */
uint8_t *pick_bytes(input *in, size_t max, size_t *len) {
    const uint8_t *p = in_bytes(in, max, len);
    uint8_t *copy = malloc(*len ? *len : 1);
    memcpy(copy, p, *len);
    return copy;
}

uint64_t pick_now(world *w, input *in) {
    if (in_byte(in) < 240) return w->now;
    return in_u64(in);
}

int pick_key(input *in) {
    static const int keys[] = {IMR_CONFIG_NODE_ID, IMR_CONFIG_SEED, IMR_CONFIG_ACK_TIMEOUT_MS, IMR_CONFIG_BACKOFF_CAP_MS,
                               IMR_CONFIG_MAX_ATTEMPTS, IMR_CONFIG_INFLIGHT_WINDOW, IMR_CONFIG_SYNC_PAGE_SIZE,
                               IMR_CONFIG_HISTORY_ORDER, IMR_CONFIG_MAX_FRAME_BYTES, IMR_CONFIG_MAX_PAYLOAD_BYTES,
                               IMR_CONFIG_MAX_IDENTIFIER_BYTES, IMR_CONFIG_MAX_CLOCK_ENTRIES, IMR_CONFIG_MAX_TOKEN_BYTES,
                               IMR_CONFIG_MAX_MEMBERS_PER_FRAME, IMR_CONFIG_SERVER_MAX_SYNC_PAGE, IMR_CONFIG_RATE_LIMIT_BURST,
                               IMR_CONFIG_MAX_OUTBOUND_FRAMES, IMR_CONFIG_OUTBOUND_SOFT_BYTES, IMR_CONFIG_OUTBOUND_HARD_BYTES,
                               IMR_CONFIG_MAX_HELLO_BYTES, IMR_CONFIG_MAX_MEMBERS, IMR_CONFIG_BACKOFF_FACTOR,
                               IMR_CONFIG_JITTER, IMR_CONFIG_TOKEN, IMR_CONFIG_STORE_PATH, IMR_CONFIG_USER_ID};
    uint8_t k = in_byte(in);
    if (k < 224) return keys[k % (sizeof keys / sizeof keys[0])];
    return (int)(int32_t)in_raw64(in);
}

uint64_t pick_session(world *w, input *in) {
    uint8_t k = in_byte(in);
    if (k < 128) return w->link;
    if (k < 224) return w->sessions[k % 4];
    return in_u64(in);
}

void drain_events(world *w) {
    imr_event e;
    for (int i = 0; i < 64 && w->client && check_rc(imr_client_poll_event(w->client, &e), "client_poll_event") == 1; i++) touch_event(&e);
    for (int i = 0; i < 64 && w->server && check_rc(imr_server_poll_event(w->server, &e), "server_poll_event") == 1; i++) touch_event(&e);
}

/* Client frames to the server on the wired session, server frames back to the client
 * (unless `queue`: then the server's answers stay queued, for the budgets to meet). */
void pump(world *w, int rounds, int queue) {
    for (int r = 0; r < rounds; r++) {
        const uint8_t *frame;
        size_t len;
        for (int i = 0; i < 64 && w->client && check_rc(imr_client_poll_transmit(w->client, &frame, &len), "poll_transmit") == 1; i++) {
            touch(frame, len, "transmitted frame");
            if (w->server) check_rc(imr_server_handle_frame(w->server, w->link, frame, len, w->now), "server_handle_frame");
        }
        if (queue) continue;
        uint64_t session;
        int close;
        for (int i = 0; i < 256 && w->server && check_rc(imr_server_poll_output(w->server, &session, &frame, &len, &close), "poll_output") == 1; i++) {
            REQUIRE(close == 0 || close == 1, "poll_output close flag %d", close);
            REQUIRE(!close || (frame == NULL && len == 0), "a close with a frame");
            touch(frame, len, "output frame");
            if (!close && session == w->link && w->client) check_rc(imr_client_handle_frame(w->client, frame, len, w->now), "client_handle_frame");
        }
        drain_events(w);
    }
}

void new_config(world *w) {
    imr_config_free(w->config);
    w->config = NULL;
    check_rc(imr_config_new(&w->config), "config_new");
    check_rc(imr_config_set_u64(w->config, IMR_CONFIG_NODE_ID, 1), "set node");
    check_rc(imr_config_set_string(w->config, IMR_CONFIG_TOKEN, "talice"), "set token");
}

void new_server(world *w) {
    imr_server_free(w->server);
    w->server = NULL;
    imr_server *out = (imr_server *)&w->sessions; /* a sentinel: must stay unless created */
    int rc = (int)check_rc(imr_server_new(w->config, &out), "server_new");
    if (rc != IMR_OK) { REQUIRE(out == (imr_server *)&w->sessions, "server_new wrote *out on failure"); return; }
    w->server = out;
    check_rc(imr_server_add_token(w->server, "talice", "alice", 0), "add_token");
    check_rc(imr_server_add_token(w->server, hello_token, "bob", 0), "add_token");
    const char *members[] = {"alice", "bob"};
    check_rc(imr_server_create_conversation(w->server, "general", members, 2), "create_conversation");
    check_rc(imr_server_open_session(w->server, &w->link, w->now), "open_session");
}

void new_client(world *w) {
    imr_client_free(w->client);
    w->client = NULL;
    imr_client *out = (imr_client *)&w->sessions;
    int rc = (int)check_rc(imr_client_new(w->config, &out), "client_new");
    if (rc != IMR_OK) { REQUIRE(out == (imr_client *)&w->sessions, "client_new wrote *out on failure"); return; }
    w->client = out;
    check_rc(imr_client_connected(w->client, w->now), "connected");
}
