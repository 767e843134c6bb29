#ifndef IMR_ARENA_H
#define IMR_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The bump state of the codec's arena (Sources/IMRCore/Wire/Arena.swift, which owns the
   block), and protobuf-c's allocator hooks over it. The hooks are C so that protobuf-c,
   which allocates every field of a frame it unpacks, calls straight into them: through a
   Swift closure each allocation went through a thunk. */
typedef struct imr_arena_state {
    void *block;
    size_t offset;
    size_t capacity;
    /* Called when the block is full; returns `size` bytes aligned to 16 that stay valid until
       the arena is reset. */
    void *(*overflow)(void *owner, size_t size);
    void *owner;
} imr_arena_state;

/* Bytes before each block the hook hands out, holding the size asked for (keeps 16-byte
   alignment): a string field of n bytes is allocated as n + 1, so the decoder learns the
   real length of a string with NULs inside. */
#define IMR_ARENA_SIZE_HEADER 16

/* No frame asks for this much; refusing keeps the sums below in range (protobuf-c fails
   the unpack cleanly on NULL). */
#define IMR_ARENA_MAX_REQUEST ((size_t)PTRDIFF_MAX / 2)

/* The block is full (or the request absurd): a block of its own from the owner. */
__attribute__((noinline)) static void *imr_arena_alloc_slow(imr_arena_state *s, size_t size) {
    unsigned char *p;
    if (size > IMR_ARENA_MAX_REQUEST) return NULL;
    p = (unsigned char *)s->overflow(s->owner, size + IMR_ARENA_SIZE_HEADER);
    if (p == NULL) return NULL;
    memcpy(p, &size, sizeof size);
    return p + IMR_ARENA_SIZE_HEADER;
}

static inline void *imr_arena_alloc(void *data, size_t size) {
    imr_arena_state *s = (imr_arena_state *)data;
    /* The offset never passes the capacity, so with a bounded request the sum cannot wrap. */
    size_t aligned = (s->offset + 15) & ~(size_t)15;
    size_t end = aligned + IMR_ARENA_SIZE_HEADER + size;
    if (size <= IMR_ARENA_MAX_REQUEST && end <= s->capacity) {
        unsigned char *p = (unsigned char *)s->block + aligned;
        s->offset = end;
        memcpy(p, &size, sizeof size);
        return p + IMR_ARENA_SIZE_HEADER;
    }
    return imr_arena_alloc_slow(s, size);
}

/* Frees nothing: the arena is reset as a whole after each frame. */
static inline void imr_arena_free(void *data, void *pointer) {
    (void)data;
    (void)pointer;
}

#endif
