/* Idle connections: open `connections`, each authenticated (relay: welcomed; NATS: PONG
 * after CONNECT; MQTT: CONNACK), and weigh the server's resident memory before and after. */
#include "report.h"
#include "scenarios.h"

#include <stdio.h>

#define SETTLE_MS 1000 /* the server's allocations of the last connections land */

int scenario_idle(run *r, int connections, int threads) {
    conns_init(r, connections);
    for (int i = 0; i < connections; i++) conn_setup(&r->conns[i], ROLE_IDLE, "idle", i);
    uint64_t before = proc_status_kib(r->server_pid, "VmRSS");
    uint64_t start = now_ns();
    workers *w = workers_start(r, threads, 64);
    uint64_t until = now_ms() + 300000;
    while (atomic_load(&r->ready) < connections && now_ms() < until && atomic_load(&r->errors) == 0) sleep_ms(5);
    int ready = atomic_load(&r->ready);
    double open_s = (double)(now_ns() - start) / 1e9;
    sleep_ms(SETTLE_MS);
    uint64_t after = proc_status_kib(r->server_pid, "VmRSS");
    workers_stop(w);
    if (ready < connections) {
        fprintf(stderr, "relay_load: %s: %d of %d idle connections ready\n", r->ops->name, ready, connections);
        return 1;
    }
    printf("{\"system\": \"%s\", \"scenario\": \"idle\", \"connections\": %d, \"rss_before_kib\": %llu, "
           "\"rss_after_kib\": %llu, \"kib_per_connection\": %.3f, \"open_seconds\": %.3f, \"errors\": %llu}\n",
           r->ops->name, connections, (unsigned long long)before, (unsigned long long)after,
           after > before ? (double)(after - before) / connections : 0.0, open_s,
           (unsigned long long)atomic_load(&r->errors));
    fflush(stdout);
    return 0;
}
