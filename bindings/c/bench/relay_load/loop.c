/* The poll loop: every connection of a set, its socket, its timer; publishers refilled
 * before each wait. Worker threads each run one over their share of the connections. */
#include "load.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Opens connections not yet opened, at most max_opening waiting for their handshake at
 * once: servers refuse (or queue) floods of new connections, and that is not measured. */
static void open_more(conn **cs, int n, int max_opening) {
    int opening = 0;
    for (int i = 0; i < n; i++) opening += cs[i]->opened && !cs[i]->ready;
    for (int i = 0; i < n && opening < max_opening; i++) {
        if (cs[i]->opened) continue;
        cs[i]->opened = 1;
        cs[i]->run->ops->open(cs[i]);
        opening++;
    }
}

static struct pollfd *new_fds(int n) {
    struct pollfd *fds = calloc((size_t)(n > 0 ? n : 1), sizeof *fds);
    if (!fds) {
        fprintf(stderr, "relay_load: out of memory\n");
        exit(1);
    }
    return fds;
}

/* fds: room for n entries. */
void loop_once(run *r, conn **cs, struct pollfd *fds, int n, int max_wait_ms, int max_opening) {
    const system_ops *ops = r->ops;
    if (max_opening > 0) open_more(cs, n, max_opening);
    int go = atomic_load(&r->go);
    uint64_t now = now_ms();
    int timeout = max_wait_ms;
    for (int i = 0; i < n; i++) {
        conn *c = cs[i];
        if (go && c->role == ROLE_PUBLISHER && c->fd >= 0) publisher_fill(c);
        fds[i].fd = c->fd;
        fds[i].events = c->fd >= 0 ? ops->poll_events(c) : 0;
        fds[i].revents = 0;
        uint64_t deadline = c->fd >= 0 ? ops->deadline_ms(c) : 0;
        if (deadline) {
            int until = deadline <= now ? 0 : (int)(deadline - now);
            if (until < timeout) timeout = until;
        }
    }
    if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR) {
        perror("relay_load: poll");
        exit(1);
    }
    for (int i = 0; i < n; i++) {
        if (fds[i].revents && cs[i]->fd >= 0) ops->handle_io(cs[i], fds[i].revents);
    }
    now = now_ms();
    for (int i = 0; i < n; i++) {
        conn *c = cs[i];
        uint64_t deadline = c->fd >= 0 ? ops->deadline_ms(c) : 0;
        if (deadline && deadline <= now) ops->handle_timer(c);
    }
}

/* Runs the loop on this thread until `want` connections of the run are ready. */
int loop_until_ready(run *r, conn **cs, int n, int want, uint64_t timeout_ms, int max_opening) {
    uint64_t until = now_ms() + timeout_ms;
    struct pollfd *fds = new_fds(n);
    int rc = 0;
    while (atomic_load(&r->ready) < want && rc == 0) {
        if (now_ms() > until) rc = -1;
        else loop_once(r, cs, fds, n, 20, max_opening);
    }
    free(fds);
    return rc;
}

struct workers {
    run *run;
    int threads, max_opening;
    conn ***sets;
    int *sizes;
    pthread_t *ids;
};

typedef struct {
    workers *w;
    int k;
} worker_arg;

static void *worker_main(void *p) {
    worker_arg *a = p;
    workers *w = a->w;
    int n = w->sizes[a->k];
    struct pollfd *fds = new_fds(n);
    while (!atomic_load(&w->run->stop)) loop_once(w->run, w->sets[a->k], fds, n, 20, w->max_opening);
    free(fds);
    free(a);
    return NULL;
}

/* Publishers and the others get separate threads, in proportion to their numbers (at
 * least one for publishers): a lone publisher does not wait behind a thousand readers. */
static int threads_for_publishers(run *r, int threads) {
    int publishers = 0;
    for (int k = 0; k < r->n_conns; k++) publishers += r->conns[k].role == ROLE_PUBLISHER;
    if (publishers == 0 || threads == 1) return 0;
    if (publishers == r->n_conns) return threads;
    int n = threads * publishers / r->n_conns;
    if (n < 1) n = 1;
    if (n > threads - 1) n = threads - 1;
    return n;
}

workers *workers_start(run *r, int threads, int max_opening) {
    workers *w = calloc(1, sizeof *w);
    if (threads > r->n_conns) threads = r->n_conns;
    w->run = r;
    w->threads = threads;
    w->max_opening = max_opening;
    w->sets = calloc((size_t)threads, sizeof *w->sets);
    w->sizes = calloc((size_t)threads, sizeof *w->sizes);
    w->ids = calloc((size_t)threads, sizeof *w->ids);
    for (int k = 0; k < threads; k++) w->sets[k] = calloc((size_t)r->n_conns, sizeof(conn *));
    int for_publishers = threads_for_publishers(r, threads), publishers = 0, others = 0;
    for (int i = 0; i < r->n_conns; i++) {
        int k = r->conns[i].role == ROLE_PUBLISHER && for_publishers ? publishers++ % for_publishers
                                                   : for_publishers + others++ % (threads - for_publishers);
        w->sets[k][w->sizes[k]++] = &r->conns[i];
    }
    atomic_store(&r->stop, 0);
    for (int k = 0; k < threads; k++) {
        worker_arg *a = malloc(sizeof *a);
        a->w = w;
        a->k = k;
        if (pthread_create(&w->ids[k], NULL, worker_main, a) != 0) {
            fprintf(stderr, "relay_load: cannot start a thread\n");
            exit(1);
        }
    }
    return w;
}

void workers_stop(workers *w) {
    atomic_store(&w->run->stop, 1);
    for (int k = 0; k < w->threads; k++) pthread_join(w->ids[k], NULL);
    for (int k = 0; k < w->threads; k++) free(w->sets[k]);
    free(w->sets);
    free(w->sizes);
    free(w->ids);
    free(w);
}

void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}
