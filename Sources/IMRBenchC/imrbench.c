#include "imrbench.h"

#include <string.h>

#include "imr.pb-c.h"

#define IMRBENCH_MAX_CLOCK 64

typedef struct {
    Imrpb__Frame frame;
    Imrpb__Send body;
    Imrpb__VectorClock clock;
    uint64_t nodes[IMRBENCH_MAX_CLOCK];
    uint64_t counters[IMRBENCH_MAX_CLOCK];
} imrbench_structs;

static int build(const imrbench_send *send, imrbench_structs *s) {
    if (send->clock_count > IMRBENCH_MAX_CLOCK) return 0;
    imrpb__frame__init(&s->frame);
    imrpb__send__init(&s->body);
    imrpb__vector_clock__init(&s->clock);
    for (size_t i = 0; i < send->clock_count; i++) {
        s->nodes[i] = send->clock_nodes[i];
        s->counters[i] = send->clock_counters[i];
    }
    s->clock.n_nodes = send->clock_count;
    s->clock.nodes = s->nodes;
    s->clock.n_counters = send->clock_count;
    s->clock.counters = s->counters;
    s->body.conversation = (char *)send->conversation;
    s->body.message_id.len = 16;
    s->body.message_id.data = (uint8_t *)send->message_id;
    s->body.clock = send->clock_count > 0 ? &s->clock : NULL;
    s->body.payload.len = send->payload_len;
    s->body.payload.data = (uint8_t *)send->payload;
    s->frame.version = 1;
    s->frame.body_case = IMRPB__FRAME__BODY_SEND;
    s->frame.send = &s->body;
    return 1;
}

size_t imrbench_pack_send(const imrbench_send *send, uint8_t *out, size_t capacity) {
    imrbench_structs s;
    if (!build(send, &s)) return 0;
    size_t size = imrpb__frame__get_packed_size(&s.frame);
    if (size > capacity) return 0;
    return imrpb__frame__pack(&s.frame, out);
}

uint64_t imrbench_protobuf_c_roundtrips(const imrbench_send *send, uint64_t iterations) {
    imrbench_structs s;
    if (!build(send, &s)) return 0;
    uint8_t buffer[4096];
    uint64_t checksum = 0;
    for (uint64_t n = 0; n < iterations; n++) {
        size_t size = imrpb__frame__get_packed_size(&s.frame);
        if (size > sizeof buffer) return 0;
        size_t packed = imrpb__frame__pack(&s.frame, buffer);
        Imrpb__Frame *back = imrpb__frame__unpack(NULL, packed, buffer);
        if (back == NULL || back->body_case != IMRPB__FRAME__BODY_SEND) return 0;
        const Imrpb__Send *b = back->send;
        checksum += packed + strlen(b->conversation) + b->message_id.len + b->payload.len + b->payload.data[0];
        if (b->clock != NULL) {
            for (size_t i = 0; i < b->clock->n_counters; i++) checksum += b->clock->counters[i];
        }
        imrpb__frame__free_unpacked(back, NULL);
    }
    return checksum;
}

/* A bump allocator reset per frame, as FrameCodec's arena: the floor counts protobuf-c's
 * parsing, not malloc. */
typedef struct {
    _Alignas(16) uint8_t block[16384];
    size_t used;
} bump_arena;

static void *bump_alloc(void *data, size_t size) {
    bump_arena *a = data;
    size_t at = (a->used + 15) & ~(size_t)15;
    if (at > sizeof a->block || size > sizeof a->block - at) return NULL;
    a->used = at + size;
    return a->block + at;
}

static void bump_free(void *data, void *p) {
    (void)data;
    (void)p;
}

/* The body of a frame of the usual envelope shape (08 <version>, then one body field running
 * to the end, as FrameCodec writes it): the bytes protobuf-c parses. 0 for another shape. */
static int body_of(const uint8_t *frame, size_t len, const uint8_t **body, size_t *body_len) {
    size_t at = 3;
    if (len < 4 || frame[0] != 0x08 || frame[1] >= 0x80) return 0;
    if (frame[2] >= 0x80) at++;
    size_t length = 0;
    for (unsigned shift = 0; at < len && shift <= 28; shift += 7) {
        uint8_t b = frame[at++];
        length |= (size_t)(b & 0x7F) << shift;
        if (b < 0x80) {
            if (length != len - at) return 0;
            *body = frame + at;
            *body_len = length;
            return 1;
        }
    }
    return 0;
}

uint64_t imrbench_protobuf_c_send_ack(const uint8_t *send, size_t send_len, const uint8_t *ack, size_t ack_len,
                                      uint64_t iterations) {
    Imrpb__Frame *structs = imrpb__frame__unpack(NULL, send_len, send);
    if (structs == NULL || structs->body_case != IMRPB__FRAME__BODY_SEND) {
        if (structs != NULL) imrpb__frame__free_unpacked(structs, NULL);
        return 0;
    }
    const uint8_t *ack_body;
    size_t ack_body_len;
    uint8_t buffer[4096];
    uint64_t checksum = 0;
    /* FrameCodec packs small frames into a buffer bounded without get_packed_size: so here. */
    if (send_len > sizeof buffer || !body_of(ack, ack_len, &ack_body, &ack_body_len)) iterations = 0;
    static bump_arena arena;
    ProtobufCAllocator allocator = {.alloc = bump_alloc, .free = bump_free, .allocator_data = &arena};
    for (uint64_t n = 0; n < iterations; n++) {
        checksum += protobuf_c_message_pack(&structs->send->base, buffer);
        arena.used = 0;
        Imrpb__SendAck *back = imrpb__send_ack__unpack(&allocator, ack_body_len, ack_body);
        if (back == NULL) {
            checksum = 0;
            break;
        }
        checksum += back->seq + back->message_id.len + strlen(back->conversation);
    }
    imrpb__frame__free_unpacked(structs, NULL);
    return checksum;
}

uint64_t imrbench_protobuf_c_push(const uint8_t *push, size_t push_len, uint64_t iterations) {
    static bump_arena arena;
    ProtobufCAllocator allocator = {.alloc = bump_alloc, .free = bump_free, .allocator_data = &arena};
    const uint8_t *body;
    size_t body_len;
    if (!body_of(push, push_len, &body, &body_len)) return 0;
    uint64_t checksum = 0;
    for (uint64_t n = 0; n < iterations; n++) {
        arena.used = 0;
        const Imrpb__Message *m = imrpb__message__unpack(&allocator, body_len, body);
        if (m == NULL) return 0;
        checksum += m->seq + m->payload.len + strlen(m->conversation) + strlen(m->sender_user);
        if (m->clock != NULL) {
            for (size_t i = 0; i < m->clock->n_counters; i++) checksum += m->clock->counters[i];
        }
    }
    return checksum;
}
