/* The load: publishers each keep `window` messages unacked until the run's messages are
 * all acked, while every subscriber must receive each message exactly once. Measured from
 * the first send to the last ack (acks/s) and to the last delivery (deliveries/s). */
#include "report.h"
#include "scenarios.h"

#include <stdio.h>

#define STALL_MS 20000 /* no progress for this long ends the run: what is missing is lost */

int scenario_load(run *r, int publishers, int subscribers, int threads) {
    conns_init(r, publishers + subscribers);
    for (int i = 0; i < publishers; i++) {
        conn *c = &r->conns[i];
        conn_setup(c, ROLE_PUBLISHER, "pub", i);
        c->next_id = (uint64_t)i;
        c->stride = (uint64_t)publishers;
    }
    for (int i = 0; i < subscribers; i++) conn_setup(&r->conns[publishers + i], ROLE_SUBSCRIBER, "sub", i);
    if (r->ops->prepare && r->ops->prepare(r) != 0) {
        fprintf(stderr, "relay_load: %s: setting up the server failed\n", r->ops->name);
        return 1;
    }

    workers *w = workers_start(r, threads, 32);
    uint64_t until = now_ms() + 120000;
    while (atomic_load(&r->ready) < r->n_conns && now_ms() < until) sleep_ms(5);
    if (atomic_load(&r->ready) < r->n_conns) {
        workers_stop(w);
        fprintf(stderr, "relay_load: %s: %d of %d connections ready\n", r->ops->name, atomic_load(&r->ready),
                r->n_conns);
        return 1;
    }
    fprintf(stderr, "relay_load: %s: %d connections ready, sending %llu messages\n", r->ops->name, r->n_conns,
            (unsigned long long)r->messages);

    load_window lw = {0};
    lw.server_cpu_s = r->server_pid ? proc_cpu_seconds(r->server_pid) : -1;
    lw.client_cpu_s = process_cpu_seconds();
    lw.start_ns = now_ns();
    atomic_store(&r->go, 1);

    uint64_t want_deliveries = r->messages * (uint64_t)subscribers;
    uint64_t progress = 0, progress_at = now_ms();
    for (;;) {
        uint64_t acks = atomic_load(&r->acks), deliveries = atomic_load(&r->deliveries);
        if (acks >= r->messages && deliveries >= want_deliveries) break;
        if (acks + deliveries != progress) {
            progress = acks + deliveries;
            progress_at = now_ms();
        } else if (now_ms() - progress_at > STALL_MS) {
            fprintf(stderr, "relay_load: %s: no progress for %d s (%llu acks, %llu deliveries)\n", r->ops->name,
                    STALL_MS / 1000, (unsigned long long)acks, (unsigned long long)deliveries);
            break;
        }
        sleep_ms(2);
    }
    lw.end_ns = now_ns();
    if (r->server_pid) {
        lw.server_cpu_s = proc_cpu_seconds(r->server_pid) - lw.server_cpu_s;
        lw.server_peak_rss_kib = proc_status_kib(r->server_pid, "VmHWM");
    }
    lw.client_cpu_s = process_cpu_seconds() - lw.client_cpu_s;
    workers_stop(w);

    totals t;
    totals_collect(r, &t);
    print_load_result(stdout, r, &t, &lw, publishers, subscribers);
    totals_free(&t);
    return 0;
}
