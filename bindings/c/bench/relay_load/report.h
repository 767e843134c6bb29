/* Totals of a run and its JSON result line. */
#ifndef REPORT_H
#define REPORT_H

#include "load.h"

#include <stdio.h>

typedef struct {
    uint64_t acks, deliveries, duplicates, errors;
    uint64_t last_ack_ns, last_delivery_ns;
    samples ack_us, delivery_us;
} totals;

/* The measured interval and what the processes spent in it. */
typedef struct {
    uint64_t start_ns, end_ns;
    double server_cpu_s, client_cpu_s;
    uint64_t server_peak_rss_kib;
} load_window;

double process_cpu_seconds(void);
void totals_collect(run *r, totals *t);
void totals_free(totals *t);
void print_load_result(FILE *out, const run *r, totals *t, const load_window *w, int publishers, int subscribers);

#endif
