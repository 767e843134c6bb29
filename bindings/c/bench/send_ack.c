/*
 * send_ack — the cost of one send->ack cycle driven from C through libimr.
 *
 *   send_ack [CYCLES] [RUNS]      (defaults 20000, 7)
 *
 * One client engine and one server engine (memory store, no rate limit), connected in
 * memory. A cycle: imr_client_send (100-byte payload); every frame the client transmits
 * goes to imr_server_handle_frame; every frame the server outputs (the ack, and the push
 * of the message back to its sender's device) goes to imr_client_handle_frame, until
 * nothing moves; then both event queues are drained. The same cycle is measured natively
 * in Swift (`imrctl bench --only abi`) and from Python (bindings/python/bench/send_ack.py).
 * Prints the median CPU microseconds per cycle over RUNS runs, and the JSON on the last line.
 */
#include <imr.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void check(int rc, const char *what) {
    if (rc < 0) {
        fprintf(stderr, "send_ack: %s: %s\n", what, imr_strerror(rc));
        exit(1);
    }
}

/* CPU time of the process: on a shared, loaded machine it leaves out the time other
 * processes ran, which wall time would charge to whichever measurement was unlucky. */
static double seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    imr_server *server;
    imr_client *client;
    uint64_t session;
    uint64_t now;
    imr_event event;
} pair;

/* Moves frames both ways until nothing moves. */
static void pump(pair *p) {
    const uint8_t *frame;
    size_t len;
    uint64_t session;
    int closing, moved = 1;
    while (moved) {
        moved = 0;
        while (imr_client_poll_transmit(p->client, &frame, &len) == 1) {
            check(imr_server_handle_frame(p->server, p->session, frame, len, p->now), "server handle");
            moved = 1;
        }
        while (imr_server_poll_output(p->server, &session, &frame, &len, &closing) == 1) {
            if (!closing) check(imr_client_handle_frame(p->client, frame, len, p->now), "client handle");
            moved = 1;
        }
    }
    while (imr_client_poll_event(p->client, &p->event) == 1) {}
    while (imr_server_poll_event(p->server, &p->event) == 1) {}
}

static void setup(pair *p) {
    imr_config *config;
    const char *members[] = {"alice"};
    memset(p, 0, sizeof *p);
    check(imr_config_new(&config), "config");
    check(imr_config_set_u64(config, IMR_CONFIG_RATE_LIMIT_BURST, 0), "config");
    check(imr_server_new(config, &p->server), "server");
    imr_config_free(config);
    check(imr_server_add_token(p->server, "bench-token", "alice", 0), "token");
    check(imr_server_create_conversation(p->server, "bench", members, 1), "conversation");

    check(imr_config_new(&config), "config");
    check(imr_config_set_u64(config, IMR_CONFIG_NODE_ID, 1), "config");
    check(imr_config_set_u64(config, IMR_CONFIG_SEED, 1), "config");
    check(imr_config_set_string(config, IMR_CONFIG_TOKEN, "bench-token"), "config");
    check(imr_client_new(config, &p->client), "client");
    imr_config_free(config);

    p->now = 1000;
    check(imr_server_open_session(p->server, &p->session, p->now), "session");
    check(imr_client_connected(p->client, p->now), "connected");
    pump(p);
}

static double run(int cycles) {
    pair p;
    uint8_t payload[100], id[16];
    memset(payload, 'x', sizeof payload);
    setup(&p);
    double start = seconds();
    for (int i = 0; i < cycles; i++) {
        p.now++;
        check(imr_client_send(p.client, "bench", payload, sizeof payload, id, p.now), "send");
        pump(&p);
    }
    double elapsed = seconds() - start;
    /* Every message ended sent. */
    imr_outbox_entry entry;
    if (imr_client_outbox(p.client, &entry, 1) < 1 || entry.state != IMR_STATE_SENT) {
        fprintf(stderr, "send_ack: the last message is not sent\n");
        exit(1);
    }
    imr_client_free(p.client);
    imr_server_free(p.server);
    return elapsed / cycles * 1e6;
}

int main(int argc, char **argv) {
    int cycles = argc > 1 ? atoi(argv[1]) : 20000;
    int runs = argc > 2 ? atoi(argv[2]) : 7;
    if (cycles < 1 || runs < 1 || runs > 101) {
        fprintf(stderr, "usage: send_ack [CYCLES] [RUNS<=101]\n");
        return 2;
    }
    double us[101];
    run(cycles / 10 + 1); /* warm-up */
    for (int r = 0; r < runs; r++) us[r] = run(cycles);
    qsort(us, (size_t)runs, sizeof us[0], compare);
    double median = us[runs / 2];
    printf("C send->ack cycle: median %.3f us (%d runs of %d cycles; min %.3f, max %.3f)\n", median, runs, cycles,
           us[0], us[runs - 1]);
    printf("{\"c_send_ack_us\": %.4f}\n", median);
    return 0;
}
