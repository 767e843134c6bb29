/*
 * relay_load — the load generator of `make bench-relay` (bindings/tools/bench_relay.py
 * starts the servers and runs it once per server and scenario).
 *
 *   relay_load --system relay|nats|mqtt --port PORT [--host 127.0.0.1] [--server-pid PID]
 *              [--scenario load|idle|catchup] [--subject bench] [--messages N]
 *              [--publishers 4] [--subscribers 4] [--window 16] [--payload 100]
 *              [--connections 5000] [--devices 200] [--threads T]
 *
 * load: publishers and subscribers on one conversation (relay), subject (NATS JetStream)
 * or topic (mosquitto); idle: connections that authenticate and wait; catchup: devices
 * that reconnect at once after missing the messages (the relay). With --server-pid, the
 * server's CPU time and memory are read from /proc. Progress goes to stderr; the result is
 * one JSON object on stdout.
 */
#include "scenarios.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void usage(void) {
    fprintf(stderr, "usage: relay_load --system relay|nats|mqtt --port PORT [--scenario load|idle|catchup] ...\n"
                    "       (options: see the comment at the top of main.c)\n");
    exit(2);
}

/* Thousands of sockets: the soft descriptor limit goes up to the hard one. */
static void raise_fd_limit(void) {
    struct rlimit l;
    if (getrlimit(RLIMIT_NOFILE, &l) == 0 && l.rlim_cur < l.rlim_max) {
        l.rlim_cur = l.rlim_max;
        setrlimit(RLIMIT_NOFILE, &l);
    }
}

int main(int argc, char **argv) {
    run r;
    const char *system = NULL, *scenario = "load";
    int publishers = 4, subscribers = 4, connections = 5000, devices = 200, threads = 0;
    memset(&r, 0, sizeof r);
    r.host = "127.0.0.1";
    r.subject = "bench";
    r.messages = 500000;
    r.window = 16;
    r.payload_bytes = 100;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (strcmp(a, "--system") == 0) system = v;
        else if (strcmp(a, "--host") == 0) r.host = v;
        else if (strcmp(a, "--port") == 0) r.port = v;
        else if (strcmp(a, "--server-pid") == 0) r.server_pid = atoi(v);
        else if (strcmp(a, "--scenario") == 0) scenario = v;
        else if (strcmp(a, "--subject") == 0) r.subject = v;
        else if (strcmp(a, "--messages") == 0) r.messages = strtoull(v, NULL, 10);
        else if (strcmp(a, "--publishers") == 0) publishers = atoi(v);
        else if (strcmp(a, "--subscribers") == 0) subscribers = atoi(v);
        else if (strcmp(a, "--window") == 0) r.window = atoi(v);
        else if (strcmp(a, "--payload") == 0) r.payload_bytes = (size_t)atol(v);
        else if (strcmp(a, "--connections") == 0) connections = atoi(v);
        else if (strcmp(a, "--devices") == 0) devices = atoi(v);
        else if (strcmp(a, "--threads") == 0) threads = atoi(v);
        else usage();
        i++;
    }
    if (!system || !r.port) usage();
    if (strcmp(system, "relay") == 0) r.ops = &relay_ops;
    else if (strcmp(system, "nats") == 0) r.ops = &nats_ops;
    else if (strcmp(system, "mqtt") == 0) r.ops = &mqtt_ops;
    else usage();
    if (r.window < 1 || r.window > MAX_WINDOW || r.payload_bytes < PAYLOAD_HEADER || r.payload_bytes > 4096 ||
        r.messages < 1 || publishers < 1 || subscribers < 0 || connections < 1 || devices < 1) {
        fprintf(stderr, "relay_load: window 1..%d, payload %d..4096 bytes, at least one message and publisher\n",
                MAX_WINDOW, PAYLOAD_HEADER);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    int rc;
    if (strcmp(scenario, "load") == 0) {
        /* A thread per connection up to 8 (like as many client processes), then 4 in all. */
        int n = publishers + subscribers;
        rc = scenario_load(&r, publishers, subscribers, threads ? threads : n <= 8 ? n : 4);
    } else if (strcmp(scenario, "idle") == 0) {
        rc = scenario_idle(&r, connections, threads ? threads : 2);
    } else if (strcmp(scenario, "catchup") == 0) {
        rc = scenario_catchup(&r, devices, threads ? threads : 2);
    } else {
        usage();
        rc = 2;
    }
    conns_free(&r);
    return rc;
}
