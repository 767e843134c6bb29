/* Steps on the value types and helpers: configs, splitters, framing, clocks, codes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "world.h"

void config_ops(world *w, input *in) {
    char buf[64];
    imr_config *c = in_byte(in) < 240 ? w->config : NULL;
    switch (in_byte(in) % 4) {
    case 0: new_config(w); break;
    case 1: check_rc(imr_config_set_u64(c, pick_key(in), in_u64(in)), "set_u64"); break;
    case 2: {
        static const double values[] = {0, 0.5, 1, 1.5, 2, 16, 17, -1};
        uint8_t k = in_byte(in);
        double v = k < 200 ? values[k % 8] : k < 220 ? NAN : k < 240 ? INFINITY : (double)in_raw64(in);
        check_rc(imr_config_set_double(c, pick_key(in), v), "set_double");
        break;
    }
    default: {
        int key = pick_key(in);
        const char *value = pick_string(in, buf, sizeof buf);
        /* A store path from the input would create files wherever it names: the store gets
         * one fixed file in the working directory (run.sh runs each target in its own). */
        if (key == IMR_CONFIG_STORE_PATH && value != NULL) value = "fuzz-store.sqlite";
        check_rc(imr_config_set_string(c, key, value), "set_string");
        break;
    }
    }
}

void splitter_ops(world *w, input *in) {
    switch (in_byte(in) % 4) {
    case 0: {
        imr_splitter_free(w->splitter);
        w->splitter = NULL;
        size_t max = in_byte(in) < 128 ? 0 : (size_t)in_u64(in);
        imr_splitter *out = (imr_splitter *)w;
        if (check_rc(imr_splitter_new(max, &out), "splitter_new") == IMR_OK) w->splitter = out;
        else REQUIRE(out == (imr_splitter *)w, "splitter_new wrote *out on failure");
        break;
    }
    case 1: {
        size_t len;
        uint8_t *data = pick_bytes(in, 48, &len);
        uint8_t k = in_byte(in);
        int rc = (int)check_rc(imr_splitter_push(k < 16 ? NULL : w->splitter, k < 32 && k >= 16 ? NULL : data, len), "splitter_push");
        REQUIRE(!(k >= 16 && k < 32 && len > 0 && w->splitter) || rc == IMR_ERR_NULL, "push of NULL data gave %d", rc);
        free(data);
        break;
    }
    case 2:
        for (int i = 0; i < 8; i++) {
            const uint8_t *frame = (const uint8_t *)w;
            size_t len = 12345;
            uint8_t k = in_byte(in);
            int rc = (int)check_rc(imr_splitter_next(w->splitter, k < 8 ? NULL : &frame, k < 16 && k >= 8 ? NULL : &len), "splitter_next");
            if (rc == 1) {
                REQUIRE(frame != NULL, "splitter frame NULL");
                touch(frame, len, "splitter frame");
            } else {
                REQUIRE(frame == (const uint8_t *)w && len == 12345, "splitter_next wrote its outputs with %d", rc);
                if (rc != 0) break;
            }
        }
        break;
    default: {
        int64_t n = check_rc(imr_splitter_buffered(w->splitter), "splitter_buffered");
        REQUIRE(w->splitter || n == IMR_ERR_NULL, "buffered of NULL gave %lld", (long long)n);
        break;
    }
    }
}

void framing_ops(input *in) {
    size_t len;
    uint8_t *frame = pick_bytes(in, 40, &len);
    if (in_byte(in) < 32) {
        check_rc(imr_frame_delimited_size((size_t)in_u64(in)), "delimited_size");
    } else {
        size_t cap = in_byte(in) % 48;
        uint8_t *buf = guarded(cap);
        size_t out = 777;
        int rc = (int)check_rc(imr_frame_delimit(in_byte(in) < 16 ? NULL : frame, len, buf, cap, &out), "frame_delimit");
        if (rc == IMR_OK) REQUIRE(out <= cap, "delimit wrote %zu into %zu", out, cap);
        if (rc == IMR_ERR_BUFFER_TOO_SMALL) REQUIRE(out > cap, "too small with %zu needed of %zu", out, cap);
        check_guard(buf, cap, "frame_delimit buffer");
        free(buf);
    }
    free(frame);
}

void clock_ops(world *w, input *in) {
    imr_clock **slot = &w->clocks[in_byte(in) % 2];
    imr_clock *other = w->clocks[in_byte(in) % 2];
    uint64_t value = 99, node = 98;
    switch (in_byte(in) % 8) {
    case 0: {
        size_t len;
        uint8_t *bytes = pick_bytes(in, 64, &len);
        imr_clock *out = (imr_clock *)w;
        if (check_rc(imr_clock_decode(in_byte(in) < 16 ? NULL : bytes, len, &out), "clock_decode") == IMR_OK) {
            imr_clock_free(*slot);
            *slot = out;
        } else {
            REQUIRE(out == (imr_clock *)w, "clock_decode wrote *out on failure");
        }
        free(bytes);
        break;
    }
    case 1: {
        size_t cap = in_byte(in) % 64, out = 555;
        uint8_t *buf = guarded(cap);
        int rc = (int)check_rc(imr_clock_encode(*slot, buf, cap, &out), "clock_encode");
        if (rc == IMR_OK) REQUIRE(out <= cap, "clock_encode wrote %zu into %zu", out, cap);
        check_guard(buf, cap, "clock_encode buffer");
        free(buf);
        break;
    }
    case 2: check_rc(imr_clock_increment(*slot, in_u64(in) % 8, in_byte(in) < 128 ? NULL : &value), "clock_increment"); break;
    case 3: check_rc(imr_clock_merge(*slot, other), "clock_merge"); break;
    case 4: {
        int rc = (int)check_rc(imr_clock_compare(*slot, other), "clock_compare");
        REQUIRE(rc < 0 || rc <= IMR_ORDER_CONCURRENT, "compare gave %d", rc);
        break;
    }
    case 5: {
        int rc = (int)check_rc(imr_clock_get(*slot, in_u64(in), &value), "clock_get");
        if (rc != IMR_OK) REQUIRE(value == 99, "clock_get wrote on failure");
        check_rc(imr_clock_depth(*slot, &value), "clock_depth");
        break;
    }
    case 6: {
        int64_t n = check_rc(imr_clock_count(*slot), "clock_count");
        int rc = (int)check_rc(imr_clock_entry(*slot, (size_t)(in_byte(in) < 200 ? in_byte(in) % 4 : in_u64(in)), &node, &value), "clock_entry");
        if (rc != IMR_OK) REQUIRE(node == 98 && value == 99, "clock_entry wrote on failure");
        (void)n;
        break;
    }
    default: {
        imr_clock *copy = (imr_clock *)w;
        if (check_rc(imr_clock_copy(*slot, &copy), "clock_copy") == IMR_OK) {
            imr_clock_free(*slot);
            *slot = copy;
        } else {
            REQUIRE(copy == (imr_clock *)w, "clock_copy wrote *out on failure");
        }
        break;
    }
    }
}

void misc_ops(input *in) {
    int code = in_byte(in) < 200 ? -(int)(in_byte(in) % 20) : (int)(int32_t)in_raw64(in);
    REQUIRE(imr_strerror(code) != NULL, "imr_strerror(%d) is NULL", code);
    int fatal = imr_error_is_fatal(code);
    REQUIRE(fatal == 0 || fatal == 1, "imr_error_is_fatal(%d) gave %d", code, fatal);
    REQUIRE(imr_version() > 0, "imr_version");
    REQUIRE(imr_config_new(NULL) == IMR_ERR_NULL, "config_new with no out");
}
