/*
 * Tests of the imr C ABI: every exported function, NULL for each pointer argument,
 * short buffers, out-of-range sizes, bad frames and bad clocks. Run under valgrind by
 * `make -C bindings/c check` (no errors, no leaks).
 */
#include <imr.h>

#include <limits.h>
#include <stdint.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static int checks;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        checks++;                                                                     \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
            failures++;                                                               \
        }                                                                             \
    } while (0)

#define CHECK_EQ(actual, expected)                                                    \
    do {                                                                              \
        long long a_ = (long long)(actual), e_ = (long long)(expected);              \
        checks++;                                                                     \
        if (a_ != e_) {                                                               \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__,     \
                    __LINE__, #actual, a_, #expected, e_);                            \
            failures++;                                                               \
        }                                                                             \
    } while (0)

/* A check the rest of the test depends on (a handle it uses, a pointer it reads): on failure
 * the test returns at once rather than going on to dereference NULL. */
#define REQUIRE(cond)                                                                 \
    do {                                                                              \
        int before_ = failures;                                                       \
        CHECK(cond);                                                                  \
        if (failures != before_) return;                                              \
    } while (0)

#define REQUIRE_EQ(actual, expected)                                                  \
    do {                                                                              \
        int before_ = failures;                                                       \
        CHECK_EQ(actual, expected);                                                   \
        if (failures != before_) return;                                              \
    } while (0)

/* A size_t above INT64_MAX: every size argument must reject it. */
#define HUGE_SIZE ((size_t)INT64_MAX + 1u)

/* ---------------------------------------------------------------- version, errors */

static void test_version(void) {
    CHECK_EQ(imr_version(), IMR_VERSION_NUM);
    CHECK_EQ(IMR_VERSION_NUM, IMR_VERSION_MAJOR * 10000 + IMR_VERSION_MINOR * 100 + IMR_VERSION_PATCH);
}

static void test_errors(void) {
    static const int codes[] = {
        IMR_OK, IMR_ERR_NULL, IMR_ERR_INVALID_ARG, IMR_ERR_BUFFER_TOO_SMALL, IMR_ERR_TOO_LARGE,
        IMR_ERR_INVALID_ID, IMR_ERR_MALFORMED_FRAME, IMR_ERR_UNSUPPORTED_VERSION,
        IMR_ERR_INVALID_CLOCK, IMR_ERR_FRAME_TOO_LARGE, IMR_ERR_MALFORMED_LENGTH,
        IMR_ERR_STREAM_FAILED, IMR_ERR_NOT_FOUND, IMR_ERR_EXISTS, IMR_ERR_STORE, IMR_ERR_INTERNAL,
        IMR_ERR_INVALID_STATE, IMR_ERR_PROTOCOL,
    };
    const size_t n = sizeof codes / sizeof codes[0];
    const char *unknown = imr_strerror(12345);
    CHECK(unknown != NULL && strcmp(unknown, "unknown error") == 0);
    CHECK(imr_strerror(INT_MIN) != NULL && strcmp(imr_strerror(INT_MIN), unknown) == 0);
    CHECK(imr_strerror(INT_MAX) != NULL && strcmp(imr_strerror(INT_MAX), unknown) == 0);
    for (size_t i = 0; i < n; i++) {
        const char *text = imr_strerror(codes[i]);
        CHECK(text != NULL && text[0] != '\0');
        CHECK(strcmp(text, unknown) != 0);
        if (i > 0) CHECK(codes[i] < 0);
        for (size_t j = 0; j < i; j++) CHECK(strcmp(text, imr_strerror(codes[j])) != 0);
        int fatal = codes[i] == IMR_ERR_FRAME_TOO_LARGE || codes[i] == IMR_ERR_MALFORMED_LENGTH ||
                    codes[i] == IMR_ERR_STREAM_FAILED || codes[i] == IMR_ERR_INTERNAL;
        CHECK_EQ(imr_error_is_fatal(codes[i]), fatal);
    }
    CHECK_EQ(imr_error_is_fatal(1), 0);
    CHECK_EQ(imr_error_is_fatal(INT_MIN), 0);
}

/* ---------------------------------------------------------------- config */

static void test_config(void) {
    imr_config *config = NULL;
    CHECK_EQ(imr_config_new(NULL), IMR_ERR_NULL);
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    REQUIRE(config != NULL);
    imr_config_free(NULL);

    /* u64 */
    CHECK_EQ(imr_config_set_u64(NULL, IMR_CONFIG_NODE_ID, 1), IMR_ERR_NULL);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_NODE_ID, UINT64_MAX), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_SEED, 0), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_ACK_TIMEOUT_MS, 500), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_ACK_TIMEOUT_MS, UINT64_MAX), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_MAX_ATTEMPTS, 0), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_MAX_ATTEMPTS, 8), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_INFLIGHT_WINDOW, 0), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_HISTORY_ORDER, IMR_HISTORY_ARRIVAL), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_HISTORY_ORDER, 2), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_MAX_FRAME_BYTES, 10), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_MAX_FRAME_BYTES, 65536), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_MAX_FRAME_BYTES, (uint64_t)IMR_LIMIT_MAX_FRAME_BYTES + 1),
             IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_u64(config, 0, 1), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_u64(config, -1, 1), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_JITTER, 1), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_TOKEN, 1), IMR_ERR_INVALID_ARG);
    /* The per-frame list limits and the server budgets: each bound of each range. */
    {
        static const struct {
            int key;
            uint64_t min, max;
        } ranges[] = {
            {IMR_CONFIG_MAX_WATERMARKS_PER_FRAME, 1, 1048576},
            {IMR_CONFIG_MAX_MEMBERS_PER_FRAME, 1, 1048576},
            {IMR_CONFIG_OUTBOUND_SOFT_BYTES, 1, INT32_MAX},
            {IMR_CONFIG_OUTBOUND_HARD_BYTES, 1, INT32_MAX},
            {IMR_CONFIG_REQUEST_RATE_BURST, 0, UINT32_MAX},
            {IMR_CONFIG_REQUEST_RATE_PER_SECOND, 1, UINT32_MAX},
            {IMR_CONFIG_MAX_PARKED_INPUT_BYTES, 1, INT32_MAX},
            {IMR_CONFIG_MAX_HELLO_BYTES, 64, IMR_LIMIT_MAX_FRAME_BYTES},
            {IMR_CONFIG_RECEIPT_INTERVAL_MS, 0, IMR_MAX_TIME_MS},
            {IMR_CONFIG_RECEIPT_GROUP_LIMIT, 1, INT32_MAX},
        };
        for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
            CHECK_EQ(imr_config_set_u64(config, ranges[i].key, ranges[i].min), IMR_OK);
            CHECK_EQ(imr_config_set_u64(config, ranges[i].key, ranges[i].max), IMR_OK);
            CHECK_EQ(imr_config_set_u64(config, ranges[i].key, ranges[i].max + 1), IMR_ERR_INVALID_ARG);
            CHECK_EQ(imr_config_set_u64(config, ranges[i].key, UINT64_MAX), IMR_ERR_INVALID_ARG);
            if (ranges[i].min > 0) {
                CHECK_EQ(imr_config_set_u64(config, ranges[i].key, ranges[i].min - 1), IMR_ERR_INVALID_ARG);
            }
            CHECK_EQ(imr_config_set_double(config, ranges[i].key, 1.0), IMR_ERR_INVALID_ARG);
        }
    }

    /* double */
    CHECK_EQ(imr_config_set_double(NULL, IMR_CONFIG_JITTER, 0.1), IMR_ERR_NULL);
    CHECK_EQ(imr_config_set_double(config, IMR_CONFIG_JITTER, 0.1), IMR_OK);
    CHECK_EQ(imr_config_set_double(config, IMR_CONFIG_JITTER, 1.5), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_double(config, IMR_CONFIG_JITTER, -0.1), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_double(config, IMR_CONFIG_BACKOFF_FACTOR, 2.0), IMR_OK);
    CHECK_EQ(imr_config_set_double(config, IMR_CONFIG_BACKOFF_FACTOR, 0.5), IMR_ERR_INVALID_ARG);
    double zero = 0.0;
    CHECK_EQ(imr_config_set_double(config, IMR_CONFIG_BACKOFF_FACTOR, zero / zero), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_double(config, IMR_CONFIG_BACKOFF_FACTOR, 1.0 / zero), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_double(config, IMR_CONFIG_NODE_ID, 1.0), IMR_ERR_INVALID_ARG);

    /* string */
    CHECK_EQ(imr_config_set_string(NULL, IMR_CONFIG_TOKEN, "t"), IMR_ERR_NULL);
    CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_TOKEN, "alice.12345.abcdef"), IMR_OK);
    CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_TOKEN, "caf\xc3\xa9"), IMR_OK);
    CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_TOKEN, ""), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_TOKEN, "bad \xff utf8"), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_TOKEN, NULL), IMR_OK);
    CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_STORE_PATH, "/tmp/imr.sqlite"), IMR_OK);
    CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_NODE_ID, "x"), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_string(config, 999, "x"), IMR_ERR_INVALID_ARG);
    {
        /* 4097 bytes and no terminator within the limit: rejected without reading past 4097. */
        char *big = malloc(4097);
        REQUIRE(big != NULL);
        if (big) {
            memset(big, 'a', 4097);
            CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_TOKEN, big), IMR_ERR_TOO_LARGE);
            big[4096] = '\0';
            CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_TOKEN, big), IMR_OK);
            free(big);
        }
    }
    imr_config_free(config);
}

/* ---------------------------------------------------------------- framing */

static void test_delimit(void) {
    uint8_t frame[300], buf[400];
    size_t len = 0;
    for (size_t i = 0; i < sizeof frame; i++) frame[i] = (uint8_t)i;

    CHECK_EQ(imr_frame_delimited_size(0), 1);
    CHECK_EQ(imr_frame_delimited_size(127), 128);
    CHECK_EQ(imr_frame_delimited_size(128), 130);
    CHECK_EQ(imr_frame_delimited_size(300), 302);
    CHECK_EQ(imr_frame_delimited_size(HUGE_SIZE), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_frame_delimited_size(SIZE_MAX), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_frame_delimited_size((size_t)INT64_MAX), IMR_ERR_TOO_LARGE);

    CHECK_EQ(imr_frame_delimit(frame, 300, buf, sizeof buf, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_frame_delimit(NULL, 3, buf, sizeof buf, &len), IMR_ERR_NULL);
    CHECK_EQ(imr_frame_delimit(frame, 3, NULL, 10, &len), IMR_ERR_NULL);
    CHECK_EQ(imr_frame_delimit(frame, HUGE_SIZE, buf, sizeof buf, &len), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_frame_delimit(frame, 3, buf, HUGE_SIZE, &len), IMR_ERR_INVALID_ARG);

    /* Size query, then a short buffer: the needed size, nothing written. */
    len = 0;
    CHECK_EQ(imr_frame_delimit(frame, 300, NULL, 0, &len), IMR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(len, 302);
    memset(buf, 0xEE, sizeof buf);
    len = 0;
    CHECK_EQ(imr_frame_delimit(frame, 300, buf, 301, &len), IMR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(len, 302);
    CHECK_EQ(buf[0], 0xEE);

    CHECK_EQ(imr_frame_delimit(frame, 300, buf, 302, &len), IMR_OK);
    CHECK_EQ(len, 302);
    CHECK_EQ(buf[0], 0xAC);
    CHECK_EQ(buf[1], 0x02);
    CHECK(memcmp(buf + 2, frame, 300) == 0);

    /* The empty frame, from a NULL pointer. */
    CHECK_EQ(imr_frame_delimit(NULL, 0, buf, sizeof buf, &len), IMR_OK);
    CHECK_EQ(len, 1);
    CHECK_EQ(buf[0], 0);

    /* In place: the frame already sits at the start of the output buffer. */
    memcpy(buf, frame, 200);
    CHECK_EQ(imr_frame_delimit(buf, 200, buf, sizeof buf, &len), IMR_OK);
    CHECK_EQ(len, 202);
    CHECK(memcmp(buf + 2, frame, 200) == 0);
}

static void test_splitter(void) {
    imr_splitter *s = NULL;
    const uint8_t *out = NULL;
    size_t out_len = 0;

    CHECK_EQ(imr_splitter_new(0, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_splitter_new((size_t)IMR_LIMIT_MAX_FRAME_BYTES + 1, &s), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_splitter_new(SIZE_MAX, &s), IMR_ERR_INVALID_ARG);
    CHECK(s == NULL);
    imr_splitter_free(NULL);
    CHECK_EQ(imr_splitter_push(NULL, (const uint8_t *)"x", 1), IMR_ERR_NULL);
    CHECK_EQ(imr_splitter_next(NULL, &out, &out_len), IMR_ERR_NULL);
    CHECK_EQ(imr_splitter_buffered(NULL), IMR_ERR_NULL);

    REQUIRE_EQ(imr_splitter_new(0, &s), IMR_OK);
    REQUIRE(s != NULL);
    CHECK_EQ(imr_splitter_push(s, NULL, 5), IMR_ERR_NULL);
    CHECK_EQ(imr_splitter_push(s, (const uint8_t *)"x", HUGE_SIZE), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_splitter_push(s, NULL, 0), IMR_OK);
    CHECK_EQ(imr_splitter_next(s, NULL, &out_len), IMR_ERR_NULL);
    CHECK_EQ(imr_splitter_next(s, &out, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_splitter_next(s, &out, &out_len), 0);

    /* Three frames (200 bytes, empty, 3 bytes), delimited, fed one byte at a time. */
    uint8_t stream[512], frame[200];
    size_t at = 0, n = 0;
    for (size_t i = 0; i < sizeof frame; i++) frame[i] = (uint8_t)(i * 7);
    CHECK_EQ(imr_frame_delimit(frame, sizeof frame, stream, sizeof stream, &n), IMR_OK);
    at += n;
    CHECK_EQ(imr_frame_delimit(NULL, 0, stream + at, sizeof stream - at, &n), IMR_OK);
    at += n;
    CHECK_EQ(imr_frame_delimit((const uint8_t *)"abc", 3, stream + at, sizeof stream - at, &n), IMR_OK);
    at += n;
    int frames = 0;
    for (size_t i = 0; i < at; i++) {
        CHECK_EQ(imr_splitter_push(s, stream + i, 1), IMR_OK);
        int r;
        while ((r = imr_splitter_next(s, &out, &out_len)) == 1) {
            REQUIRE(out != NULL);
            if (frames == 0) CHECK(out_len == sizeof frame && memcmp(out, frame, sizeof frame) == 0);
            if (frames == 1) CHECK_EQ(out_len, 0);
            if (frames == 2) CHECK(out_len == 3 && memcmp(out, "abc", 3) == 0);
            frames++;
        }
        CHECK_EQ(r, 0);
    }
    CHECK_EQ(frames, 3);
    CHECK_EQ(imr_splitter_buffered(s), 0);

    /* All at once; a partial frame stays buffered. */
    CHECK_EQ(imr_splitter_push(s, stream, at - 1), IMR_OK);
    frames = 0;
    while (imr_splitter_next(s, &out, &out_len) == 1) frames++;
    CHECK_EQ(frames, 2);
    CHECK(imr_splitter_buffered(s) >= 2 && imr_splitter_buffered(s) <= 3); /* 2 body bytes, maybe the prefix */
    CHECK_EQ(imr_splitter_push(s, stream + at - 1, 1), IMR_OK);
    CHECK_EQ(imr_splitter_next(s, &out, &out_len), 1);
    CHECK(out_len == 3 && memcmp(out, "abc", 3) == 0);
    imr_splitter_free(s);

    /* A length prefix over the limit is rejected before its bytes arrive; then the
     * splitter stays failed. */
    REQUIRE_EQ(imr_splitter_new(100, &s), IMR_OK);
    CHECK_EQ(imr_splitter_push(s, (const uint8_t *)"\x65", 1), IMR_OK); /* 101 */
    CHECK_EQ(imr_splitter_next(s, &out, &out_len), IMR_ERR_FRAME_TOO_LARGE);
    CHECK_EQ(imr_error_is_fatal(IMR_ERR_FRAME_TOO_LARGE), 1);
    CHECK_EQ(imr_splitter_next(s, &out, &out_len), IMR_ERR_STREAM_FAILED);
    CHECK_EQ(imr_splitter_push(s, (const uint8_t *)"\x01x", 2), IMR_ERR_STREAM_FAILED);
    imr_splitter_free(s);

    /* A varint longer than 10 bytes. */
    REQUIRE_EQ(imr_splitter_new(0, &s), IMR_OK);
    {
        uint8_t bad[11];
        memset(bad, 0xFF, sizeof bad);
        CHECK_EQ(imr_splitter_push(s, bad, sizeof bad), IMR_OK);
        int r = imr_splitter_next(s, &out, &out_len);
        CHECK(r == IMR_ERR_MALFORMED_LENGTH || r == IMR_ERR_FRAME_TOO_LARGE);
        CHECK_EQ(imr_error_is_fatal(r), 1);
    }
    imr_splitter_free(s);
    REQUIRE_EQ(imr_splitter_new(IMR_LIMIT_MAX_FRAME_BYTES, &s), IMR_OK);
    {
        /* 10 bytes whose last carries more than the top bit of a 64-bit value. */
        static const uint8_t bad[10] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02};
        CHECK_EQ(imr_splitter_push(s, bad, sizeof bad), IMR_OK);
        int r = imr_splitter_next(s, &out, &out_len);
        CHECK(r == IMR_ERR_MALFORMED_LENGTH || r == IMR_ERR_FRAME_TOO_LARGE);
    }
    imr_splitter_free(s);

    /* A caller that pushes without taking frames out is stopped, not buffered without bound. */
    REQUIRE_EQ(imr_splitter_new(100, &s), IMR_OK);
    {
        uint8_t chunk[64];
        memset(chunk, 0, sizeof chunk);
        chunk[0] = 100; /* a 100-byte frame, then zeros: empty frames */
        CHECK_EQ(imr_splitter_push(s, chunk, sizeof chunk), IMR_OK);
        CHECK_EQ(imr_splitter_push(s, chunk, sizeof chunk), IMR_OK);
        CHECK_EQ(imr_splitter_push(s, chunk, sizeof chunk), IMR_ERR_TOO_LARGE);
        CHECK_EQ(imr_splitter_buffered(s), 128);
        CHECK_EQ(imr_splitter_next(s, &out, &out_len), 1);
        CHECK_EQ(out_len, 100);
        CHECK_EQ(imr_splitter_push(s, chunk, sizeof chunk), IMR_OK);
    }
    imr_splitter_free(s);
}

/* ---------------------------------------------------------------- clocks */

/* Appends one entry (node, counter) to an encoded VectorClock, in protobuf's unpacked form
 * of its two repeated fields (decoders accept it as well as the packed form imr writes). */
static size_t put_entry(uint8_t *p, uint64_t node, uint64_t counter) {
    size_t n = 0;
    p[n++] = 0x11; /* field 2 (nodes), fixed64 */
    for (int i = 0; i < 8; i++) p[n++] = (uint8_t)(node >> (8 * i));
    p[n++] = 0x18; /* field 3 (counters), varint */
    do {
        uint8_t b = counter & 0x7F;
        counter >>= 7;
        p[n++] = counter ? (uint8_t)(b | 0x80) : b;
    } while (counter);
    return n;
}

static void test_clock(void) {
    imr_clock *a = NULL, *b = NULL, *c = NULL;
    uint64_t v = 0, node = 0;

    CHECK_EQ(imr_clock_new(NULL), IMR_ERR_NULL);
    REQUIRE_EQ(imr_clock_new(&a), IMR_OK);
    REQUIRE_EQ(imr_clock_new(&b), IMR_OK);
    imr_clock_free(NULL);

    CHECK_EQ(imr_clock_increment(NULL, 1, &v), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_increment(a, 7, &v), IMR_OK);
    CHECK_EQ(v, 1);
    CHECK_EQ(imr_clock_increment(a, 7, NULL), IMR_OK);
    CHECK_EQ(imr_clock_increment(a, 3, &v), IMR_OK);
    CHECK_EQ(imr_clock_get(a, 7, &v), IMR_OK);
    CHECK_EQ(v, 2);
    CHECK_EQ(imr_clock_get(a, 99, &v), IMR_OK);
    CHECK_EQ(v, 0);
    CHECK_EQ(imr_clock_get(NULL, 7, &v), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_get(a, 7, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_depth(a, &v), IMR_OK);
    CHECK_EQ(v, 3);
    CHECK_EQ(imr_clock_depth(NULL, &v), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_depth(a, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_count(a), 2);
    CHECK_EQ(imr_clock_count(NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_entry(a, 0, &node, &v), IMR_OK);
    CHECK(node == 3 && v == 1);
    CHECK_EQ(imr_clock_entry(a, 1, &node, &v), IMR_OK);
    CHECK(node == 7 && v == 2);
    CHECK_EQ(imr_clock_entry(a, 2, &node, &v), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_clock_entry(a, SIZE_MAX, &node, &v), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_clock_entry(NULL, 0, &node, &v), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_entry(a, 0, NULL, &v), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_entry(a, 0, &node, NULL), IMR_ERR_NULL);

    /* compare and merge */
    CHECK_EQ(imr_clock_compare(NULL, a), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_compare(a, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_compare(b, a), IMR_ORDER_BEFORE);
    CHECK_EQ(imr_clock_compare(a, b), IMR_ORDER_AFTER);
    CHECK_EQ(imr_clock_compare(a, a), IMR_ORDER_EQUAL);
    CHECK_EQ(imr_clock_increment(b, 5, NULL), IMR_OK);
    CHECK_EQ(imr_clock_compare(a, b), IMR_ORDER_CONCURRENT);
    CHECK_EQ(imr_clock_copy(NULL, &c), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_copy(a, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_copy(a, &c), IMR_OK);
    CHECK_EQ(imr_clock_compare(a, c), IMR_ORDER_EQUAL);
    CHECK_EQ(imr_clock_merge(NULL, b), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_merge(c, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_merge(c, b), IMR_OK);
    CHECK_EQ(imr_clock_compare(a, c), IMR_ORDER_BEFORE);
    CHECK_EQ(imr_clock_compare(b, c), IMR_ORDER_BEFORE);
    CHECK_EQ(imr_clock_merge(c, c), IMR_OK);
    CHECK_EQ(imr_clock_count(c), 3);
    CHECK_EQ(imr_clock_count(a), 2); /* the copy is independent */

    /* encode / decode */
    uint8_t buf[256];
    size_t len = 0;
    CHECK_EQ(imr_clock_encode(NULL, buf, sizeof buf, &len), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_encode(c, buf, sizeof buf, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_encode(c, buf, HUGE_SIZE, &len), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_clock_encode(c, NULL, 0, &len), IMR_ERR_BUFFER_TOO_SMALL);
    size_t needed = len;
    CHECK(needed > 0 && needed < sizeof buf);
    CHECK_EQ(imr_clock_encode(c, buf, needed - 1, &len), IMR_ERR_BUFFER_TOO_SMALL);
    CHECK_EQ(len, needed);
    CHECK_EQ(imr_clock_encode(c, NULL, sizeof buf, &len), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_encode(c, buf, needed, &len), IMR_OK);
    CHECK_EQ(len, needed);
    imr_clock *d = NULL;
    CHECK_EQ(imr_clock_decode(buf, len, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_decode(NULL, len, &d), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_decode(buf, HUGE_SIZE, &d), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_clock_decode(buf, len, &d), IMR_OK);
    CHECK_EQ(imr_clock_compare(c, d), IMR_ORDER_EQUAL);
    imr_clock_free(d);
    d = NULL;

    /* The empty clock encodes to nothing and decodes from nothing. */
    imr_clock *empty = NULL;
    REQUIRE_EQ(imr_clock_new(&empty), IMR_OK);
    CHECK_EQ(imr_clock_encode(empty, NULL, 0, &len), IMR_OK);
    CHECK_EQ(len, 0);
    CHECK_EQ(imr_clock_decode(NULL, 0, &d), IMR_OK);
    CHECK_EQ(imr_clock_compare(empty, d), IMR_ORDER_EQUAL);
    imr_clock_free(d);
    d = NULL;
    imr_clock_free(empty);

    /* Bad encodings. */
    CHECK_EQ(imr_clock_decode((const uint8_t *)"\xff\xff\xff", 3, &d), IMR_ERR_MALFORMED_FRAME);
    CHECK_EQ(imr_clock_decode((const uint8_t *)"\x12\x05\x09", 3, &d), IMR_ERR_MALFORMED_FRAME);
    {
        /* Two nodes, one counter. */
        static const uint8_t uneven[] = {0x11, 1, 0, 0, 0, 0, 0, 0, 0, 0x11, 2, 0, 0, 0, 0, 0, 0, 0, 0x18, 1};
        CHECK_EQ(imr_clock_decode(uneven, sizeof uneven, &d), IMR_ERR_INVALID_CLOCK);
    }
    {
        uint8_t dup[64];
        size_t n = put_entry(dup, 42, 1);
        n += put_entry(dup + n, 42, 2);
        CHECK_EQ(imr_clock_decode(dup, n, &d), IMR_ERR_INVALID_CLOCK);
        /* Unsorted entries and zero counters are canonicalised. */
        n = put_entry(dup, 9, 4);
        n += put_entry(dup + n, 2, 0);
        n += put_entry(dup + n, 1, 5);
        CHECK_EQ(imr_clock_decode(dup, n, &d), IMR_OK);
        CHECK_EQ(imr_clock_count(d), 2);
        CHECK_EQ(imr_clock_entry(d, 0, &node, &v), IMR_OK);
        CHECK(node == 1 && v == 5);
        imr_clock_free(d);
        d = NULL;
        /* A counter at UINT64_MAX cannot be incremented. */
        n = put_entry(dup, 1, UINT64_MAX);
        CHECK_EQ(imr_clock_decode(dup, n, &d), IMR_OK);
        CHECK_EQ(imr_clock_increment(d, 1, &v), IMR_ERR_INVALID_CLOCK);
        CHECK_EQ(imr_clock_get(d, 1, &v), IMR_OK);
        CHECK(v == UINT64_MAX);
        CHECK_EQ(imr_clock_depth(d, &v), IMR_OK);
        CHECK(v == UINT64_MAX);
        CHECK_EQ(imr_clock_increment(d, 2, NULL), IMR_OK);
        CHECK_EQ(imr_clock_depth(d, &v), IMR_OK); /* saturates */
        CHECK(v == UINT64_MAX);
        imr_clock_free(d);
        d = NULL;
    }
    {
        /* Too many entries: by decode, by increment, by merge. */
        const size_t max = IMR_CLOCK_MAX_ENTRIES;
        uint8_t *many = malloc((max + 1) * 16);
        size_t n = 0;
        REQUIRE(many != NULL);
        if (many) {
            for (size_t i = 0; i <= max; i++) n += put_entry(many + n, 1000 + i, 1);
            CHECK_EQ(imr_clock_decode(many, n, &d), IMR_ERR_TOO_LARGE);
            n = 0;
            for (size_t i = 0; i < max; i++) n += put_entry(many + n, 1000 + i, 1);
            CHECK_EQ(imr_clock_decode(many, n, &d), IMR_OK);
            CHECK_EQ(imr_clock_count(d), (long long)max);
            CHECK_EQ(imr_clock_increment(d, 1, NULL), IMR_ERR_TOO_LARGE);
            CHECK_EQ(imr_clock_increment(d, 1000, &v), IMR_OK);
            CHECK_EQ(v, 2);
            CHECK_EQ(imr_clock_merge(d, a), IMR_ERR_TOO_LARGE);
            CHECK_EQ(imr_clock_count(d), (long long)max);
            imr_clock_free(d);
            d = NULL;
            free(many);
        }
    }
    {
        /* Input over the frame limit is refused before parsing. */
        size_t n = (size_t)IMR_DEFAULT_MAX_FRAME_BYTES + 1;
        uint8_t *big = calloc(1, n);
        REQUIRE(big != NULL);
        if (big) {
            CHECK_EQ(imr_clock_decode(big, n, &d), IMR_ERR_TOO_LARGE);
            free(big);
        }
    }
    CHECK(d == NULL);

    imr_clock_free(a);
    imr_clock_free(b);
    imr_clock_free(c);
}

/* ---------------------------------------------------------------- server */

/* A minimal protobuf writer for the client frames the server tests send. */
typedef struct {
    uint8_t data[512];
    size_t len;
} pb;

static void pb_varint(pb *b, uint64_t v) {
    while (v >= 0x80) {
        b->data[b->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->data[b->len++] = (uint8_t)v;
}

static void pb_bytes(pb *b, unsigned field, const void *p, size_t n) {
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void pb_fixed64(pb *b, unsigned field, uint64_t v) {
    pb_varint(b, (uint64_t)field << 3 | 1);
    for (int i = 0; i < 8; i++) b->data[b->len++] = (uint8_t)(v >> (8 * i));
}

/* Frame{version: 1, hello: {token, protocol_version: 1, device_node}} */
static pb hello_frame(const char *token, uint64_t node) {
    pb body = {{0}, 0}, frame = {{0}, 0};
    pb_bytes(&body, 1, token, strlen(token));
    pb_varint(&body, 2 << 3 | 0);
    pb_varint(&body, 1);
    pb_fixed64(&body, 3, node);
    pb_varint(&frame, 1 << 3 | 0);
    pb_varint(&frame, 1);
    pb_bytes(&frame, 10, body.data, body.len);
    return frame;
}

/* Frame{version: 1, send: {conversation, message_id, clock: {node: 1}, payload}} */
static pb send_frame(const char *conversation, const uint8_t id[16], uint64_t node, const char *payload) {
    pb clock = {{0}, 0}, body = {{0}, 0}, frame = {{0}, 0};
    /* The clock {node: 1}: its packed node list (fixed64) and counter list (varint 1). */
    uint8_t node_bytes[8];
    for (int i = 0; i < 8; i++) node_bytes[i] = (uint8_t)(node >> (8 * i));
    pb_bytes(&clock, 2, node_bytes, sizeof node_bytes);
    pb_bytes(&clock, 3, "\x01", 1);
    pb_bytes(&body, 1, conversation, strlen(conversation));
    pb_bytes(&body, 2, id, 16);
    pb_bytes(&body, 3, clock.data, clock.len);
    pb_bytes(&body, 4, payload, strlen(payload));
    pb_varint(&frame, 1 << 3 | 0);
    pb_varint(&frame, 1);
    pb_bytes(&frame, 12, body.data, body.len);
    return frame;
}

/* Drains the server's output; counts frames and closes for `session`, and whether a
 * frame for it contains `needle` (16 bytes) when given. */
typedef struct {
    int frames, closes, found;
} drained;

static drained drain_output(imr_server *server, uint64_t session, const uint8_t *needle) {
    drained d = {0, 0, 0};
    uint64_t s = 0;
    const uint8_t *frame = NULL;
    size_t len = 0;
    int closing = -1, r;
    while ((r = imr_server_poll_output(server, &s, &frame, &len, &closing)) == 1) {
        if (s != session) continue;
        if (closing) {
            d.closes++;
            CHECK(frame == NULL && len == 0);
        } else {
            d.frames++;
            CHECK(frame != NULL && len > 0);
            /* Every output frame is a valid delimitable frame. */
            CHECK(imr_frame_delimited_size(len) > (imr_ssize)len);
            if (needle) {
                for (size_t i = 0; i + 16 <= len; i++) {
                    if (memcmp(frame + i, needle, 16) == 0) d.found = 1;
                }
            }
        }
    }
    CHECK_EQ(r, 0);
    return d;
}

/* Polls events until one of `kind` (returned in *out) or none is left. */
static int find_event(imr_server *server, int kind, imr_event *out) {
    imr_event e;
    while (imr_server_poll_event(server, &e) == 1) {
        if (e.kind == kind) {
            *out = e;
            return 1;
        }
    }
    return 0;
}

static void test_server_arguments(void) {
    imr_config *config = NULL;
    imr_server *server = NULL;
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    CHECK_EQ(imr_server_new(NULL, &server), IMR_ERR_NULL);
    CHECK_EQ(imr_server_new(config, NULL), IMR_ERR_NULL);
    imr_server_free(NULL);

    /* Inconsistent limits. */
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_MAX_FRAME_BYTES, 1000), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_MAX_PAYLOAD_BYTES, 2000), IMR_OK);
    CHECK_EQ(imr_server_new(config, &server), IMR_ERR_INVALID_ARG);
    CHECK(server == NULL);
    imr_config_free(config);

    /* A store that cannot be opened, and a file that is not a store. */
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_STORE_PATH, "/nonexistent-dir/imr/server.sqlite"), IMR_OK);
    CHECK_EQ(imr_server_new(config, &server), IMR_ERR_STORE);
    char path[] = "/tmp/imr-test-garbage-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        static const char garbage[4096] = "this is not a SQLite database";
        CHECK(write(fd, garbage, sizeof garbage) == (ssize_t)sizeof garbage);
        close(fd);
        CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_STORE_PATH, path), IMR_OK);
        CHECK_EQ(imr_server_new(config, &server), IMR_ERR_STORE);
        unlink(path);
    }
    CHECK(server == NULL);
    CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_STORE_PATH, NULL), IMR_OK);

    /* Server keys. */
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_SEND_RECEIPTS, 2), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_SEND_RECEIPTS, 0), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_RATE_LIMIT_BURST, 0), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_RATE_LIMIT_PER_SECOND, 0), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_MAX_MEMBERS, 3), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_STORE_DURABILITY, 2), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_STORE_DURABILITY, IMR_DURABILITY_PROCESS_CRASH), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_SERVER_MAX_SYNC_PAGE, 0), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_MAX_TOKEN_BYTES, 64), IMR_OK);
    REQUIRE_EQ(imr_server_new(config, &server), IMR_OK);
    imr_config_free(config); /* the server keeps no pointer to it */

    /* Tokens. */
    CHECK_EQ(imr_server_add_token(NULL, "t", "u", 0), IMR_ERR_NULL);
    CHECK_EQ(imr_server_add_token(server, NULL, "u", 0), IMR_ERR_NULL);
    CHECK_EQ(imr_server_add_token(server, "t", NULL, 0), IMR_ERR_NULL);
    CHECK_EQ(imr_server_add_token(server, "", "u", 0), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_add_token(server, "t", "", 0), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_add_token(server, "t", "\xc3", 0), IMR_ERR_INVALID_ID);
    {
        char token[80];
        memset(token, 'k', sizeof token - 1);
        token[sizeof token - 1] = '\0';
        CHECK_EQ(imr_server_add_token(server, token, "u", 0), IMR_ERR_TOO_LARGE);
    }
    CHECK_EQ(imr_server_add_token(server, "tok", "alice", 0), IMR_OK);
    CHECK_EQ(imr_server_remove_token(NULL, "tok"), IMR_ERR_NULL);
    CHECK_EQ(imr_server_remove_token(server, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_server_remove_token(server, "other"), IMR_ERR_NOT_FOUND);
    CHECK_EQ(imr_server_remove_token(server, "tok"), IMR_OK);
    CHECK_EQ(imr_server_remove_token(server, "tok"), IMR_ERR_NOT_FOUND);
    CHECK_EQ(imr_server_set_wall_clock(NULL, 1, 1), IMR_ERR_NULL);

    /* Conversations. */
    const char *members[] = {"alice", "bob", "alice"};
    const char *bad_members[] = {"alice", NULL};
    const char *four[] = {"a", "b", "c", "d"};
    CHECK_EQ(imr_server_create_conversation(NULL, "c", members, 3), IMR_ERR_NULL);
    CHECK_EQ(imr_server_create_conversation(server, NULL, members, 3), IMR_ERR_NULL);
    CHECK_EQ(imr_server_create_conversation(server, "c", NULL, 3), IMR_ERR_NULL);
    CHECK_EQ(imr_server_create_conversation(server, "c", bad_members, 2), IMR_ERR_NULL);
    CHECK_EQ(imr_server_create_conversation(server, "c", members, HUGE_SIZE), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_create_conversation(server, "c", four, 4), IMR_ERR_TOO_LARGE);
    CHECK_EQ(imr_server_create_conversation(server, "", members, 3), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_create_conversation(server, "c", members, 3), IMR_OK);
    CHECK_EQ(imr_server_create_conversation(server, "c", members, 3), IMR_ERR_EXISTS);
    CHECK_EQ(imr_server_create_conversation(server, "empty", NULL, 0), IMR_OK);
    imr_event event;
    CHECK_EQ(imr_server_poll_event(NULL, &event), IMR_ERR_NULL);
    CHECK_EQ(imr_server_poll_event(server, NULL), IMR_ERR_NULL);
    CHECK_EQ(find_event(server, IMR_EVENT_MEMBERSHIP_CHANGED, &event), 1);
    CHECK(event.conversation_len == 1 && strcmp(event.conversation, "c") == 0);
    CHECK_EQ(event.code, 2);
    CHECK(event.payload_len == 10 && memcmp(event.payload, "alice\0bob\0", 10) == 0);
    CHECK_EQ(imr_server_add_member(NULL, "c", "carol"), IMR_ERR_NULL);
    CHECK_EQ(imr_server_add_member(server, NULL, "carol"), IMR_ERR_NULL);
    CHECK_EQ(imr_server_add_member(server, "c", NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_server_add_member(server, "nope", "carol"), IMR_ERR_NOT_FOUND);
    CHECK_EQ(imr_server_add_member(server, "c", "carol"), IMR_OK);
    CHECK_EQ(imr_server_remove_member(NULL, "c", "carol"), IMR_ERR_NULL);
    CHECK_EQ(imr_server_remove_member(server, "nope", "carol"), IMR_ERR_NOT_FOUND);
    CHECK_EQ(imr_server_remove_member(server, "c", "carol"), IMR_OK);
    CHECK_EQ(imr_server_remove_member(server, "c", "carol"), IMR_OK);

    /* Sessions and frames. */
    uint64_t session = 0, deadline = 0;
    uint64_t out_session = 0;
    const uint8_t *frame = NULL;
    size_t len = 0;
    int closing = 0;
    CHECK_EQ(imr_server_open_session(NULL, &session, 0), IMR_ERR_NULL);
    CHECK_EQ(imr_server_open_session(server, NULL, 0), IMR_ERR_NULL);
    CHECK_EQ(imr_server_open_session(server, &session, 0), IMR_OK);
    CHECK(session != 0);
    CHECK_EQ(imr_server_handle_frame(NULL, session, (const uint8_t *)"x", 1, 0), IMR_ERR_NULL);
    CHECK_EQ(imr_server_handle_frame(server, session, NULL, 1, 0), IMR_ERR_NULL);
    CHECK_EQ(imr_server_handle_frame(server, session, (const uint8_t *)"x", HUGE_SIZE, 0), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_poll_output(NULL, &out_session, &frame, &len, &closing), IMR_ERR_NULL);
    CHECK_EQ(imr_server_poll_output(server, NULL, &frame, &len, &closing), IMR_ERR_NULL);
    CHECK_EQ(imr_server_poll_output(server, &out_session, NULL, &len, &closing), IMR_ERR_NULL);
    CHECK_EQ(imr_server_poll_output(server, &out_session, &frame, NULL, &closing), IMR_ERR_NULL);
    CHECK_EQ(imr_server_poll_output(server, &out_session, &frame, &len, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_server_poll_output(server, &out_session, &frame, &len, &closing), 0);
    /* Garbage from the peer: an error frame and a close, and the call succeeds. */
    CHECK_EQ(imr_server_handle_frame(server, session, (const uint8_t *)"\xff\xff\xff\xff", 4, 1), IMR_OK);
    drained d = drain_output(server, session, NULL);
    CHECK(d.frames >= 1);
    CHECK_EQ(d.closes, 1);
    CHECK_EQ(imr_server_close_session(NULL, session, 2), IMR_ERR_NULL);
    CHECK_EQ(imr_server_close_session(server, session, 2), IMR_OK);
    CHECK_EQ(imr_server_close_session(server, session, 2), IMR_OK);
    CHECK_EQ(imr_server_handle_frame(server, session, (const uint8_t *)"x", 1, 3), IMR_OK); /* ignored */
    CHECK_EQ(imr_server_handle_frame(server, 999999, NULL, 0, 3), IMR_OK);

    /* Stream errors. */
    CHECK_EQ(imr_server_open_session(server, &session, 4), IMR_OK);
    CHECK_EQ(imr_server_handle_stream_error(NULL, session, IMR_ERR_MALFORMED_LENGTH, 4), IMR_ERR_NULL);
    CHECK_EQ(imr_server_handle_stream_error(server, session, IMR_ERR_NULL, 4), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_handle_stream_error(server, session, 0, 4), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_handle_stream_error(server, session, IMR_ERR_FRAME_TOO_LARGE, 4), IMR_OK);
    d = drain_output(server, session, NULL);
    CHECK_EQ(d.closes, 1);
    CHECK_EQ(imr_server_open_session(server, &session, 4), IMR_OK);
    CHECK_EQ(imr_server_handle_stream_error(server, session, IMR_ERR_MALFORMED_LENGTH, 4), IMR_OK);
    CHECK_EQ(imr_server_handle_stream_error(server, session, IMR_ERR_STREAM_FAILED, 4), IMR_OK);
    CHECK_EQ(drain_output(server, session, NULL).closes, 1);

    /* Writability, timers. */
    CHECK_EQ(imr_server_open_session(server, &session, 5), IMR_OK);
    CHECK_EQ(imr_server_set_writable(NULL, session, 1, 5), IMR_ERR_NULL);
    CHECK_EQ(imr_server_set_writable(server, session, 2, 5), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_set_writable(server, session, -1, 5), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_set_writable(server, session, 0, 5), IMR_OK);
    CHECK_EQ(imr_server_set_writable(server, session, 1, 5), IMR_OK);
    CHECK_EQ(imr_server_next_timeout(NULL, &deadline), IMR_ERR_NULL);
    CHECK_EQ(imr_server_next_timeout(server, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_server_next_timeout(server, &deadline), 1);
    CHECK(deadline > 5);
    CHECK_EQ(imr_server_handle_timeout(NULL, 6), IMR_ERR_NULL);
    CHECK_EQ(imr_server_handle_timeout(server, 6), IMR_OK); /* early: harmless */
    /* Past the hello timeout (5 s by default) the silent session is closed. */
    for (uint64_t now = 0; now <= 11000; now += 500) CHECK_EQ(imr_server_handle_timeout(server, now), IMR_OK);
    CHECK_EQ(drain_output(server, session, NULL).closes, 1);
    CHECK_EQ(find_event(server, IMR_EVENT_SESSION_CLOSED, &event), 1);
    CHECK(event.detail != NULL && event.detail_len > 0 && event.detail[event.detail_len] == '\0');

    imr_server_free(server);
}

static void test_server_exchange(const char *store_path) {
    imr_config *config = NULL;
    imr_server *server = NULL;
    imr_event event;
    const uint8_t id[16] = {0x01, 0x8f, 0x00, 0x00, 0x00, 0x00, 0x70, 0x00, 0x80, 1, 2, 3, 4, 5, 6, 7};
    const char *members[] = {"alice", "bob"};
    uint64_t session = 0;

    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    if (store_path) CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_STORE_PATH, store_path), IMR_OK);
    REQUIRE_EQ(imr_server_new(config, &server), IMR_OK);
    imr_config_free(config);
    if (!server) return;
    CHECK_EQ(imr_server_set_wall_clock(server, 1700000000000ull, 0), IMR_OK);
    CHECK_EQ(imr_server_add_token(server, "alice-token", "alice", 0), IMR_OK);
    CHECK_EQ(imr_server_add_token(server, "old-token", "bob", 1600000000000ull), IMR_OK);
    CHECK_EQ(imr_server_create_conversation(server, "general", members, 2), IMR_OK);

    /* An expired token: authentication fails with TOKEN_EXPIRED, the session closes. */
    CHECK_EQ(imr_server_open_session(server, &session, 10), IMR_OK);
    pb hello = hello_frame("old-token", 0xB0B);
    CHECK_EQ(imr_server_handle_frame(server, session, hello.data, hello.len, 11), IMR_OK);
    CHECK_EQ(drain_output(server, session, NULL).closes, 1);
    CHECK_EQ(find_event(server, IMR_EVENT_AUTHENTICATION_FAILED, &event), 1);
    CHECK_EQ(event.session, session);
    CHECK_EQ(event.code, IMR_WIRE_ERROR_TOKEN_EXPIRED);

    /* hello -> welcome; send -> ack (carrying the id) and the push back; again -> duplicate. */
    CHECK_EQ(imr_server_open_session(server, &session, 20), IMR_OK);
    hello = hello_frame("alice-token", 0xA11CE);
    CHECK_EQ(imr_server_handle_frame(server, session, hello.data, hello.len, 21), IMR_OK);
    drained d = drain_output(server, session, NULL);
    CHECK_EQ(d.frames, 1);
    CHECK_EQ(d.closes, 0);
    CHECK_EQ(find_event(server, IMR_EVENT_SESSION_AUTHENTICATED, &event), 1);
    CHECK_EQ(event.session, session);
    CHECK(event.user_len == 5 && strcmp(event.user, "alice") == 0);
    CHECK(event.node == 0xA11CE);

    pb send = send_frame("general", id, 0xA11CE, "hello, bob");
    CHECK_EQ(imr_server_handle_frame(server, session, send.data, send.len, 22), IMR_OK);
    d = drain_output(server, session, id);
    CHECK(d.frames >= 1 && d.found);
    CHECK_EQ(find_event(server, IMR_EVENT_MESSAGE_ACCEPTED, &event), 1);
    CHECK(strcmp(event.conversation, "general") == 0);
    CHECK_EQ(event.seq, 1);
    CHECK(memcmp(event.message_id, id, 16) == 0);
    CHECK(strcmp(event.user, "alice") == 0);

    CHECK_EQ(imr_server_handle_frame(server, session, send.data, send.len, 23), IMR_OK);
    d = drain_output(server, session, id);
    CHECK(d.frames >= 1 && d.found);
    CHECK_EQ(find_event(server, IMR_EVENT_DUPLICATE_ACKNOWLEDGED, &event), 1);
    CHECK_EQ(event.seq, 1);

    /* Not a member: rejected. */
    send = send_frame("elsewhere", id, 0xA11CE, "x");
    CHECK_EQ(imr_server_create_conversation(server, "elsewhere", members + 1, 1), IMR_OK);
    CHECK_EQ(imr_server_handle_frame(server, session, send.data, send.len, 24), IMR_OK);
    drain_output(server, session, NULL);
    CHECK_EQ(find_event(server, IMR_EVENT_SEND_REJECTED, &event), 1);
    CHECK_EQ(event.code, IMR_REJECT_NOT_MEMBER);

    CHECK_EQ(imr_server_close_session(server, session, 30), IMR_OK);
    imr_server_free(server);
}

static void test_server_durable(void) {
    char dir[] = "/tmp/imr-test-store-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/server.sqlite", dir);
    test_server_exchange(path);
    /* Reopened: the conversation and its message are still there. */
    imr_config *config = NULL;
    imr_server *server = NULL;
    const char *members[] = {"alice"};
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_STORE_PATH, path), IMR_OK);
    REQUIRE_EQ(imr_server_new(config, &server), IMR_OK);
    imr_config_free(config);
    CHECK_EQ(imr_server_create_conversation(server, "general", members, 1), IMR_ERR_EXISTS);
    imr_server_free(server);
    char file[160];
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(file, sizeof file, "%s%s", path, suffixes[i]);
        unlink(file);
    }
    rmdir(dir);
}

/* Frame{version: 1, ping: {nonce}} */
static pb ping_frame(uint64_t nonce) {
    pb body = {{0}, 0}, frame = {{0}, 0};
    pb_varint(&body, 1 << 3 | 0);
    pb_varint(&body, nonce);
    pb_varint(&frame, 1 << 3 | 0);
    pb_varint(&frame, 1);
    pb_bytes(&frame, 19, body.data, body.len);
    return frame;
}

/* Frame{version: 1, add_member: {request_id, conversation, user, role}} */
static pb add_member_frame(uint64_t request, const char *conversation, const char *user, int role) {
    pb body = {{0}, 0}, frame = {{0}, 0};
    pb_varint(&body, 1 << 3 | 0);
    pb_varint(&body, request);
    pb_bytes(&body, 2, conversation, strlen(conversation));
    pb_bytes(&body, 3, user, strlen(user));
    pb_varint(&body, 4 << 3 | 0);
    pb_varint(&body, (uint64_t)role);
    pb_varint(&frame, 1 << 3 | 0);
    pb_varint(&frame, 1);
    pb_bytes(&frame, 23, body.data, body.len);
    return frame;
}

/* Frame{version: 1, create_conversation: {request_id, conversation, members}} */
static pb create_frame(uint64_t request, const char *conversation, const char *const *members, size_t n) {
    pb body = {{0}, 0}, frame = {{0}, 0};
    pb_varint(&body, 1 << 3 | 0);
    pb_varint(&body, request);
    pb_bytes(&body, 2, conversation, strlen(conversation));
    for (size_t i = 0; i < n; i++) pb_bytes(&body, 3, members[i], strlen(members[i]));
    pb_varint(&frame, 1 << 3 | 0);
    pb_varint(&frame, 1);
    pb_bytes(&frame, 22, body.data, body.len);
    return frame;
}

/* Frame{version: 1, delivered: {watermarks: [{conversation, delivered_seq: 1}] x n}} */
static pb delivered_frame(const char *conversation, int n) {
    pb mark = {{0}, 0}, body = {{0}, 0}, frame = {{0}, 0};
    pb_bytes(&mark, 1, conversation, strlen(conversation));
    pb_varint(&mark, 2 << 3 | 0);
    pb_varint(&mark, 1);
    for (int i = 0; i < n; i++) pb_bytes(&body, 1, mark.data, mark.len);
    pb_varint(&frame, 1 << 3 | 0);
    pb_varint(&frame, 1);
    pb_bytes(&frame, 16, body.data, body.len);
    return frame;
}

/* A minimal protobuf reader for the server's replies. */
static const uint8_t *pb_read_varint(const uint8_t *p, const uint8_t *end, uint64_t *v) {
    *v = 0;
    for (int shift = 0; p < end && shift < 64; shift += 7) {
        uint8_t b = *p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return p;
    }
    return NULL;
}

/* Finds `field` in the message p[0, n): 1 with its bytes (length-delimited) or its value
 * (varint), 0 when absent (proto3 leaves out a varint that is 0) or unreadable. */
static int pb_field(const uint8_t *p, size_t n, unsigned field, const uint8_t **bytes, size_t *len,
                    uint64_t *value) {
    const uint8_t *end = p + n;
    while (p < end) {
        uint64_t key, v;
        if (!(p = pb_read_varint(p, end, &key))) return 0;
        switch (key & 7) {
        case 0:
            if (!(p = pb_read_varint(p, end, &v))) return 0;
            if (key >> 3 == field) {
                if (value) *value = v;
                return 1;
            }
            break;
        case 1:
            if (end - p < 8) return 0;
            p += 8;
            break;
        case 2:
            if (!(p = pb_read_varint(p, end, &v)) || v > (uint64_t)(end - p)) return 0;
            if (key >> 3 == field) {
                if (bytes) *bytes = p;
                if (len) *len = (size_t)v;
                return 1;
            }
            p += v;
            break;
        case 5:
            if (end - p < 4) return 0;
            p += 4;
            break;
        default:
            return 0;
        }
    }
    return 0;
}

/* The frame fields of proto/imr.proto these tests look for. */
enum { FRAME_PONG = 20, FRAME_ERROR = 21, FRAME_CONVERSATION_RESULT = 25 };
/* ResultCode of a ConversationResult (proto/imr.proto): the header does not mirror it. */
enum { RESULT_OK = 0, RESULT_NOT_OWNER = 5 };

/* What the server sent to one session: its frames by kind, closes, and the code of the
 * last ConversationResult (-1 when none). */
typedef struct {
    int frames, closes, pongs, errors, results, result_code;
} replies;

static replies drain_replies(imr_server *server, uint64_t session) {
    replies r = {0, 0, 0, 0, 0, -1};
    uint64_t s = 0;
    const uint8_t *frame = NULL;
    size_t len = 0;
    int closing = 0;
    while (imr_server_poll_output(server, &s, &frame, &len, &closing) == 1) {
        if (s != session) continue;
        if (closing) {
            r.closes++;
            continue;
        }
        r.frames++;
        const uint8_t *body = NULL;
        size_t body_len = 0;
        uint64_t code = 0;
        if (pb_field(frame, len, FRAME_PONG, NULL, NULL, NULL)) r.pongs++;
        if (pb_field(frame, len, FRAME_ERROR, NULL, NULL, NULL)) r.errors++;
        if (pb_field(frame, len, FRAME_CONVERSATION_RESULT, &body, &body_len, NULL)) {
            r.results++;
            r.result_code = pb_field(body, body_len, 3, NULL, NULL, &code) ? (int)code : RESULT_OK;
        }
    }
    return r;
}

/* A new server from `config` (freed), with a token per user ("<user>-token"). */
static imr_server *server_with_tokens(imr_config *config) {
    imr_server *server = NULL;
    CHECK_EQ(imr_server_new(config, &server), IMR_OK);
    imr_config_free(config);
    if (!server) return NULL;
    static const char *users[] = {"alice", "bob", "carol"};
    char token[32];
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++) {
        snprintf(token, sizeof token, "%s-token", users[i]);
        CHECK_EQ(imr_server_add_token(server, token, users[i], 0), IMR_OK);
    }
    return server;
}

/* Opens a session authenticated with `token` and drains its welcome. */
static uint64_t authenticated_session(imr_server *server, const char *token, uint64_t node, uint64_t now) {
    uint64_t session = 0;
    CHECK_EQ(imr_server_open_session(server, &session, now), IMR_OK);
    pb hello = hello_frame(token, node);
    CHECK_EQ(imr_server_handle_frame(server, session, hello.data, hello.len, now), IMR_OK);
    replies r = drain_replies(server, session);
    CHECK_EQ(r.frames, 1);
    CHECK_EQ(r.closes, 0);
    return session;
}

/* "josé" composed (U+00E9) and decomposed ("e" + U+0301). */
#define NAME_NFC "jos\xc3\xa9"
#define NAME_NFD "jose\xcc\x81"

static void test_server_roles(void) {
    imr_config *config = NULL;
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    imr_server *server = server_with_tokens(config);
    REQUIRE(server != NULL);
    const char *members[] = {"alice", "bob"};
    int role = 77;
    CHECK_EQ(imr_server_create_conversation(server, "team", members, 2), IMR_OK);

    /* member_role: arguments, and the roles of an admin-created conversation (no owner). */
    CHECK_EQ(imr_server_member_role(NULL, "team", "alice", &role), IMR_ERR_NULL);
    CHECK_EQ(imr_server_member_role(server, NULL, "alice", &role), IMR_ERR_NULL);
    CHECK_EQ(imr_server_member_role(server, "team", NULL, &role), IMR_ERR_NULL);
    CHECK_EQ(imr_server_member_role(server, "team", "alice", NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_server_member_role(server, "", "alice", &role), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_member_role(server, "team", "\xff", &role), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_member_role(server, "nope", "alice", &role), IMR_ERR_NOT_FOUND);
    CHECK_EQ(imr_server_member_role(server, "team", "carol", &role), IMR_ERR_NOT_FOUND);
    CHECK_EQ(role, 77); /* out-parameters are written only on success */
    CHECK_EQ(imr_server_member_role(server, "team", "alice", &role), IMR_OK);
    CHECK_EQ(role, IMR_ROLE_MEMBER);

    /* set_role: arguments; a failed call changes nothing. */
    CHECK_EQ(imr_server_set_role(NULL, "team", "alice", IMR_ROLE_OWNER), IMR_ERR_NULL);
    CHECK_EQ(imr_server_set_role(server, NULL, "alice", IMR_ROLE_OWNER), IMR_ERR_NULL);
    CHECK_EQ(imr_server_set_role(server, "team", NULL, IMR_ROLE_OWNER), IMR_ERR_NULL);
    CHECK_EQ(imr_server_set_role(server, "team", "alice", 2), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_set_role(server, "team", "alice", -1), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_set_role(server, "team", "dave", 2), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_member_role(server, "team", "dave", &role), IMR_ERR_NOT_FOUND);
    CHECK_EQ(imr_server_set_role(server, "nope", "alice", IMR_ROLE_OWNER), IMR_ERR_NOT_FOUND);
    CHECK_EQ(imr_server_set_role(server, "", "alice", IMR_ROLE_OWNER), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_set_role(server, "team", "", IMR_ROLE_OWNER), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_member_role(server, "team", "alice", &role), IMR_OK);
    CHECK_EQ(role, IMR_ROLE_MEMBER);

    /* alice becomes the owner; carol is added as an owner, then made a member. */
    CHECK_EQ(imr_server_set_role(server, "team", "alice", IMR_ROLE_OWNER), IMR_OK);
    CHECK_EQ(imr_server_member_role(server, "team", "alice", &role), IMR_OK);
    CHECK_EQ(role, IMR_ROLE_OWNER);
    CHECK_EQ(imr_server_set_role(server, "team", "alice", IMR_ROLE_OWNER), IMR_OK); /* idempotent */
    CHECK_EQ(imr_server_set_role(server, "team", "carol", IMR_ROLE_OWNER), IMR_OK);
    CHECK_EQ(imr_server_member_role(server, "team", "carol", &role), IMR_OK);
    CHECK_EQ(role, IMR_ROLE_OWNER);
    imr_event event;
    int changes = 0;
    while (imr_server_poll_event(server, &event) == 1) {
        if (event.kind != IMR_EVENT_MEMBERSHIP_CHANGED) continue;
        changes++;
        CHECK(strcmp(event.conversation, "team") == 0);
    }
    CHECK(changes >= 2); /* the creation, carol's arrival */
    CHECK_EQ(imr_server_set_role(server, "team", "carol", IMR_ROLE_MEMBER), IMR_OK);
    CHECK_EQ(imr_server_member_role(server, "team", "carol", &role), IMR_OK);
    CHECK_EQ(role, IMR_ROLE_MEMBER);
    CHECK_EQ(imr_server_member_role(server, "team", "bob", &role), IMR_OK);
    CHECK_EQ(role, IMR_ROLE_MEMBER);
    /* Removing a member drops its role. */
    CHECK_EQ(imr_server_remove_member(server, "team", "carol"), IMR_OK);
    CHECK_EQ(imr_server_member_role(server, "team", "carol", &role), IMR_ERR_NOT_FOUND);

    /* By frame: bob (a member, not an owner) may not add; alice (the owner) may. */
    uint64_t now = 100;
    uint64_t bob = authenticated_session(server, "bob-token", 0xB0B, now);
    uint64_t alice = authenticated_session(server, "alice-token", 0xA11CE, now);
    pb add = add_member_frame(7, "team", "erin", IMR_ROLE_MEMBER);
    CHECK_EQ(imr_server_handle_frame(server, bob, add.data, add.len, ++now), IMR_OK);
    replies r = drain_replies(server, bob);
    CHECK_EQ(r.results, 1);
    CHECK_EQ(r.result_code, RESULT_NOT_OWNER);
    CHECK_EQ(r.closes, 0);
    CHECK_EQ(imr_server_member_role(server, "team", "erin", &role), IMR_ERR_NOT_FOUND);
    add = add_member_frame(8, "team", "bob", IMR_ROLE_OWNER);
    CHECK_EQ(imr_server_handle_frame(server, bob, add.data, add.len, ++now), IMR_OK);
    CHECK_EQ(drain_replies(server, bob).result_code, RESULT_NOT_OWNER);
    CHECK_EQ(imr_server_member_role(server, "team", "bob", &role), IMR_OK);
    CHECK_EQ(role, IMR_ROLE_MEMBER);

    add = add_member_frame(9, "team", "erin", IMR_ROLE_MEMBER);
    CHECK_EQ(imr_server_handle_frame(server, alice, add.data, add.len, ++now), IMR_OK);
    r = drain_replies(server, alice);
    CHECK_EQ(r.results, 1);
    CHECK_EQ(r.result_code, RESULT_OK);
    CHECK_EQ(imr_server_member_role(server, "team", "erin", &role), IMR_OK);
    CHECK_EQ(role, IMR_ROLE_MEMBER);
    /* An owner grants ownership; the new owner may then add. */
    add = add_member_frame(10, "team", "bob", IMR_ROLE_OWNER);
    CHECK_EQ(imr_server_handle_frame(server, alice, add.data, add.len, ++now), IMR_OK);
    CHECK_EQ(drain_replies(server, alice).result_code, RESULT_OK);
    CHECK_EQ(imr_server_member_role(server, "team", "bob", &role), IMR_OK);
    CHECK_EQ(role, IMR_ROLE_OWNER);
    add = add_member_frame(11, "team", "frank", IMR_ROLE_MEMBER);
    CHECK_EQ(imr_server_handle_frame(server, bob, add.data, add.len, ++now), IMR_OK);
    CHECK_EQ(drain_replies(server, bob).result_code, RESULT_OK);
    CHECK_EQ(imr_server_member_role(server, "team", "frank", &role), IMR_OK);

    /* A client that creates a conversation by frame is its first owner. */
    const char *with[] = {"erin"};
    pb create = create_frame(12, "club", with, 1);
    CHECK_EQ(imr_server_handle_frame(server, bob, create.data, create.len, ++now), IMR_OK);
    CHECK_EQ(drain_replies(server, bob).result_code, RESULT_OK);
    CHECK_EQ(imr_server_member_role(server, "club", "bob", &role), IMR_OK);
    CHECK_EQ(role, IMR_ROLE_OWNER);
    CHECK_EQ(imr_server_member_role(server, "club", "erin", &role), IMR_OK);
    CHECK_EQ(role, IMR_ROLE_MEMBER);
    imr_server_free(server);
}

/* A session whose unwritten output passes the soft limit has its requests parked until
 * the backlog drains; past the hard limit it is closed. */
static void test_server_backlog(void) {
    imr_config *config = NULL;
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_OUTBOUND_SOFT_BYTES, 4096), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_OUTBOUND_HARD_BYTES, 65536), IMR_OK);
    imr_server *server = server_with_tokens(config);
    REQUIRE(server != NULL);
    uint64_t now = 10;
    uint64_t session = authenticated_session(server, "alice-token", 1, now);

    CHECK_EQ(imr_server_input_paused(NULL, session), IMR_ERR_NULL);
    CHECK_EQ(imr_server_input_paused(server, 999999), 0);
    CHECK_EQ(imr_server_input_paused(server, session), 0);
    CHECK_EQ(imr_server_set_backlog(NULL, session, 0, now), IMR_ERR_NULL);
    CHECK_EQ(imr_server_set_backlog(server, session, (uint64_t)INT64_MAX + 1, now), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_set_backlog(server, session, UINT64_MAX, now), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_set_backlog(server, session, 0, IMR_MAX_TIME_MS + 1), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_set_backlog(server, 999999, 1 << 20, now), IMR_OK); /* unknown: ignored */
    /* Below the soft limit a request is answered at once. */
    CHECK_EQ(imr_server_set_backlog(server, session, 4000, now), IMR_OK);
    pb ping = ping_frame(1);
    CHECK_EQ(imr_server_handle_frame(server, session, ping.data, ping.len, ++now), IMR_OK);
    CHECK_EQ(drain_replies(server, session).pongs, 1);

    /* Above it: parked, no reply, input paused, even after the timers ran. */
    CHECK_EQ(imr_server_set_backlog(server, session, 5000, ++now), IMR_OK);
    ping = ping_frame(2);
    CHECK_EQ(imr_server_handle_frame(server, session, ping.data, ping.len, ++now), IMR_OK);
    CHECK_EQ(drain_replies(server, session).frames, 0);
    CHECK_EQ(imr_server_input_paused(server, session), 1);
    CHECK_EQ(imr_server_handle_timeout(server, ++now), IMR_OK);
    CHECK_EQ(drain_replies(server, session).frames, 0);
    CHECK_EQ(imr_server_input_paused(server, session), 1);

    /* Written out: the reply comes and input resumes. */
    CHECK_EQ(imr_server_set_backlog(server, session, 0, ++now), IMR_OK);
    CHECK_EQ(imr_server_handle_timeout(server, ++now), IMR_OK);
    replies r = drain_replies(server, session);
    CHECK_EQ(r.pongs, 1);
    CHECK_EQ(r.closes, 0);
    CHECK_EQ(imr_server_input_paused(server, session), 0);

    /* Past the hard limit: an error frame and a close. */
    CHECK_EQ(imr_server_set_backlog(server, session, 70000, ++now), IMR_OK);
    r = drain_replies(server, session);
    CHECK_EQ(r.errors, 1);
    CHECK_EQ(r.closes, 1);
    CHECK_EQ(imr_server_input_paused(server, session), 0);
    CHECK_EQ(imr_server_set_backlog(server, session, 0, ++now), IMR_OK); /* closed: ignored */
    imr_server_free(server);

    /* A soft limit above the hard one (set or default) is refused. */
    imr_server *bad = NULL;
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_OUTBOUND_SOFT_BYTES, 2000), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_OUTBOUND_HARD_BYTES, 1000), IMR_OK);
    CHECK_EQ(imr_server_new(config, &bad), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_OUTBOUND_SOFT_BYTES, 1000), IMR_OK);
    CHECK_EQ(imr_server_new(config, &bad), IMR_OK);
    imr_server_free(bad);
    bad = NULL;
    imr_config_free(config);
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_OUTBOUND_SOFT_BYTES, 16u << 20), IMR_OK);
    CHECK_EQ(imr_server_new(config, &bad), IMR_ERR_INVALID_ARG);
    CHECK(bad == NULL);
    imr_config_free(config);
}

/* The request budget: requests beyond the burst wait for their tokens; 0 turns it off. */
static void test_server_request_budget(void) {
    imr_config *config = NULL;
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_REQUEST_RATE_BURST, 1), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_REQUEST_RATE_PER_SECOND, 1), IMR_OK);
    imr_server *server = server_with_tokens(config);
    REQUIRE(server != NULL);
    uint64_t session = authenticated_session(server, "alice-token", 1, 100);
    pb ping = ping_frame(1);
    CHECK_EQ(imr_server_handle_frame(server, session, ping.data, ping.len, 100), IMR_OK);
    CHECK_EQ(drain_replies(server, session).pongs, 1);
    CHECK_EQ(imr_server_handle_frame(server, session, ping.data, ping.len, 100), IMR_OK);
    CHECK_EQ(drain_replies(server, session).frames, 0);
    CHECK_EQ(imr_server_input_paused(server, session), 1);
    uint64_t deadline = 0;
    CHECK_EQ(imr_server_next_timeout(server, &deadline), 1);
    CHECK(deadline > 100 && deadline <= 1100);
    CHECK_EQ(imr_server_handle_timeout(server, 1100), IMR_OK);
    CHECK_EQ(drain_replies(server, session).pongs, 1);
    CHECK_EQ(imr_server_input_paused(server, session), 0);
    imr_server_free(server);

    /* Off: 600 requests at one instant (beyond the default burst) are all answered. */
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_REQUEST_RATE_BURST, 0), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_REQUEST_RATE_PER_SECOND, 1), IMR_OK);
    server = server_with_tokens(config);
    REQUIRE(server != NULL);
    session = authenticated_session(server, "alice-token", 1, 100);
    int pongs = 0;
    for (int i = 0; i < 600; i++) {
        CHECK_EQ(imr_server_handle_frame(server, session, ping.data, ping.len, 100), IMR_OK);
        pongs += drain_replies(server, session).pongs;
    }
    CHECK_EQ(pongs, 600);
    CHECK_EQ(imr_server_input_paused(server, session), 0);
    imr_server_free(server);
}

/* IMR_CONFIG_MAX_HELLO_BYTES, IMR_CONFIG_MAX_MEMBERS_PER_FRAME and
 * IMR_CONFIG_MAX_WATERMARKS_PER_FRAME reach the engine. */
static void test_server_frame_limits(void) {
    char token[101];
    memset(token, 't', 100);
    token[100] = '\0';
    pb hello = hello_frame(token, 1);
    imr_event event;
    for (int limited = 0; limited < 2; limited++) {
        imr_config *config = NULL;
        imr_server *server = NULL;
        uint64_t session = 0;
        REQUIRE_EQ(imr_config_new(&config), IMR_OK);
        if (limited) CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_MAX_HELLO_BYTES, 64), IMR_OK);
        REQUIRE_EQ(imr_server_new(config, &server), IMR_OK);
        imr_config_free(config);
        CHECK_EQ(imr_server_add_token(server, token, "alice", 0), IMR_OK);
        CHECK_EQ(imr_server_open_session(server, &session, 0), IMR_OK);
        CHECK_EQ(imr_server_handle_frame(server, session, hello.data, hello.len, 1), IMR_OK);
        CHECK_EQ(drain_replies(server, session).closes, limited);
        CHECK_EQ(find_event(server, IMR_EVENT_SESSION_AUTHENTICATED, &event), !limited);
        imr_server_free(server);
    }

    imr_config *config = NULL;
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_MAX_MEMBERS_PER_FRAME, 2), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_MAX_WATERMARKS_PER_FRAME, 2), IMR_OK);
    imr_server *server = server_with_tokens(config);
    REQUIRE(server != NULL);
    uint64_t session = authenticated_session(server, "alice-token", 1, 10);
    int role = 0;
    const char *three[] = {"bob", "carol", "dave"};
    pb create = create_frame(1, "big", three, 3);
    CHECK_EQ(imr_server_handle_frame(server, session, create.data, create.len, 11), IMR_OK);
    replies r = drain_replies(server, session);
    CHECK_EQ(r.errors, 1);
    CHECK_EQ(r.results, 0);
    CHECK_EQ(r.closes, 0);
    CHECK_EQ(imr_server_member_role(server, "big", "alice", &role), IMR_ERR_NOT_FOUND);
    create = create_frame(2, "small", three, 1);
    CHECK_EQ(imr_server_handle_frame(server, session, create.data, create.len, 12), IMR_OK);
    CHECK_EQ(drain_replies(server, session).result_code, RESULT_OK);
    CHECK_EQ(imr_server_member_role(server, "small", "alice", &role), IMR_OK);
    pb delivered = delivered_frame("small", 3);
    CHECK_EQ(imr_server_handle_frame(server, session, delivered.data, delivered.len, 13), IMR_OK);
    r = drain_replies(server, session);
    CHECK_EQ(r.errors, 1);
    CHECK_EQ(r.closes, 0);
    delivered = delivered_frame("small", 2);
    CHECK_EQ(imr_server_handle_frame(server, session, delivered.data, delivered.len, 14), IMR_OK);
    CHECK_EQ(drain_replies(server, session).errors, 0);
    imr_server_free(server);
}

/* Identifiers must be in NFC: a decomposed name is refused wherever a name goes in, and
 * changes nothing; the composed one works. */
static void test_server_identifiers_nfc(void) {
    imr_config *config = NULL;
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    imr_server *server = server_with_tokens(config);
    REQUIRE(server != NULL);
    const char *nfd_member[] = {"alice", NAME_NFD};
    const char *nfc_member[] = {"alice", NAME_NFC};
    const char *alice[] = {"alice"};
    int role = 77;
    CHECK_EQ(imr_server_create_conversation(server, NAME_NFD, alice, 1), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_create_conversation(server, "room", nfd_member, 2), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_member_role(server, "room", "alice", &role), IMR_ERR_NOT_FOUND); /* not created */
    CHECK_EQ(imr_server_create_conversation(server, NAME_NFC, alice, 1), IMR_OK);
    CHECK_EQ(imr_server_create_conversation(server, "room", nfc_member, 2), IMR_OK);
    CHECK_EQ(imr_server_member_role(server, "room", NAME_NFC, &role), IMR_OK);
    CHECK_EQ(role, IMR_ROLE_MEMBER);
    /* The decomposed spelling never finds the composed entry. */
    role = 77;
    CHECK_EQ(imr_server_member_role(server, "room", NAME_NFD, &role), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_member_role(server, NAME_NFD, "alice", &role), IMR_ERR_INVALID_ID);
    CHECK_EQ(role, 77);
    CHECK_EQ(imr_server_add_member(server, NAME_NFD, "bob"), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_add_member(server, "room", NAME_NFD), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_remove_member(server, "room", NAME_NFD), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_set_role(server, "room", NAME_NFD, IMR_ROLE_OWNER), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_set_role(server, NAME_NFD, "alice", IMR_ROLE_OWNER), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_member_role(server, "room", NAME_NFC, &role), IMR_OK);
    CHECK_EQ(role, IMR_ROLE_MEMBER);
    CHECK_EQ(imr_server_add_token(server, "jose-token", NAME_NFD, 0), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_server_add_token(server, "jose-token", NAME_NFC, 0), IMR_OK);
    imr_server_free(server);
}

/* ---------------------------------------------------------------- client */

static imr_client *new_client(uint64_t node, const char *token, const char *store) {
    imr_config *config = NULL;
    imr_client *client = NULL;
    CHECK_EQ(imr_config_new(&config), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_NODE_ID, node), IMR_OK);
    CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_TOKEN, token), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_SEED, node * 7919), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_MAX_OFFLINE_AGE_MS, 60000), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_DELIVERED_FLUSH_MS, 0), IMR_OK);
    if (store) CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_STORE_PATH, store), IMR_OK);
    CHECK_EQ(imr_client_new(config, &client), IMR_OK);
    imr_config_free(config);
    return client;
}

/* A client device and its session on the server. */
typedef struct {
    imr_client *client;
    uint64_t session;
    int connected;
} device;

/* Moves frames both ways until nothing moves. */
static void pump(imr_server *server, device *devices, int n, uint64_t now) {
    int moved = 1;
    while (moved) {
        moved = 0;
        for (int i = 0; i < n; i++) {
            const uint8_t *frame;
            size_t len;
            while (devices[i].connected && imr_client_poll_transmit(devices[i].client, &frame, &len) == 1) {
                CHECK_EQ(imr_server_handle_frame(server, devices[i].session, frame, len, now), IMR_OK);
                moved = 1;
            }
        }
        uint64_t session;
        const uint8_t *frame;
        size_t len;
        int closing;
        while (imr_server_poll_output(server, &session, &frame, &len, &closing) == 1) {
            for (int i = 0; i < n; i++) {
                if (devices[i].session != session || !devices[i].connected) continue;
                if (closing) {
                    devices[i].connected = 0;
                    CHECK_EQ(imr_client_disconnected(devices[i].client, now), IMR_OK);
                } else {
                    int r = imr_client_handle_frame(devices[i].client, frame, len, now);
                    CHECK(r == IMR_OK || r == IMR_ERR_PROTOCOL);
                }
                moved = 1;
            }
        }
    }
}

static void connect_device(imr_server *server, device *d, uint64_t now) {
    CHECK_EQ(imr_server_open_session(server, &d->session, now), IMR_OK);
    d->connected = 1;
    CHECK_EQ(imr_client_connected(d->client, now), IMR_OK);
}

/* Counts a client's pending events of `kind`; the last one is copied to *last. */
static int count_events(imr_client *client, int kind, imr_event *last) {
    imr_event e;
    int n = 0;
    while (imr_client_poll_event(client, &e) == 1) {
        if (e.kind == kind) {
            n++;
            if (last) *last = e;
        }
    }
    return n;
}

static void test_client_arguments(void) {
    imr_config *config = NULL;
    imr_client *client = NULL;
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    CHECK_EQ(imr_client_new(NULL, &client), IMR_ERR_NULL);
    CHECK_EQ(imr_client_new(config, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_client_new(config, &client), IMR_ERR_INVALID_ARG); /* no node id */
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_NODE_ID, 42), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_ACK_TIMEOUT_MS, 5000), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_BACKOFF_CAP_MS, 1000), IMR_OK);
    CHECK_EQ(imr_client_new(config, &client), IMR_ERR_INVALID_ARG); /* cap below base */
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_BACKOFF_CAP_MS, 10000), IMR_OK);
    CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_STORE_PATH, "/nonexistent-dir/x/client.sqlite"), IMR_OK);
    CHECK_EQ(imr_client_new(config, &client), IMR_ERR_STORE);
    CHECK(client == NULL);
    CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_STORE_PATH, NULL), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_MAX_PAYLOAD_BYTES, 100), IMR_OK);
    CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_USER_ID, "alice"), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_SENT_RETENTION, 16), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_MAX_BUFFERED, 64), IMR_OK);
    REQUIRE_EQ(imr_client_new(config, &client), IMR_OK);
    imr_config_free(config);
    imr_client_free(NULL);

    uint8_t id[16], other[16] = {0};
    uint8_t big[101];
    memset(big, 'x', sizeof big);
    CHECK_EQ(imr_client_connected(NULL, 0), IMR_ERR_NULL);
    CHECK_EQ(imr_client_disconnected(NULL, 0), IMR_ERR_NULL);
    CHECK_EQ(imr_client_send(NULL, "c", big, 1, id, 0), IMR_ERR_NULL);
    CHECK_EQ(imr_client_send(client, NULL, big, 1, id, 0), IMR_ERR_NULL);
    CHECK_EQ(imr_client_send(client, "c", NULL, 1, id, 0), IMR_ERR_NULL);
    CHECK_EQ(imr_client_send(client, "c", big, 1, NULL, 0), IMR_ERR_NULL);
    CHECK_EQ(imr_client_send(client, "c", big, HUGE_SIZE, id, 0), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_client_send(client, "c", NULL, 0, id, 0), IMR_ERR_INVALID_ARG); /* empty payload */
    CHECK_EQ(imr_client_send(client, "c", big, 101, id, 0), IMR_ERR_TOO_LARGE);
    CHECK_EQ(imr_client_send(client, "", big, 1, id, 0), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_client_send(client, "\xff", big, 1, id, 0), IMR_ERR_INVALID_ID);
    {
        char name[200];
        memset(name, 'n', sizeof name - 1);
        name[sizeof name - 1] = '\0';
        CHECK_EQ(imr_client_send(client, name, big, 1, id, 0), IMR_ERR_TOO_LARGE);
    }
    CHECK_EQ(count_events(client, IMR_EVENT_MESSAGE_SENDING, NULL), 0); /* nothing queued */
    CHECK_EQ(imr_client_send(client, "c", big, 100, id, 1), IMR_OK);
    imr_event e;
    CHECK_EQ(count_events(client, IMR_EVENT_MESSAGE_SENDING, &e), 0); /* send returned the id */

    CHECK_EQ(imr_client_retry(NULL, id, 2), IMR_ERR_NULL);
    CHECK_EQ(imr_client_retry(client, NULL, 2), IMR_ERR_NULL);
    CHECK_EQ(imr_client_retry(client, other, 2), IMR_ERR_NOT_FOUND);
    CHECK_EQ(imr_client_retry(client, id, 2), IMR_ERR_INVALID_STATE);

    CHECK_EQ(imr_client_handle_frame(NULL, big, 1, 3), IMR_ERR_NULL);
    CHECK_EQ(imr_client_handle_frame(client, NULL, 1, 3), IMR_ERR_NULL);
    CHECK_EQ(imr_client_handle_frame(client, big, HUGE_SIZE, 3), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_client_handle_frame(client, (const uint8_t *)"\xff\xff\xff", 3, 3), IMR_ERR_MALFORMED_FRAME);
    CHECK_EQ(imr_client_handle_frame(client, NULL, 0, 3), IMR_ERR_MALFORMED_FRAME);
    {
        /* A hello is a frame the server never sends to a client. */
        pb hello = hello_frame("x", 1);
        CHECK_EQ(imr_client_handle_frame(client, hello.data, hello.len, 3), IMR_ERR_PROTOCOL);
    }

    const uint8_t *frame = NULL;
    size_t len = 0;
    uint64_t deadline = 0, cursor = 99;
    CHECK_EQ(imr_client_poll_transmit(NULL, &frame, &len), IMR_ERR_NULL);
    CHECK_EQ(imr_client_poll_transmit(client, NULL, &len), IMR_ERR_NULL);
    CHECK_EQ(imr_client_poll_transmit(client, &frame, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_client_poll_transmit(client, &frame, &len), 0); /* offline */
    CHECK_EQ(imr_client_poll_event(NULL, &e), IMR_ERR_NULL);
    CHECK_EQ(imr_client_poll_event(client, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_client_next_timeout(NULL, &deadline), IMR_ERR_NULL);
    CHECK_EQ(imr_client_next_timeout(client, NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_client_next_timeout(client, &deadline), 1); /* the offline age timer */
    CHECK_EQ(imr_client_handle_timeout(NULL, 4), IMR_ERR_NULL);
    CHECK_EQ(imr_client_handle_timeout(client, 4), IMR_OK);
    CHECK_EQ(imr_client_probe(NULL, 4), IMR_ERR_NULL);
    CHECK_EQ(imr_client_probe(client, 4), IMR_OK);

    /* outbox */
    imr_outbox_entry entries[4];
    CHECK_EQ(imr_client_outbox(NULL, entries, 4), IMR_ERR_NULL);
    CHECK_EQ(imr_client_outbox(client, entries, HUGE_SIZE), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_client_outbox(client, NULL, 0), 1);
    CHECK_EQ(imr_client_outbox(client, NULL, 4), IMR_ERR_NULL);
    CHECK_EQ(imr_client_outbox(client, entries, 4), 1);
    CHECK(memcmp(entries[0].message_id, id, 16) == 0);
    CHECK_EQ(entries[0].state, IMR_STATE_SENDING);
    CHECK(entries[0].conversation_len == 1 && strcmp(entries[0].conversation, "c") == 0);

    /* timeline */
    imr_message messages[4];
    CHECK_EQ(imr_client_timeline(NULL, "c", IMR_VIEW_LIVE, 0, messages, 4), IMR_ERR_NULL);
    CHECK_EQ(imr_client_timeline(client, NULL, IMR_VIEW_LIVE, 0, messages, 4), IMR_ERR_NULL);
    CHECK_EQ(imr_client_timeline(client, "c", 7, 0, messages, 4), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_client_timeline(client, "c", IMR_VIEW_LIVE, HUGE_SIZE, messages, 4), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_client_timeline(client, "c", IMR_VIEW_LIVE, 0, messages, HUGE_SIZE), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_client_timeline(client, "unknown", IMR_VIEW_LIVE, 0, messages, 4), IMR_ERR_NOT_FOUND);
    CHECK_EQ(imr_client_timeline(client, "", IMR_VIEW_LIVE, 0, messages, 4), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_client_timeline(client, "c", IMR_VIEW_LIVE, 0, NULL, 0), 1);
    CHECK_EQ(imr_client_timeline(client, "c", IMR_VIEW_LIVE, 0, NULL, 4), IMR_ERR_NULL);
    CHECK_EQ(imr_client_timeline(client, "c", IMR_VIEW_LIVE, 1, messages, 4), 1); /* past the end */
    CHECK_EQ(imr_client_timeline(client, "c", IMR_VIEW_HISTORY, 0, messages, 4), 1);
    CHECK(memcmp(messages[0].message_id, id, 16) == 0);
    CHECK_EQ(messages[0].seq, 0);
    CHECK_EQ(messages[0].sender_node, 42);
    CHECK_EQ(messages[0].depth, 1);
    CHECK(messages[0].payload_len == 100 && memcmp(messages[0].payload, big, 100) == 0);
    CHECK(strcmp(messages[0].sender, "alice") == 0);
    {
        imr_clock *clock = NULL;
        uint64_t counter = 0;
        CHECK_EQ(imr_clock_decode(messages[0].clock, messages[0].clock_len, &clock), IMR_OK);
        CHECK_EQ(imr_clock_get(clock, 42, &counter), IMR_OK);
        CHECK_EQ(counter, 1);
        imr_clock_free(clock);
    }

    /* cursor, clock */
    imr_clock *clock = NULL;
    CHECK_EQ(imr_client_cursor(NULL, "c", &cursor), IMR_ERR_NULL);
    CHECK_EQ(imr_client_cursor(client, NULL, &cursor), IMR_ERR_NULL);
    CHECK_EQ(imr_client_cursor(client, "c", NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_client_cursor(client, "", &cursor), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_client_cursor(client, "c", &cursor), IMR_OK);
    CHECK_EQ(cursor, 0);
    CHECK_EQ(imr_client_clock(NULL, "c", &clock), IMR_ERR_NULL);
    CHECK_EQ(imr_client_clock(client, NULL, &clock), IMR_ERR_NULL);
    CHECK_EQ(imr_client_clock(client, "c", NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_client_clock(client, "c", &clock), IMR_OK);
    CHECK_EQ(imr_clock_count(clock), 1);
    imr_clock_free(clock);

    /* Offline too long: failed; retry: sending again with the same id. */
    CHECK_EQ(imr_client_handle_timeout(client, 24ull * 3600 * 1000 + 10), IMR_OK);
    CHECK_EQ(count_events(client, IMR_EVENT_MESSAGE_FAILED, &e), 1);
    CHECK_EQ(e.code, IMR_FAILURE_MAX_OFFLINE_AGE);
    CHECK(memcmp(e.message_id, id, 16) == 0);
    CHECK_EQ(imr_client_outbox(client, entries, 4), 1);
    CHECK(entries[0].state == IMR_STATE_FAILED && entries[0].failure == IMR_FAILURE_MAX_OFFLINE_AGE);
    CHECK_EQ(imr_client_retry(client, id, 24ull * 3600 * 1000 + 20), IMR_OK);
    CHECK_EQ(count_events(client, IMR_EVENT_MESSAGE_SENDING, &e), 1);
    CHECK(memcmp(e.message_id, id, 16) == 0 && strcmp(e.conversation, "c") == 0);
    imr_client_free(client);
}

/* A decomposed conversation name is refused by every client call, before and after the
 * composed spelling is known; the composed one goes through the server. */
static void test_client_identifiers_nfc(void) {
    imr_config *config = NULL;
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    imr_server *server = server_with_tokens(config);
    REQUIRE(server != NULL);
    const char *alice[] = {"alice"};
    CHECK_EQ(imr_server_create_conversation(server, NAME_NFC, alice, 1), IMR_OK);
    device d = {new_client(7, "alice-token", NULL), 0, 0};
    imr_client *client = d.client;
    REQUIRE(client != NULL);
    uint8_t id[16], untouched[16];
    memset(id, 0xAA, sizeof id);
    memcpy(untouched, id, sizeof id);
    imr_message message;
    imr_clock *clock = NULL;
    uint64_t cursor = 99;
    imr_event e;

    CHECK_EQ(imr_client_send(client, NAME_NFD, (const uint8_t *)"x", 1, id, 1), IMR_ERR_INVALID_ID);
    CHECK(memcmp(id, untouched, sizeof id) == 0);
    CHECK_EQ(imr_client_outbox(client, NULL, 0), 0);
    connect_device(server, &d, 2);
    pump(server, &d, 1, 2);
    CHECK_EQ(imr_client_send(client, NAME_NFC, (const uint8_t *)"hola", 4, id, 3), IMR_OK);
    pump(server, &d, 1, 3);
    CHECK_EQ(count_events(client, IMR_EVENT_MESSAGE_SENT, &e), 1);
    CHECK(memcmp(e.message_id, id, 16) == 0 && e.conversation_len == 5 && memcmp(e.conversation, NAME_NFC, 5) == 0);

    memcpy(untouched, id, sizeof id);
    CHECK_EQ(imr_client_send(client, NAME_NFD, (const uint8_t *)"x", 1, id, 4), IMR_ERR_INVALID_ID);
    CHECK(memcmp(id, untouched, sizeof id) == 0);
    CHECK_EQ(imr_client_outbox(client, NULL, 0), 1);
    CHECK_EQ(imr_client_timeline(client, NAME_NFC, IMR_VIEW_LIVE, 0, &message, 1), 1);
    CHECK_EQ(imr_client_timeline(client, NAME_NFD, IMR_VIEW_LIVE, 0, &message, 1), IMR_ERR_INVALID_ID);
    CHECK_EQ(imr_client_cursor(client, NAME_NFD, &cursor), IMR_ERR_INVALID_ID);
    CHECK_EQ(cursor, 99);
    CHECK_EQ(imr_client_cursor(client, NAME_NFC, &cursor), IMR_OK);
    CHECK_EQ(cursor, 1);
    CHECK_EQ(imr_client_clock(client, NAME_NFD, &clock), IMR_ERR_INVALID_ID);
    CHECK(clock == NULL);
    imr_client_free(client);
    imr_server_free(server);
}

/* Reading a timeline view page by page (several page sizes) gives the whole view read at once. */
static void check_timeline_pages(imr_client *client, const char *conversation, int32_t view) {
    enum { CAP = 512 };
    static imr_message whole[CAP], page[CAP];
    static uint8_t ids[CAP][16];
    static uint64_t seqs[CAP];
    imr_ssize n = imr_client_timeline(client, conversation, view, 0, whole, CAP);
    REQUIRE(n > 0 && n <= CAP);
    /* A page's pointers last until the next call: keep what is compared. */
    for (imr_ssize i = 0; i < n; i++) {
        memcpy(ids[i], whole[i].message_id, 16);
        seqs[i] = whole[i].seq;
    }
    const size_t sizes[] = {1, 7, 63, 64, 65, (size_t)n};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int same = 1;
        for (size_t at = 0; at < (size_t)n; at += sizes[s]) {
            imr_ssize total = imr_client_timeline(client, conversation, view, at, page, sizes[s]);
            CHECK_EQ(total, n);
            size_t got = (size_t)n - at < sizes[s] ? (size_t)n - at : sizes[s];
            for (size_t i = 0; i < got; i++) {
                same &= memcmp(page[i].message_id, ids[at + i], 16) == 0 && page[i].seq == seqs[at + i];
            }
        }
        CHECK(same);
    }
}

static void test_client_server(const char *store_dir) {
    imr_config *config = NULL;
    imr_server *server = NULL;
    const char *members[] = {"alice", "bob"};
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    REQUIRE_EQ(imr_server_new(config, &server), IMR_OK);
    imr_config_free(config);
    if (!server) return;
    CHECK_EQ(imr_server_add_token(server, "alice-token", "alice", 0), IMR_OK);
    CHECK_EQ(imr_server_add_token(server, "bob-token", "bob", 0), IMR_OK);
    CHECK_EQ(imr_server_create_conversation(server, "general", members, 2), IMR_OK);

    char path[256];
    if (store_dir) snprintf(path, sizeof path, "%s/alice.sqlite", store_dir);
    device devices[2] = {{new_client(1, "alice-token", store_dir ? path : NULL), 0, 0},
                         {new_client(2, "bob-token", NULL), 0, 0}};
    imr_client *alice = devices[0].client, *bob = devices[1].client;
    imr_event e;
    uint64_t now = 1000;

    connect_device(server, &devices[0], now);
    connect_device(server, &devices[1], now);
    pump(server, devices, 2, now);
    CHECK_EQ(count_events(alice, IMR_EVENT_CONNECTION_READY, NULL), 1);
    CHECK_EQ(count_events(bob, IMR_EVENT_CONNECTION_READY, NULL), 1);

    /* alice -> bob: sent on alice, received on bob, in both timelines. */
    uint8_t id[16];
    CHECK_EQ(imr_client_send(alice, "general", (const uint8_t *)"hello, bob", 10, id, ++now), IMR_OK);
    pump(server, devices, 2, now);
    CHECK_EQ(count_events(alice, IMR_EVENT_MESSAGE_SENT, &e), 1);
    CHECK(memcmp(e.message_id, id, 16) == 0);
    CHECK_EQ(e.seq, 1);
    CHECK(e.server_time_ms > 0);
    CHECK_EQ(count_events(bob, IMR_EVENT_MESSAGE_RECEIVED, &e), 1);
    CHECK(memcmp(e.message_id, id, 16) == 0);
    CHECK_EQ(e.seq, 1);
    CHECK(e.user_len == 5 && strcmp(e.user, "alice") == 0);
    CHECK_EQ(e.node, 1);
    CHECK(e.payload_len == 10 && memcmp(e.payload, "hello, bob", 10) == 0);
    CHECK(strcmp(e.conversation, "general") == 0);
    {
        imr_clock *clock = NULL;
        uint64_t counter = 0;
        CHECK_EQ(imr_clock_decode(e.clock, e.clock_len, &clock), IMR_OK);
        CHECK_EQ(imr_clock_get(clock, 1, &counter), IMR_OK);
        CHECK_EQ(counter, 1);
        imr_clock_free(clock);
    }
    imr_outbox_entry entry;
    CHECK_EQ(imr_client_outbox(alice, &entry, 1), 1);
    CHECK(entry.state == IMR_STATE_SENT && entry.seq == 1);
    uint64_t cursor = 0;
    CHECK_EQ(imr_client_cursor(bob, "general", &cursor), IMR_OK);
    CHECK_EQ(cursor, 1);

    /* bob answers; both histories agree. */
    uint8_t reply[16];
    CHECK_EQ(imr_client_send(bob, "general", (const uint8_t *)"hi alice", 8, reply, ++now), IMR_OK);
    pump(server, devices, 2, now);
    CHECK_EQ(count_events(alice, IMR_EVENT_MESSAGE_RECEIVED, NULL), 1);
    imr_message a_history[2], b_history[2];
    CHECK_EQ(imr_client_timeline(alice, "general", IMR_VIEW_HISTORY, 0, a_history, 2), 2);
    CHECK_EQ(imr_client_timeline(bob, "general", IMR_VIEW_HISTORY, 0, b_history, 2), 2);
    for (int i = 0; i < 2; i++) {
        CHECK(memcmp(a_history[i].message_id, b_history[i].message_id, 16) == 0);
        CHECK_EQ(a_history[i].seq, (uint64_t)(i + 1));
    }
    CHECK(memcmp(a_history[0].message_id, id, 16) == 0 && memcmp(a_history[1].message_id, reply, 16) == 0);
    CHECK(a_history[1].depth > a_history[0].depth);

    /* A connection with a bad token: a fatal server error event. */
    device intruder = {new_client(3, "forged", NULL), 0, 0};
    connect_device(server, &intruder, now);
    pump(server, &intruder, 1, now);
    CHECK_EQ(count_events(intruder.client, IMR_EVENT_SERVER_ERROR, &e), 1);
    CHECK_EQ(e.code, IMR_WIRE_ERROR_AUTH_FAILED);
    CHECK(e.flags & IMR_EVENT_FLAG_FATAL);
    CHECK_EQ(intruder.connected, 0);
    imr_client_free(intruder.client);

    /* alice goes offline, sends, reconnects: the message goes out and is received once. */
    CHECK_EQ(imr_client_disconnected(alice, ++now), IMR_OK);
    CHECK_EQ(imr_server_close_session(server, devices[0].session, now), IMR_OK);
    devices[0].connected = 0;
    CHECK_EQ(imr_client_send(alice, "general", (const uint8_t *)"back soon", 9, id, ++now), IMR_OK);
    pump(server, devices, 2, now);
    CHECK_EQ(count_events(bob, IMR_EVENT_MESSAGE_RECEIVED, NULL), 0);
    if (store_dir) {
        /* Restart alice from her store: the unsent message is still there. */
        imr_client_free(alice);
        alice = devices[0].client = new_client(1, "alice-token", path);
        CHECK_EQ(imr_client_outbox(alice, &entry, 1) >= 1, 1);
    }
    connect_device(server, &devices[0], ++now);
    pump(server, devices, 2, now);
    CHECK_EQ(count_events(bob, IMR_EVENT_MESSAGE_RECEIVED, &e), 1);
    CHECK_EQ(e.seq, 3);
    CHECK(memcmp(e.message_id, id, 16) == 0);
    CHECK(count_events(alice, IMR_EVENT_MESSAGE_SENT, &e) == 1 && e.seq == 3);

    /* Timers and probes keep working on a live connection. */
    uint64_t deadline = 0;
    if (imr_client_next_timeout(alice, &deadline) == 1) {
        CHECK_EQ(imr_client_handle_timeout(alice, deadline), IMR_OK);
    }
    CHECK_EQ(imr_client_probe(bob, ++now), IMR_OK);
    pump(server, devices, 2, now);

    /* A longer conversation read in pages: each page is the same slice of the view. */
    for (int i = 0; i < 150; i++) {
        char text[16];
        int len = snprintf(text, sizeof text, "msg %d", i);
        CHECK_EQ(imr_client_send(i % 3 ? alice : bob, "general", (const uint8_t *)text, (size_t)len, id, ++now), IMR_OK);
        if (i % 5 == 0) pump(server, devices, 2, now);
    }
    pump(server, devices, 2, now);
    for (int d = 0; d < 2; d++) {
        check_timeline_pages(devices[d].client, "general", IMR_VIEW_LIVE);
        check_timeline_pages(devices[d].client, "general", IMR_VIEW_HISTORY);
    }

    imr_client_free(devices[0].client);
    imr_client_free(devices[1].client);
    imr_server_free(server);
}

static void test_client_durable(void) {
    char dir[] = "/tmp/imr-test-client-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    test_client_server(dir);
    char file[320];
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(file, sizeof file, "%s/alice.sqlite%s", dir, suffixes[i]);
        unlink(file);
    }
    /* A file that is not a client store. */
    snprintf(file, sizeof file, "%s/junk.sqlite", dir);
    FILE *f = fopen(file, "wb");
    if (f) {
        for (int i = 0; i < 500; i++) fputs("not sqlite ", f);
        fclose(f);
        imr_config *config = NULL;
        imr_client *client = NULL;
        REQUIRE_EQ(imr_config_new(&config), IMR_OK);
        CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_NODE_ID, 9), IMR_OK);
        CHECK_EQ(imr_config_set_string(config, IMR_CONFIG_STORE_PATH, file), IMR_OK);
        CHECK_EQ(imr_client_new(config, &client), IMR_ERR_STORE);
        imr_config_free(config);
        unlink(file);
    }
    rmdir(dir);
}

/* ---------------------------------------------------------------- time */

/* Times above IMR_MAX_TIME_MS are refused everywhere; at the limit, with the longest
 * timeouts, and with time going backwards, the engines run without trapping. */
static void test_time_limits(void) {
    const uint64_t too_late = IMR_MAX_TIME_MS + 1, max = IMR_MAX_TIME_MS;
    imr_config *config = NULL;
    imr_server *server = NULL;
    REQUIRE_EQ(imr_config_new(&config), IMR_OK);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_ACK_TIMEOUT_MS, too_late), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_config_set_u64(config, IMR_CONFIG_HELLO_TIMEOUT_MS, too_late), IMR_ERR_INVALID_ARG);
    static const int time_keys[] = {
        IMR_CONFIG_ACK_TIMEOUT_MS, IMR_CONFIG_BACKOFF_CAP_MS, IMR_CONFIG_MAX_OFFLINE_AGE_MS, IMR_CONFIG_GAP_GRACE_MS,
        IMR_CONFIG_SYNC_TIMEOUT_MS, IMR_CONFIG_POLL_INTERVAL_MS, IMR_CONFIG_DELIVERED_FLUSH_MS,
        IMR_CONFIG_HELLO_TIMEOUT_MS, IMR_CONFIG_PING_INTERVAL_MS, IMR_CONFIG_IDLE_TIMEOUT_MS,
        IMR_CONFIG_TIMER_GRANULARITY_MS,
    };
    for (size_t i = 0; i < sizeof time_keys / sizeof time_keys[0]; i++) {
        CHECK_EQ(imr_config_set_u64(config, time_keys[i], max), IMR_OK);
    }
    REQUIRE_EQ(imr_server_new(config, &server), IMR_OK);
    imr_config_free(config);
    imr_client *client = new_client(5, "tok", NULL);
    if (!server || !client) return;
    uint64_t session = 0;
    uint8_t id[16];
    const char *members[] = {"alice"};
    CHECK_EQ(imr_server_add_token(server, "tok", "alice", 0), IMR_OK);
    CHECK_EQ(imr_server_create_conversation(server, "g", members, 1), IMR_OK);

    CHECK_EQ(imr_server_set_wall_clock(server, too_late, 0), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_set_wall_clock(server, 0, too_late), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_open_session(server, &session, too_late), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_close_session(server, 1, too_late), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_set_writable(server, 1, 1, too_late), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_handle_frame(server, 1, NULL, 0, too_late), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_handle_stream_error(server, 1, IMR_ERR_STREAM_FAILED, too_late), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_server_handle_timeout(server, UINT64_MAX), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_client_connected(client, too_late), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_client_disconnected(client, too_late), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_client_send(client, "g", (const uint8_t *)"x", 1, id, too_late), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_client_retry(client, id, too_late), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_client_handle_frame(client, NULL, 0, too_late), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_client_handle_timeout(client, UINT64_MAX), IMR_ERR_INVALID_ARG);
    CHECK_EQ(imr_client_probe(client, too_late), IMR_ERR_INVALID_ARG);

    static const uint64_t times[] = {IMR_MAX_TIME_MS, 5000, IMR_MAX_TIME_MS - 1, 0, 7};
    device d = {client, 0, 0};
    CHECK_EQ(imr_server_set_wall_clock(server, max, max), IMR_OK);
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        uint64_t now = times[i], deadline;
        if (!d.connected) connect_device(server, &d, now);
        CHECK_EQ(imr_client_send(client, "g", (const uint8_t *)"x", 1, id, now), IMR_OK);
        pump(server, &d, 1, now);
        if (imr_client_next_timeout(client, &deadline) == 1 && deadline <= max) {
            CHECK_EQ(imr_client_handle_timeout(client, deadline), IMR_OK);
        }
        if (imr_server_next_timeout(server, &deadline) == 1 && deadline <= max) {
            CHECK_EQ(imr_server_handle_timeout(server, deadline), IMR_OK);
        }
        CHECK_EQ(imr_client_handle_timeout(client, max), IMR_OK);
        CHECK_EQ(imr_server_handle_timeout(server, max), IMR_OK);
        CHECK_EQ(imr_client_probe(client, now), IMR_OK);
        pump(server, &d, 1, now);
        count_events(client, IMR_EVENT_NONE, NULL);
        imr_event e;
        while (imr_server_poll_event(server, &e) == 1) {}
    }
    imr_client_free(client);
    imr_server_free(server);
}

/* ---------------------------------------------------------------- event layout */

static void test_event_layout(void) {
    imr_event event;
    memset(&event, 0, sizeof event);
    CHECK_EQ(event.kind, IMR_EVENT_NONE);
    CHECK_EQ(sizeof(imr_event), sizeof(void *) == 8 ? 200 : sizeof(imr_event));
    CHECK_EQ(sizeof event.message_id, 16);
}

int main(void) {
    test_version();
    test_errors();
    test_config();
    test_delimit();
    test_splitter();
    test_clock();
    test_event_layout();
    test_server_arguments();
    test_server_exchange(NULL);
    test_server_durable();
    test_server_roles();
    test_server_backlog();
    test_server_request_budget();
    test_server_frame_limits();
    test_server_identifiers_nfc();
    test_client_arguments();
    test_client_server(NULL);
    test_client_identifiers_nfc();
    test_client_durable();
    test_time_limits();
    if (failures) {
        fprintf(stderr, "test_abi: %d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("test_abi: all %d checks passed\n", checks);
    return 0;
}
