/* A fuzz input read as a stream of choices; past its end every read gives zero, so any
 * input is a complete script. */
#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t at;
} input;

static inline uint8_t in_byte(input *in) { return in->at < in->size ? in->data[in->at++] : 0; }

static inline int in_done(const input *in) { return in->at >= in->size; }

static inline uint64_t in_raw64(input *in) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | in_byte(in);
    return v;
}

/* A 64-bit number biased toward small values and the edges of the integer types. */
static inline uint64_t in_u64(input *in) {
    static const uint64_t edges[] = {0, 1, 0xFFFFFFFFull, 0x7FFFFFFFFFFFFFFFull, 0x8000000000000000ull,
                                     0xFFFFFFFFFFFFFFFEull, 0xFFFFFFFFFFFFFFFFull, 4611686018427387904ull,
                                     4611686018427387905ull};
    switch (in_byte(in) % 8) {
    case 0: case 1: case 2: return in_byte(in);
    case 3: return (uint64_t)in_byte(in) << 8 | in_byte(in);
    case 4: return edges[in_byte(in) % (sizeof edges / sizeof edges[0])];
    default: return in_raw64(in);
    }
}

/* Up to `max` bytes of the input, borrowed in place (a length byte, then the bytes). */
static inline const uint8_t *in_bytes(input *in, size_t max, size_t *len) {
    size_t n = in_byte(in) % (max + 1);
    if (n > in->size - in->at) n = in->size - in->at;
    const uint8_t *p = in->data + in->at;
    in->at += n;
    *len = n;
    return p;
}

#endif
