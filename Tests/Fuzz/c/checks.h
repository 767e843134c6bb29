/* What every call of the C ABI promises, checked from outside: a known return code and a
 * message for it, out-parameters untouched on failure, caller buffers written only within
 * their capacity, and borrowed pointers readable for their full length. A broken promise
 * aborts: libFuzzer keeps the input as the reproducer. */
#ifndef FUZZ_CHECKS_H
#define FUZZ_CHECKS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imr.h"

#define REQUIRE(cond, ...)                                                   \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "invariant broken at %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                    \
            fprintf(stderr, "\n");                                           \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* A result: a documented error code (each with a message), or a value >= 0. */
static inline int64_t check_rc(int64_t rc, const char *call) {
    REQUIRE(rc >= 0 || (rc >= IMR_ERR_PROTOCOL && rc <= IMR_ERR_NULL), "%s returned %lld", call, (long long)rc);
    REQUIRE(imr_strerror((int)rc) != NULL, "imr_strerror(%lld) is NULL", (long long)rc);
    return rc;
}

/* Every byte of a borrowed region is readable (AddressSanitizer checks the reads). */
static inline void touch(const void *p, size_t n, const char *what) {
    REQUIRE(n == 0 || p != NULL, "%s: NULL with %zu bytes", what, n);
    const volatile uint8_t *b = p;
    for (size_t i = 0; i < n; i++) (void)b[i];
}

/* A borrowed string: readable and NUL-terminated at its length. */
static inline void touch_string(const char *s, size_t n, const char *what) {
    if (s == NULL) { REQUIRE(n == 0, "%s: NULL with length %zu", what, n); return; }
    touch(s, n + 1, what);
    REQUIRE(s[n] == 0, "%s: not NUL-terminated at its length %zu", what, n);
}

static inline void touch_event(const imr_event *e) {
    touch_string(e->conversation, e->conversation_len, "event conversation");
    touch_string(e->user, e->user_len, "event user");
    touch_string(e->detail, e->detail_len, "event detail");
    touch(e->payload, e->payload_len, "event payload");
    touch(e->clock, e->clock_len, "event clock");
    for (int i = 0; i < 4; i++) REQUIRE(e->reserved[i] == 0, "event reserved[%d] is %llu", i, (unsigned long long)e->reserved[i]);
}

/* Guard bytes after a caller buffer: the library must not write past its capacity. */
#define GUARD 32
static inline uint8_t *guarded(size_t size) {
    uint8_t *p = malloc(size + GUARD);
    memset(p, 0xA5, size + GUARD);
    return p;
}
static inline void check_guard(const uint8_t *p, size_t size, const char *what) {
    for (size_t i = 0; i < GUARD; i++) REQUIRE(p[size + i] == 0xA5, "%s: written past its capacity of %zu bytes", what, size);
}

#endif
