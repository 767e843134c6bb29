/* imrctl bench only: the protobuf-c baselines of the codec and client figures. Not part of libimr's ABI,
 * hence the imrbench_ prefix (imr_ is the ABI's). */
#ifndef IMRBENCH_H
#define IMRBENCH_H

#include <stddef.h>
#include <stdint.h>

/* The fields of a send frame, as plain C values. */
typedef struct imrbench_send {
    const char *conversation;          /* NUL-terminated UTF-8 */
    const uint8_t *message_id;         /* 16 bytes */
    const uint64_t *clock_nodes;       /* clock_count entries, sorted by node */
    const uint64_t *clock_counters;
    size_t clock_count;
    const uint8_t *payload;
    size_t payload_len;
} imrbench_send;

/* Packs the send frame (version 1) through protobuf-c into out; returns the packed size, or 0
 * if it does not fit in capacity. */
size_t imrbench_pack_send(const imrbench_send *send, uint8_t *out, size_t capacity);

/* Runs iterations round trips of the send frame through protobuf-c directly on C structs:
 * the structs are built once; each round trip packs into a reused buffer, unpacks with
 * protobuf-c's default allocator, reads the fields back and frees the unpacked message.
 * Returns a checksum of what was read (so the work cannot be optimised away), 0 on failure. */
uint64_t imrbench_protobuf_c_roundtrips(const imrbench_send *send, uint64_t iterations);

/* The protobuf-c share of one client send->ack cycle, alone: the send frame's body (given
 * encoded; it is unpacked once into C structs) is packed into a reused buffer and the ack
 * frame's body unpacked (into a bump allocator reset per frame, as FrameCodec's arena),
 * iterations times. Bodies only: FrameCodec writes and reads the envelope (version, body tag
 * and length) itself. Returns a checksum, 0 on failure. */
uint64_t imrbench_protobuf_c_send_ack(const uint8_t *send, size_t send_len, const uint8_t *ack, size_t ack_len,
                                      uint64_t iterations);

/* The protobuf-c share of handling one push, alone: the push frame's body unpacked into a bump
 * allocator reset per frame, iterations times. Returns a checksum, 0 on failure. */
uint64_t imrbench_protobuf_c_push(const uint8_t *push, size_t push_len, uint64_t iterations);

#endif
