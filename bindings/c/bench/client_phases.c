/*
 * client_phases — one client's work, isolated for instruction counting (callgrind).
 *
 *   client_phases send [N]       N send->ack cycles of one device (default 20000)
 *   client_phases receive [N]    N pushes from 4 senders, handled by a fifth device
 *
 * A server engine and the client engines run a session through the C ABI while every frame
 * each client receives is recorded. Then a fresh twin of one client (same config and seed, so
 * the same message ids) gets that client's setup frames and, inside send_phase() or
 * receive_phase(), exactly the inputs the measured path needs: for `send`, its own sends with
 * the acks that answered them (the echo pushes left out); for `receive`, every push. Run under
 * `valgrind --tool=callgrind --toggle-collect=send_phase` (or receive_phase) to count the
 * client's instructions alone (`make bench-instructions`). Instruction counts do not move with
 * the machine's load, unlike times on a shared machine.
 */
#include <imr.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SENDERS 4
#define MAX_CLIENTS (SENDERS + 1)

static void check(int rc, const char *what) {
    if (rc < 0) {
        fprintf(stderr, "client_phases: %s: %s\n", what, imr_strerror(rc));
        exit(1);
    }
}

/* A frame a client received, and the step it arrived at (-1: during setup). */
typedef struct {
    uint8_t *data;
    size_t len;
    int step;
} record;

typedef struct {
    record *items;
    size_t count, capacity;
} records;

static void keep(records *r, const uint8_t *data, size_t len, int step) {
    if (r->count == r->capacity) {
        r->capacity = r->capacity ? r->capacity * 2 : 1024;
        r->items = realloc(r->items, r->capacity * sizeof *r->items);
        if (!r->items) exit(1);
    }
    record *item = &r->items[r->count++];
    item->data = malloc(len ? len : 1);
    if (!item->data) exit(1);
    memcpy(item->data, data, len);
    item->len = len;
    item->step = step;
}

static imr_server *server;
static imr_client *clients[MAX_CLIENTS];
static uint64_t sessions[MAX_CLIENTS];
static records received[MAX_CLIENTS];
static int client_count;
static imr_event event;
static uint8_t payload[32];

static imr_client *make_client(int i) {
    imr_config *config;
    imr_client *client;
    char token[32];
    snprintf(token, sizeof token, "token%d", i);
    check(imr_config_new(&config), "config");
    check(imr_config_set_u64(config, IMR_CONFIG_NODE_ID, 100 + (uint64_t)i), "node id");
    check(imr_config_set_u64(config, IMR_CONFIG_SEED, 7 + (uint64_t)i), "seed");
    check(imr_config_set_u64(config, IMR_CONFIG_POLL_INTERVAL_MS, 0), "poll interval");
    check(imr_config_set_string(config, IMR_CONFIG_TOKEN, token), "token");
    check(imr_client_new(config, &client), "client");
    imr_config_free(config);
    return client;
}

static void start(int count) {
    imr_config *config;
    static char names[MAX_CLIENTS][16];
    const char *members[MAX_CLIENTS];
    client_count = count;
    check(imr_config_new(&config), "config");
    check(imr_config_set_u64(config, IMR_CONFIG_RATE_LIMIT_BURST, 0), "rate limit");
    check(imr_config_set_u64(config, IMR_CONFIG_SEND_RECEIPTS, 0), "receipts");
    check(imr_server_new(config, &server), "server");
    imr_config_free(config);
    for (int i = 0; i < count; i++) {
        char token[32];
        snprintf(names[i], sizeof names[i], "user%d", i);
        snprintf(token, sizeof token, "token%d", i);
        members[i] = names[i];
        check(imr_server_add_token(server, token, names[i], 0), "token");
    }
    check(imr_server_create_conversation(server, "bench", members, (size_t)count), "conversation");
    for (int i = 0; i < count; i++) {
        clients[i] = make_client(i);
        check(imr_server_open_session(server, &sessions[i], 1000), "session");
        check(imr_client_connected(clients[i], 1000), "connected");
    }
}

/* Moves frames both ways until nothing moves, recording what each client receives. */
static void pump(int step, uint64_t now) {
    const uint8_t *frame;
    size_t len;
    uint64_t session;
    int closing, moved = 1;
    while (moved) {
        moved = 0;
        for (int i = 0; i < client_count; i++) {
            while (imr_client_poll_transmit(clients[i], &frame, &len) == 1) {
                check(imr_server_handle_frame(server, sessions[i], frame, len, now), "server handle");
                moved = 1;
            }
        }
        while (imr_server_poll_output(server, &session, &frame, &len, &closing) == 1) {
            moved = 1;
            if (closing) continue;
            for (int i = 0; i < client_count; i++) {
                if (sessions[i] != session) continue;
                keep(&received[i], frame, len, step);
                check(imr_client_handle_frame(clients[i], frame, len, now), "client handle");
            }
        }
    }
    for (int i = 0; i < client_count; i++) while (imr_client_poll_event(clients[i], &event) == 1) {}
    while (imr_server_poll_event(server, &event) == 1) {}
}

static void drain(imr_client *client) {
    const uint8_t *frame;
    size_t len;
    while (imr_client_poll_transmit(client, &frame, &len) == 1) {}
    while (imr_client_poll_event(client, &event) == 1) {}
}

/* A fresh twin of client i, fed what client i received before the measured steps. */
static imr_client *twin(int i, size_t *next) {
    imr_client *client = make_client(i);
    size_t k = 0;
    check(imr_client_connected(client, 1000), "twin connected");
    drain(client);
    for (; k < received[i].count && received[i].items[k].step < 0; k++) {
        check(imr_client_handle_frame(client, received[i].items[k].data, received[i].items[k].len, 1000), "twin setup");
    }
    drain(client);
    *next = k;
    return client;
}

/* Per step: send, transmit, the step's first received frame (the ack), events. */
__attribute__((noinline, noclone)) void send_phase(imr_client *client, const records *r, size_t k, int steps) {
    uint8_t id[16];
    for (int step = 0; step < steps; step++) {
        check(imr_client_send(client, "bench", payload, sizeof payload, id, 1000 + (uint64_t)step), "send");
        int first = 1;
        for (; k < r->count && r->items[k].step == step; k++) {
            if (first) check(imr_client_handle_frame(client, r->items[k].data, r->items[k].len, 1000 + (uint64_t)step), "ack");
            first = 0;
        }
        drain(client);
    }
}

/* Every frame received after setup (the pushes), each followed by draining. */
__attribute__((noinline, noclone)) void receive_phase(imr_client *client, const records *r, size_t k) {
    for (; k < r->count; k++) {
        check(imr_client_handle_frame(client, r->items[k].data, r->items[k].len, 1000 + (uint64_t)r->items[k].step), "push");
        drain(client);
    }
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "send";
    int steps = argc > 2 ? atoi(argv[2]) : 20000;
    int sending = strcmp(mode, "send") == 0;
    if ((!sending && strcmp(mode, "receive") != 0) || steps < 1) {
        fprintf(stderr, "usage: client_phases send|receive [N]\n");
        return 2;
    }
    memset(payload, 'x', sizeof payload);
    uint8_t id[16];
    size_t next;
    start(sending ? 1 : MAX_CLIENTS);
    pump(-1, 1000);
    for (int step = 0; step < steps; step++) {
        int sender = sending ? 0 : step % SENDERS;
        check(imr_client_send(clients[sender], "bench", payload, sizeof payload, id, 1000 + (uint64_t)step), "send");
        pump(step, 1000 + (uint64_t)step);
    }
    if (sending) {
        imr_client *client = twin(0, &next);
        send_phase(client, &received[0], next, steps);
        /* The replay matched: the twin's messages all ended sent. */
        imr_ssize n = imr_client_outbox(client, NULL, 0);
        check((int)n, "outbox");
        imr_outbox_entry *entries = calloc((size_t)n + 1, sizeof *entries);
        if (!entries) return 1;
        check((int)imr_client_outbox(client, entries, (size_t)n), "outbox");
        for (imr_ssize i = 0; i < n; i++) {
            if (entries[i].state != IMR_STATE_SENT) {
                fprintf(stderr, "client_phases: a replayed message is not sent\n");
                return 1;
            }
        }
        free(entries);
        printf("send: %d cycles replayed, all sent\n", steps);
        imr_client_free(client);
    } else {
        imr_client *client = twin(SENDERS, &next);
        receive_phase(client, &received[SENDERS], next);
        printf("receive: %zu frames replayed\n", received[SENDERS].count - next);
        imr_client_free(client);
    }
    return 0;
}
