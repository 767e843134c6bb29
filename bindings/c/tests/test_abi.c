/*
 * Tests of the imr C ABI: every exported function, NULL for each pointer argument,
 * short buffers, out-of-range sizes, bad frames and bad clocks. Run under valgrind by
 * `make -C bindings/c check` (no errors, no leaks).
 */
#include <imr.h>

#include <limits.h>
#include <stdint.h>
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
        IMR_ERR_STREAM_FAILED,
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
                    codes[i] == IMR_ERR_STREAM_FAILED;
        CHECK_EQ(imr_error_is_fatal(codes[i]), fatal);
    }
    CHECK_EQ(imr_error_is_fatal(1), 0);
    CHECK_EQ(imr_error_is_fatal(INT_MIN), 0);
}

/* ---------------------------------------------------------------- config */

static void test_config(void) {
    imr_config *config = NULL;
    CHECK_EQ(imr_config_new(NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_config_new(&config), IMR_OK);
    CHECK(config != NULL);
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
        CHECK(big != NULL);
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

    CHECK_EQ(imr_splitter_new(0, &s), IMR_OK);
    CHECK(s != NULL);
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
            CHECK(out != NULL);
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
    CHECK_EQ(imr_splitter_new(100, &s), IMR_OK);
    CHECK_EQ(imr_splitter_push(s, (const uint8_t *)"\x65", 1), IMR_OK); /* 101 */
    CHECK_EQ(imr_splitter_next(s, &out, &out_len), IMR_ERR_FRAME_TOO_LARGE);
    CHECK_EQ(imr_error_is_fatal(IMR_ERR_FRAME_TOO_LARGE), 1);
    CHECK_EQ(imr_splitter_next(s, &out, &out_len), IMR_ERR_STREAM_FAILED);
    CHECK_EQ(imr_splitter_push(s, (const uint8_t *)"\x01x", 2), IMR_ERR_STREAM_FAILED);
    imr_splitter_free(s);

    /* A varint longer than 10 bytes. */
    CHECK_EQ(imr_splitter_new(0, &s), IMR_OK);
    {
        uint8_t bad[11];
        memset(bad, 0xFF, sizeof bad);
        CHECK_EQ(imr_splitter_push(s, bad, sizeof bad), IMR_OK);
        int r = imr_splitter_next(s, &out, &out_len);
        CHECK(r == IMR_ERR_MALFORMED_LENGTH || r == IMR_ERR_FRAME_TOO_LARGE);
        CHECK_EQ(imr_error_is_fatal(r), 1);
    }
    imr_splitter_free(s);
    CHECK_EQ(imr_splitter_new(IMR_LIMIT_MAX_FRAME_BYTES, &s), IMR_OK);
    {
        /* 10 bytes whose last carries more than the top bit of a 64-bit value. */
        static const uint8_t bad[10] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02};
        CHECK_EQ(imr_splitter_push(s, bad, sizeof bad), IMR_OK);
        int r = imr_splitter_next(s, &out, &out_len);
        CHECK(r == IMR_ERR_MALFORMED_LENGTH || r == IMR_ERR_FRAME_TOO_LARGE);
    }
    imr_splitter_free(s);

    /* A caller that pushes without taking frames out is stopped, not buffered without bound. */
    CHECK_EQ(imr_splitter_new(100, &s), IMR_OK);
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

/* Appends one protobuf ClockEntry (node, counter) to an encoded VectorClock. */
static size_t put_entry(uint8_t *p, uint64_t node, uint64_t counter) {
    uint8_t entry[32];
    size_t n = 0;
    entry[n++] = 0x09; /* field 1, fixed64 */
    for (int i = 0; i < 8; i++) entry[n++] = (uint8_t)(node >> (8 * i));
    entry[n++] = 0x10; /* field 2, varint */
    do {
        uint8_t b = counter & 0x7F;
        counter >>= 7;
        entry[n++] = counter ? (uint8_t)(b | 0x80) : b;
    } while (counter);
    p[0] = 0x0A; /* field 1, length-delimited */
    p[1] = (uint8_t)n;
    memcpy(p + 2, entry, n);
    return n + 2;
}

static void test_clock(void) {
    imr_clock *a = NULL, *b = NULL, *c = NULL;
    uint64_t v = 0, node = 0;

    CHECK_EQ(imr_clock_new(NULL), IMR_ERR_NULL);
    CHECK_EQ(imr_clock_new(&a), IMR_OK);
    CHECK_EQ(imr_clock_new(&b), IMR_OK);
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
    CHECK_EQ(imr_clock_new(&empty), IMR_OK);
    CHECK_EQ(imr_clock_encode(empty, NULL, 0, &len), IMR_OK);
    CHECK_EQ(len, 0);
    CHECK_EQ(imr_clock_decode(NULL, 0, &d), IMR_OK);
    CHECK_EQ(imr_clock_compare(empty, d), IMR_ORDER_EQUAL);
    imr_clock_free(d);
    d = NULL;
    imr_clock_free(empty);

    /* Bad encodings. */
    CHECK_EQ(imr_clock_decode((const uint8_t *)"\xff\xff\xff", 3, &d), IMR_ERR_MALFORMED_FRAME);
    CHECK_EQ(imr_clock_decode((const uint8_t *)"\x0a\x05\x09", 3, &d), IMR_ERR_MALFORMED_FRAME);
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
        CHECK(many != NULL);
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
        CHECK(big != NULL);
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
    if (failures) {
        fprintf(stderr, "test_abi: %d of %d checks failed\n", failures, checks);
        return 1;
    }
    printf("test_abi: all %d checks passed\n", checks);
    return 0;
}
