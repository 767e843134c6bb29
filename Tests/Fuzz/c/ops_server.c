/* Steps on the server engine: tokens, conversations, sessions, frames, budgets, polls. */
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "world.h"

void server_ops(world *w, input *in) {
    char a[64], b[64];
    imr_server *s = in_byte(in) < 240 ? w->server : NULL;
    uint64_t now = pick_now(w, in);
    switch (in_byte(in) % 16) {
    case 0:
        if (in_byte(in) < 32) {
            imr_server *out = NULL;
            REQUIRE(imr_server_new(NULL, &out) == IMR_ERR_NULL && out == NULL, "server_new with no config");
            REQUIRE(imr_server_new(w->config, NULL) == IMR_ERR_NULL, "server_new with no out");
        } else {
            new_server(w);
        }
        break;
    case 1: check_rc(imr_server_add_token(s, pick_string(in, a, sizeof a), pick_string(in, b, sizeof b), in_u64(in)), "add_token"); break;
    case 2: check_rc(imr_server_remove_token(s, pick_string(in, a, sizeof a)), "remove_token"); break;
    case 3: check_rc(imr_server_set_wall_clock(s, in_u64(in), now), "set_wall_clock"); break;
    case 4: {
        const char *members[4];
        size_t n = in_byte(in) % 5;
        char bufs[4][16];
        for (size_t i = 0; i < n && i < 4; i++) members[i] = pick_string(in, bufs[i], sizeof bufs[i]);
        uint8_t k = in_byte(in);
        check_rc(imr_server_create_conversation(s, pick_string(in, a, sizeof a), k < 16 ? NULL : members, k < 32 ? n : n > 4 ? 4 : n), "create_conversation");
        break;
    }
    case 5: check_rc(imr_server_add_member(s, pick_string(in, a, sizeof a), pick_string(in, b, sizeof b)), "add_member"); break;
    case 6: check_rc(imr_server_remove_member(s, pick_string(in, a, sizeof a), pick_string(in, b, sizeof b)), "remove_member"); break;
    case 7: {
        int role = in_byte(in) < 200 ? in_byte(in) % 3 : (int)(int32_t)in_raw64(in);
        check_rc(imr_server_set_role(s, pick_string(in, a, sizeof a), pick_string(in, b, sizeof b), role), "set_role");
        int out = 77;
        if (check_rc(imr_server_member_role(s, pick_string(in, a, sizeof a), pick_string(in, b, sizeof b), &out), "member_role") != IMR_OK)
            REQUIRE(out == 77, "member_role wrote on failure");
        break;
    }
    case 8: {
        uint64_t id = 0;
        if (check_rc(imr_server_open_session(s, in_byte(in) < 16 ? NULL : &id, now), "open_session") == IMR_OK) w->sessions[in_byte(in) % 4] = id;
        break;
    }
    case 9: check_rc(imr_server_close_session(s, pick_session(w, in), now), "close_session"); break;
    case 10: check_rc(imr_server_set_writable(s, pick_session(w, in), in_byte(in) < 240 ? in_byte(in) % 2 : (int)(int32_t)in_raw64(in), now), "set_writable"); break;
    case 11: check_rc(imr_server_set_backlog(s, pick_session(w, in), in_u64(in), now), "set_backlog"); break;
    case 12: {
        int rc = (int)check_rc(imr_server_input_paused(s, pick_session(w, in)), "input_paused");
        REQUIRE(rc == 0 || rc == 1 || rc == IMR_ERR_NULL, "input_paused gave %d", rc);
        int error = in_byte(in) < 200 ? -(int)(in_byte(in) % 18) : (int)(int32_t)in_raw64(in);
        check_rc(imr_server_handle_stream_error(s, pick_session(w, in), error, now), "handle_stream_error");
        break;
    }
    case 13: {
        size_t len;
        uint8_t *frame = pick_bytes(in, 96, &len);
        uint8_t k = in_byte(in);
        if (k < 64) {
            free(frame);
            len = k % 2 ? sizeof hello_frame : sizeof ping_frame;
            frame = malloc(len);
            memcpy(frame, k % 2 ? hello_frame : ping_frame, len);
        }
        check_rc(imr_server_handle_frame(s, pick_session(w, in), k > 248 ? NULL : frame, len, now), "server_handle_frame");
        free(frame);
        break;
    }
    case 14: {
        uint64_t deadline = 4343;
        if (check_rc(imr_server_next_timeout(s, &deadline), "server_next_timeout") != 1) REQUIRE(deadline == 4343, "deadline written without one");
        check_rc(imr_server_handle_timeout(s, now), "server_handle_timeout");
        break;
    }
    default: {
        uint64_t session;
        const uint8_t *frame;
        size_t len;
        int close;
        uint8_t k = in_byte(in);
        int rc = (int)check_rc(imr_server_poll_output(s, k == 1 ? NULL : &session, k == 2 ? NULL : &frame, k == 3 ? NULL : &len,
                                                      k == 4 ? NULL : &close), "poll_output");
        if (rc == 1) touch(frame, len, "output frame");
        break;
    }
    }
}
