#ifndef IMR_CACHE_HINTS_H
#define IMR_CACHE_HINTS_H

/* Hints Swift has no spelling for. Header-only: nothing to link. */

/* Starts loading the cache line at `address` for a read soon, without waiting for it
   (a lookup in a table larger than the cache otherwise stalls on its first probe). */
static inline void imr_prefetch_for_read(const void *address) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(address, 0, 3);
#else
    (void)address;
#endif
}

/* Starts loading the cache line at `address` to be written soon (an append that runs
   through fresh memory otherwise waits for each new line). */
static inline void imr_prefetch_for_write(const void *address) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(address, 1, 3);
#else
    (void)address;
#endif
}

#endif
