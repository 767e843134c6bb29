/* Steps on the client engine: inputs, sends, retries, frames, polls and queries. */
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "world.h"

void client_ops(world *w, input *in) {
    char buf[64];
    imr_client *c = in_byte(in) < 240 ? w->client : NULL;
    uint64_t now = pick_now(w, in);
    switch (in_byte(in) % 12) {
    case 0:
        if (in_byte(in) < 32) {
            imr_client *out = NULL;
            REQUIRE(imr_client_new(NULL, &out) == IMR_ERR_NULL && out == NULL, "client_new with no config");
            REQUIRE(imr_client_new(w->config, NULL) == IMR_ERR_NULL, "client_new with no out");
        } else {
            new_client(w);
        }
        break;
    case 1: check_rc(imr_client_connected(c, now), "connected"); break;
    case 2: check_rc(imr_client_disconnected(c, now), "disconnected"); break;
    case 3: case 4: {
        size_t len;
        uint8_t *payload = pick_bytes(in, 32, &len);
        uint8_t id[16];
        uint8_t k = in_byte(in);
        const char *conversation = k < 128 ? "general" : pick_string(in, buf, sizeof buf);
        if (check_rc(imr_client_send(c, conversation, k % 16 == 1 ? NULL : payload, len, k % 16 == 2 ? NULL : id, now), "send") == IMR_OK)
            memcpy(w->last_id, id, 16);
        free(payload);
        break;
    }
    case 5: {
        uint8_t id[16];
        for (int i = 0; i < 16; i++) id[i] = in_byte(in);
        uint8_t k = in_byte(in);
        check_rc(imr_client_retry(c, k < 16 ? NULL : k < 128 ? w->last_id : id, now), "retry");
        break;
    }
    case 6: {
        size_t len;
        uint8_t *frame = pick_bytes(in, 96, &len);
        check_rc(imr_client_handle_frame(c, in_byte(in) < 8 ? NULL : frame, len, now), "client_handle_frame");
        free(frame);
        break;
    }
    case 7: check_rc(imr_client_handle_timeout(c, now), "client_handle_timeout"); break;
    case 8: check_rc(imr_client_probe(c, now), "probe"); break;
    case 9: {
        size_t cap = in_byte(in) % 5;
        imr_outbox_entry *entries = (imr_outbox_entry *)guarded(cap * sizeof *entries);
        int64_t n = check_rc(imr_client_outbox(c, in_byte(in) < 16 ? NULL : entries, cap), "outbox");
        for (int64_t i = 0; i < n && (size_t)i < cap; i++) touch_string(entries[i].conversation, entries[i].conversation_len, "outbox conversation");
        check_guard((uint8_t *)entries, cap * sizeof *entries, "outbox entries");
        free(entries);
        break;
    }
    case 10: {
        size_t cap = in_byte(in) % 5;
        imr_message *messages = (imr_message *)guarded(cap * sizeof *messages);
        size_t offset = in_byte(in) < 200 ? in_byte(in) % 4 : (size_t)in_u64(in);
        int view = in_byte(in) < 240 ? in_byte(in) % 2 : (int)(int32_t)in_raw64(in);
        const char *conversation = in_byte(in) < 128 ? "general" : pick_string(in, buf, sizeof buf);
        int64_t n = check_rc(imr_client_timeline(c, conversation, view, offset, messages, cap), "timeline");
        for (int64_t i = 0; n > 0 && (size_t)i < cap && (uint64_t)i + offset < (uint64_t)n; i++) {
            touch_string(messages[i].sender, messages[i].sender_len, "message sender");
            touch(messages[i].payload, messages[i].payload_len, "message payload");
            touch(messages[i].clock, messages[i].clock_len, "message clock");
        }
        check_guard((uint8_t *)messages, cap * sizeof *messages, "timeline messages");
        free(messages);
        break;
    }
    default: {
        uint64_t cursor = 4242, deadline = 4343;
        const char *conversation = in_byte(in) < 128 ? "general" : pick_string(in, buf, sizeof buf);
        if (check_rc(imr_client_cursor(c, conversation, &cursor), "cursor") != IMR_OK) REQUIRE(cursor == 4242, "cursor written on failure");
        imr_clock *clock = (imr_clock *)w;
        if (check_rc(imr_client_clock(c, conversation, &clock), "client_clock") == IMR_OK) imr_clock_free(clock);
        else REQUIRE(clock == (imr_clock *)w, "client_clock wrote *out on failure");
        if (check_rc(imr_client_next_timeout(c, &deadline), "client_next_timeout") != 1) REQUIRE(deadline == 4343, "deadline written without one");
        break;
    }
    }
}
