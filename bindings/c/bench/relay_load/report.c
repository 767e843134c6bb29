/* The figures of a run, summed over its connections, printed as one JSON object. */
#include "report.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

double process_cpu_seconds(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_utime.tv_sec + (double)u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

void totals_collect(run *r, totals *t) {
    memset(t, 0, sizeof *t);
    for (int i = 0; i < r->n_conns; i++) {
        conn_stats *s = &r->conns[i].stats;
        t->acks += s->acks;
        t->deliveries += s->deliveries;
        t->duplicates += s->duplicates;
        t->errors += s->errors;
        if (s->last_ack_ns > t->last_ack_ns) t->last_ack_ns = s->last_ack_ns;
        if (s->last_delivery_ns > t->last_delivery_ns) t->last_delivery_ns = s->last_delivery_ns;
        samples_merge(&t->ack_us, &s->ack_us);
        samples_merge(&t->delivery_us, &s->delivery_us);
    }
}

void totals_free(totals *t) {
    samples_free(&t->ack_us);
    samples_free(&t->delivery_us);
}

static double per_second(uint64_t count, uint64_t start_ns, uint64_t end_ns) {
    return end_ns > start_ns ? (double)count / ((double)(end_ns - start_ns) / 1e9) : 0;
}

void print_load_result(FILE *out, const run *r, totals *t, const load_window *w, int publishers, int subscribers) {
    uint64_t expected = r->messages * (uint64_t)subscribers;
    uint64_t messages = r->messages;
    fprintf(out,
            "{\"system\": \"%s\", \"scenario\": \"load\", \"publishers\": %d, \"subscribers\": %d, \"window\": %d, "
            "\"payload_bytes\": %zu, \"messages\": %llu, \"acks\": %llu, \"acks_per_s\": %.1f, "
            "\"deliveries\": %llu, \"deliveries_per_s\": %.1f, \"ack_p50_ms\": %.3f, \"ack_p99_ms\": %.3f, "
            "\"delivery_p50_ms\": %.3f, \"delivery_p99_ms\": %.3f, \"lost\": %llu, \"duplicated\": %llu, "
            "\"errors\": %llu, \"server_cpu_us_per_msg\": %.2f, \"client_cpu_us_per_msg\": %.2f, "
            "\"server_peak_rss_kib\": %llu, \"seconds\": %.3f}\n",
            r->ops->name, publishers, subscribers, r->window, r->payload_bytes, (unsigned long long)messages,
            (unsigned long long)t->acks, per_second(t->acks, w->start_ns, t->last_ack_ns),
            (unsigned long long)t->deliveries, per_second(t->deliveries, w->start_ns, t->last_delivery_ns),
            samples_percentile_ms(&t->ack_us, 0.50), samples_percentile_ms(&t->ack_us, 0.99),
            samples_percentile_ms(&t->delivery_us, 0.50), samples_percentile_ms(&t->delivery_us, 0.99),
            (unsigned long long)(expected > t->deliveries ? expected - t->deliveries : 0),
            (unsigned long long)t->duplicates, (unsigned long long)t->errors,
            w->server_cpu_s >= 0 ? w->server_cpu_s / (double)messages * 1e6 : -1,
            w->client_cpu_s / (double)messages * 1e6, (unsigned long long)w->server_peak_rss_kib,
            (double)(w->end_ns - w->start_ns) / 1e9);
    fflush(out);
}
