/* Latency samples in microseconds, kept whole: percentiles are exact. */
#include "load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void samples_add(samples *s, uint32_t v) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint32_t *grown = realloc(s->v, cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "relay_load: out of memory\n");
            exit(1);
        }
        s->v = grown;
        s->cap = cap;
    }
    s->v[s->n++] = v;
}

void samples_free(samples *s) {
    free(s->v);
    memset(s, 0, sizeof *s);
}

void samples_merge(samples *into, const samples *from) {
    for (size_t i = 0; i < from->n; i++) samples_add(into, from->v[i]);
}

static int compare_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile (0 < p < 1) in milliseconds, nearest rank; -1 with no samples. */
double samples_percentile_ms(samples *s, double p) {
    if (s->n == 0) return -1;
    qsort(s->v, s->n, sizeof s->v[0], compare_u32);
    size_t rank = (size_t)(p * (double)s->n);
    if (rank >= s->n) rank = s->n - 1;
    return s->v[rank] / 1000.0;
}
