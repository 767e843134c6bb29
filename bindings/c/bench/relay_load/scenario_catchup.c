/* Catch-up (the relay): `devices` devices connect and go offline; one publisher sends the
 * run's messages; then every device reconnects at once. Measured: from the reconnects to
 * the moment the last device holds every message (each exactly once). */
#include "report.h"
#include "scenarios.h"

#include <poll.h>
#include <stdio.h>

#define STALL_MS 20000

static int wait_ready(run *r, int want, int threads, int max_opening) {
    workers *w = workers_start(r, threads, max_opening);
    uint64_t until = now_ms() + 120000;
    while (atomic_load(&r->ready) < want && now_ms() < until) sleep_ms(5);
    workers_stop(w);
    return atomic_load(&r->ready) >= want ? 0 : -1;
}

int scenario_catchup(run *r, int devices, int threads) {
    conns_init(r, devices + 1);
    conn *publisher = &r->conns[0];
    conn_setup(publisher, ROLE_PUBLISHER, "pub", 0);
    publisher->stride = 1;
    for (int i = 0; i < devices; i++) conn_setup(&r->conns[1 + i], ROLE_SUBSCRIBER, "dev", i);
    if (wait_ready(r, devices + 1, threads, 64) != 0) {
        fprintf(stderr, "relay_load: catch-up: devices not ready\n");
        return 1;
    }
    for (int i = 1; i <= devices; i++) r->ops->disconnect(&r->conns[i]);

    /* The messages the devices miss, sent and acked while they are away. */
    atomic_store(&r->go, 1);
    uint64_t until = now_ms() + 120000;
    struct pollfd fd;
    while (atomic_load(&r->acks) < r->messages && now_ms() < until) loop_once(r, &publisher, &fd, 1, 20, 0);
    atomic_store(&r->go, 0);
    if (atomic_load(&r->acks) < r->messages) {
        fprintf(stderr, "relay_load: catch-up: the publisher's messages were not all acked\n");
        return 1;
    }

    uint64_t start = now_ns();
    for (int i = 1; i <= devices; i++) r->ops->open(&r->conns[i]);
    workers *w = workers_start(r, threads, 0);
    uint64_t want = r->messages * (uint64_t)devices, progress = 0, progress_at = now_ms();
    for (;;) {
        uint64_t got = atomic_load(&r->deliveries);
        if (got >= want) break;
        if (got != progress) {
            progress = got;
            progress_at = now_ms();
        } else if (now_ms() - progress_at > STALL_MS) {
            fprintf(stderr, "relay_load: catch-up: no progress for %d s\n", STALL_MS / 1000);
            break;
        }
        sleep_ms(1);
    }
    workers_stop(w);

    totals t;
    totals_collect(r, &t);
    printf("{\"system\": \"%s\", \"scenario\": \"catchup\", \"devices\": %d, \"missed\": %llu, "
           "\"catchup_s\": %.3f, \"lost\": %llu, \"duplicated\": %llu, \"errors\": %llu}\n",
           r->ops->name, devices, (unsigned long long)r->messages,
           t.last_delivery_ns > start ? (double)(t.last_delivery_ns - start) / 1e9 : -1,
           (unsigned long long)(want - t.deliveries),
           (unsigned long long)t.duplicates, (unsigned long long)t.errors);
    fflush(stdout);
    totals_free(&t);
    return 0;
}
