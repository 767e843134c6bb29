/*
 * imr.h — the C ABI of imr, reliable and consistent instant-messaging delivery.
 *
 * This is the one public header of libimr (link with `pkg-config --libs imr`).
 * The Swift core is the implementation; this layer only checks arguments, maps
 * handles and maps errors to codes. See README.md, "The C ABI".
 *
 * Conventions
 *  - Errors. Functions returning `int` or `imr_ssize` return a negative IMR_ERR_*
 *    code on failure and a value >= 0 on success (IMR_OK unless documented otherwise).
 *    imr_strerror() gives the text of any code and never returns NULL;
 *    imr_error_is_fatal() says whether the object (or the connection it serves) must
 *    be discarded. A failed call changes nothing but statistics counters (and a
 *    fatal framing error leaves its splitter failed).
 *  - Out-parameters are written only on success. The one exception is the copy-out
 *    convention below, which reports the needed size on IMR_ERR_BUFFER_TOO_SMALL.
 *  - Copy-out convention: functions taking (uint8_t *buf, size_t cap, size_t *out_len)
 *    write at most `cap` bytes. On success they set *out_len to the bytes written; if
 *    `cap` is too small they write nothing to `buf`, set *out_len to the size needed
 *    and return IMR_ERR_BUFFER_TOO_SMALL. `buf` may be NULL when `cap` is 0 (a size
 *    query).
 *  - Handles. Opaque `imr_<object>` handles are created by imr_<object>_new (or
 *    _decode/_copy) and released exactly once by imr_<object>_free;
 *    imr_<object>_free(NULL) is a no-op. A handle must not be used after its _free.
 *  - Pointers and lengths. A pointer argument may be NULL only where documented (a
 *    data pointer may always be NULL when its length is 0); otherwise NULL gives
 *    IMR_ERR_NULL. A size_t argument above INT64_MAX gives IMR_ERR_INVALID_ARG.
 *    Inputs are borrowed for the duration of the call; imr keeps no pointer to them.
 *    Strings are NUL-terminated UTF-8 and bounded (an identifier longer than its
 *    limit gives IMR_ERR_TOO_LARGE without reading past limit + 1 bytes).
 *  - Identifiers. Conversation and user ids are compared as exact bytes, so they must
 *    be in Unicode NFC: an identifier argument that is not (say "e" followed by U+0301
 *    where U+00E9 is meant) gives IMR_ERR_INVALID_ID. imr never normalizes a name, so
 *    two spellings can never name one conversation; normalize before calling.
 *  - Borrowed outputs. A pointer handed out by a handle (a frame, an event's strings)
 *    stays valid until the next call that takes that handle non-const, or its _free.
 *  - Threads. No callbacks, no globals, no threads of its own. One handle is used by
 *    one thread at a time; different handles are independent. Functions taking no
 *    handle are thread-safe.
 *  - Time is monotonic milliseconds as uint64_t, passed last, at most IMR_MAX_TIME_MS
 *    (a larger `now_ms` gives IMR_ERR_INVALID_ARG; time settings are bounded the same
 *    way). It must not go backwards for one handle: if it does, timers may misfire,
 *    but nothing traps.
 *  - Nothing here aborts the process on bad input: every input is validated and bad
 *    input gets an error code.
 */
#ifndef IMR_H
#define IMR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks every exported declaration (the export list of libimr.so is generated from it). */
#if defined(__GNUC__) || defined(__clang__)
#define IMR_API __attribute__((visibility("default")))
#else
#define IMR_API
#endif

/* ---------------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------------- */

#define IMR_VERSION_MAJOR 0
#define IMR_VERSION_MINOR 1
#define IMR_VERSION_PATCH 0
/* Packed as MAJOR * 10000 + MINOR * 100 + PATCH. */
#define IMR_VERSION_NUM (IMR_VERSION_MAJOR * 10000 + IMR_VERSION_MINOR * 100 + IMR_VERSION_PATCH)

/*
 * The version of the linked library, packed like IMR_VERSION_NUM. Compare it with
 * IMR_VERSION_NUM to detect a header/library mismatch. Never fails.
 */
IMR_API int imr_version(void);

/* ---------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------- */

/* The largest time value (2^62 ms, some 146 million years): engines add timeouts to it
 * without overflow. */
#define IMR_MAX_TIME_MS 4611686018427387904ull

/* Signed size type of the ABI: a count or byte size, or a negative IMR_ERR_* code. */
typedef int64_t imr_ssize;

#define IMR_OK 0
/* A required pointer argument is NULL. */
#define IMR_ERR_NULL (-1)
/* An argument is out of range or of the wrong kind (unknown key, bad enum value). */
#define IMR_ERR_INVALID_ARG (-2)
/* The caller's buffer is too small; the needed size is reported (copy-out convention). */
#define IMR_ERR_BUFFER_TOO_SMALL (-3)
/* A length exceeds a limit: payload, identifier, token, frame, clock entries. */
#define IMR_ERR_TOO_LARGE (-4)
/* An identifier or token is empty, not valid UTF-8, or contains NUL; or a conversation or
 * user id is not in Unicode NFC. */
#define IMR_ERR_INVALID_ID (-5)
/* The bytes are not a valid frame (not protobuf, missing or invalid fields). */
#define IMR_ERR_MALFORMED_FRAME (-6)
/* The frame carries a wire version this library does not speak. */
#define IMR_ERR_UNSUPPORTED_VERSION (-7)
/* A vector clock names a node twice, or a counter would overflow. */
#define IMR_ERR_INVALID_CLOCK (-8)
/* Stream framing: a length prefix over the maximum frame size. Fatal for the stream. */
#define IMR_ERR_FRAME_TOO_LARGE (-9)
/* Stream framing: a length prefix that is not a valid varint. Fatal for the stream. */
#define IMR_ERR_MALFORMED_LENGTH (-10)
/* Stream framing failed earlier; the connection must be reset. Fatal for the stream. */
#define IMR_ERR_STREAM_FAILED (-11)
/* Unknown message id, conversation, session or token. */
#define IMR_ERR_NOT_FOUND (-12)
/* The conversation already exists. */
#define IMR_ERR_EXISTS (-13)
/* The durable store failed: cannot open, not an imr store, corrupt, or I/O error. */
#define IMR_ERR_STORE (-14)
/* An unexpected failure inside imr (a bug). Fatal: free the handle. */
#define IMR_ERR_INTERNAL (-15)
/* The operation is not allowed in the message's current state (retry of a message that
 * has not failed). */
#define IMR_ERR_INVALID_STATE (-16)
/* The server broke the protocol (an ack naming another conversation, an unexpected
 * frame, a bad sync page); the frame changed nothing. */
#define IMR_ERR_PROTOCOL (-17)

/*
 * A static, NUL-terminated English description of `code` (an IMR_ERR_* code or
 * IMR_OK). Never returns NULL: an unknown code gives "unknown error". The string
 * lives as long as the library is loaded; do not free it.
 */
IMR_API const char *imr_strerror(int code);

/*
 * 1 if `code` is fatal: the object that returned it (or the connection it serves)
 * cannot continue and must be discarded — IMR_ERR_FRAME_TOO_LARGE,
 * IMR_ERR_MALFORMED_LENGTH and IMR_ERR_STREAM_FAILED (reset the connection) and
 * IMR_ERR_INTERNAL (free the handle). 0 for every other code, including IMR_OK and
 * values that are not error codes.
 */
IMR_API int imr_error_is_fatal(int code);

/* ---------------------------------------------------------------------------------
 * Configuration
 *
 * A config is a set of typed settings, each named by an IMR_CONFIG_* key; a key that
 * is never set keeps the engine's default. It is read by the constructors that take
 * it and can be freed right after them.
 * ------------------------------------------------------------------------------- */

typedef struct imr_config imr_config;

/* Unsigned integer settings (imr_config_set_u64). Times are milliseconds. */
#define IMR_CONFIG_NODE_ID 1               /* this device's 64-bit node id */
#define IMR_CONFIG_SEED 2                  /* seed of the generator for ids and jitter */
#define IMR_CONFIG_ACK_TIMEOUT_MS 3        /* first retransmission timeout */
#define IMR_CONFIG_BACKOFF_CAP_MS 4        /* largest retransmission timeout */
#define IMR_CONFIG_MAX_ATTEMPTS 5          /* transmissions before a message fails (>= 1) */
#define IMR_CONFIG_MAX_OFFLINE_AGE_MS 6    /* a message waiting offline fails after this */
#define IMR_CONFIG_INFLIGHT_WINDOW 7       /* most unacked sends at once (>= 1) */
#define IMR_CONFIG_GAP_GRACE_MS 8          /* wait for a reordered push before syncing a gap */
#define IMR_CONFIG_SYNC_PAGE_SIZE 9        /* messages asked per sync page (>= 1) */
#define IMR_CONFIG_SYNC_TIMEOUT_MS 10      /* a sync page not answered in this time is retried */
#define IMR_CONFIG_POLL_INTERVAL_MS 11     /* period of the head probe (0 = never) */
#define IMR_CONFIG_MAX_SYNC_PAGES 12       /* most sync pages per conversation per cycle (>= 1) */
#define IMR_CONFIG_DELIVERED_FLUSH_MS 13   /* coalescing delay of delivered watermarks */
#define IMR_CONFIG_HISTORY_ORDER 14        /* IMR_HISTORY_CAUSAL or IMR_HISTORY_ARRIVAL */
#define IMR_CONFIG_MAX_FRAME_BYTES 15      /* largest frame (wire limit, >= 64) */
#define IMR_CONFIG_MAX_PAYLOAD_BYTES 16    /* largest message payload (wire limit, >= 1) */
#define IMR_CONFIG_MAX_IDENTIFIER_BYTES 17 /* longest conversation or user id (>= 1) */
#define IMR_CONFIG_MAX_CLOCK_ENTRIES 18    /* most entries in a vector clock (>= 1) */
#define IMR_CONFIG_MAX_TOKEN_BYTES 19      /* longest auth token (>= 1) */
#define IMR_CONFIG_SENT_RETENTION 20       /* sent messages kept in the outbox query */
#define IMR_CONFIG_MAX_BUFFERED 21         /* out-of-order pushes held per conversation */
#define IMR_CONFIG_MAX_WATERMARKS_PER_FRAME 22 /* most watermarks in one delivered frame
                                                  (wire limit, 1 ... 1048576) */
#define IMR_CONFIG_MAX_MEMBERS_PER_FRAME 23    /* most user ids in one list of a frame: the
                                                  members of a create or of a result (wire
                                                  limit, 1 ... 1048576) */
/* Server settings (unsigned integers; imr_server_new). Keys 1 to 23 and 30 to 42 are the
 * client's (imr_client_new); the limits (15 to 19, 22, 23) apply to both. */
#define IMR_CONFIG_SERVER_MAX_SYNC_PAGE 50   /* most messages per sync page (>= 1) */
#define IMR_CONFIG_SERVER_MAX_INFLIGHT 51    /* unacked-send window announced to clients (>= 1) */
#define IMR_CONFIG_RATE_LIMIT_BURST 52       /* sends per session at once; 0 turns rate limiting off */
#define IMR_CONFIG_RATE_LIMIT_PER_SECOND 53  /* token bucket refill (>= 1) */
#define IMR_CONFIG_MAX_OUTBOUND_FRAMES 54    /* unwritten frames before a session is "behind" (>= 1) */
#define IMR_CONFIG_MAX_OUTBOUND_FRAMES_BEFORE_CLOSE 55 /* ... before it is closed (>= 1) */
#define IMR_CONFIG_HELLO_TIMEOUT_MS 56       /* a session must authenticate within this */
#define IMR_CONFIG_PING_INTERVAL_MS 57       /* ping after this much silence (0 = never) */
#define IMR_CONFIG_IDLE_TIMEOUT_MS 58        /* close after this much silence (0 = never) */
#define IMR_CONFIG_TIMER_GRANULARITY_MS 59   /* how often session timers are checked (>= 1) */
#define IMR_CONFIG_MAX_MEMBERS 60            /* largest membership of a conversation (>= 1) */
#define IMR_CONFIG_SEND_RECEIPTS 61          /* 1: send receipts to other members, 0: do not */
#define IMR_CONFIG_MAX_QUEUED_EVENTS 62      /* events kept for poll_event before dropping (>= 1) */
/* Client and server. */
#define IMR_CONFIG_STORE_DURABILITY 63       /* IMR_DURABILITY_* of the SQLite store */
/* Server budgets per session (imr_server_set_backlog, imr_server_input_paused). Bytes queued
 * toward a session count the engine's queue plus the host's unwritten backlog. */
#define IMR_CONFIG_OUTBOUND_SOFT_BYTES 64     /* past it: no pushes, requests wait unhandled
                                                 (1 ... 2^31-1; at most the hard limit) */
#define IMR_CONFIG_OUTBOUND_HARD_BYTES 65     /* past it the session is closed (1 ... 2^31-1) */
#define IMR_CONFIG_REQUEST_RATE_BURST 66      /* requests other than sends per session at once;
                                                 0 turns the request budget off */
#define IMR_CONFIG_REQUEST_RATE_PER_SECOND 67 /* its token bucket refill (>= 1) */
#define IMR_CONFIG_MAX_PARKED_INPUT_BYTES 68  /* bytes of requests that may wait; past it the
                                                 session is closed (1 ... 2^31-1) */
#define IMR_CONFIG_MAX_HELLO_BYTES 69         /* largest frame before authentication
                                                 (64 ... IMR_LIMIT_MAX_FRAME_BYTES) */
#define IMR_CONFIG_RECEIPT_INTERVAL_MS 70     /* one user's receipts in a conversation are
                                                 coalesced over this; 0: each at once */
#define IMR_CONFIG_RECEIPT_GROUP_LIMIT 71     /* in larger conversations a receipt goes only to
                                                 the members whose messages it covers (>= 1) */
/* Floating-point settings (imr_config_set_double). */
#define IMR_CONFIG_BACKOFF_FACTOR 30       /* timeout multiplier per attempt (>= 1.0) */
#define IMR_CONFIG_JITTER 31               /* relative random spread of timeouts, 0.0 ... 1.0 */
/* String settings (imr_config_set_string). */
#define IMR_CONFIG_TOKEN 40                /* auth token sent in the hello */
#define IMR_CONFIG_STORE_PATH 41           /* SQLite file for durable state (unset = memory) */
#define IMR_CONFIG_USER_ID 42              /* own user id, shown until the welcome names it */

/* Values of IMR_CONFIG_HISTORY_ORDER. */
#define IMR_HISTORY_CAUSAL 0               /* causal order, identical on every device */
#define IMR_HISTORY_ARRIVAL 1              /* arrival order (history = live view) */

/* Values of IMR_CONFIG_STORE_DURABILITY. */
#define IMR_DURABILITY_PROCESS_CRASH 0     /* survives a crash of the process (WAL, sync NORMAL) */
#define IMR_DURABILITY_POWER_LOSS 1        /* survives power loss too (sync FULL; the default) */

/*
 * A config is shared by the engines: each constructor reads the keys that apply to it
 * and ignores the others.
 *
 * Creates a config with every key unset and stores it in *out.
 * Returns IMR_OK, or IMR_ERR_NULL if `out` is NULL.
 * Ownership: the caller owns *out and releases it with imr_config_free.
 */
IMR_API int imr_config_new(imr_config **out);

/* Releases a config. NULL is a no-op. */
IMR_API void imr_config_free(imr_config *config);

/*
 * Sets an unsigned integer setting (an IMR_CONFIG_* key of that type).
 * Returns IMR_OK; IMR_ERR_NULL if `config` is NULL; IMR_ERR_INVALID_ARG if `key` is
 * unknown, not an integer setting, or `value` is out of its range (see the keys).
 */
IMR_API int imr_config_set_u64(imr_config *config, int key, uint64_t value);

/*
 * Sets a floating-point setting. Returns IMR_OK; IMR_ERR_NULL if `config` is NULL;
 * IMR_ERR_INVALID_ARG if `key` is unknown, not a floating-point setting, or `value` is
 * not finite or out of its range.
 */
IMR_API int imr_config_set_double(imr_config *config, int key, double value);

/*
 * Sets a string setting; `value` is copied. A NULL `value` unsets the key (back to the
 * default). Returns IMR_OK; IMR_ERR_NULL if `config` is NULL; IMR_ERR_INVALID_ARG if
 * `key` is unknown or not a string setting; IMR_ERR_TOO_LARGE if `value` is longer
 * than 4096 bytes; IMR_ERR_INVALID_ID if it is empty or not valid UTF-8.
 */
IMR_API int imr_config_set_string(imr_config *config, int key, const char *value);

/* ---------------------------------------------------------------------------------
 * Stream framing
 *
 * On stream transports (TCP) every frame is preceded by its length as a protobuf
 * varint (protobuf's "delimited" format). imr_frame_delimit writes that form; the
 * splitter cuts a received byte stream back into frames, whatever the chunking.
 * ------------------------------------------------------------------------------- */

/* Default and largest maximum frame size of a splitter. */
#define IMR_DEFAULT_MAX_FRAME_BYTES (1 << 20)
#define IMR_LIMIT_MAX_FRAME_BYTES (1 << 30)

/*
 * The size of `frame_len` bytes in delimited form (the varint length prefix plus the
 * frame), or IMR_ERR_TOO_LARGE if that size does not fit an imr_ssize.
 */
IMR_API imr_ssize imr_frame_delimited_size(size_t frame_len);

/*
 * Writes `frame` (one encoded frame, `frame_len` bytes) in delimited form into `buf`,
 * following the copy-out convention. `frame` may be NULL only if `frame_len` is 0;
 * `buf` may overlap `frame`.
 * Returns IMR_OK; IMR_ERR_NULL (`frame`, `buf` or `out_len` NULL where not allowed);
 * IMR_ERR_BUFFER_TOO_SMALL (the needed size in *out_len); IMR_ERR_TOO_LARGE if the
 * delimited size does not fit an imr_ssize.
 */
IMR_API int imr_frame_delimit(const uint8_t *frame, size_t frame_len,
                              uint8_t *buf, size_t cap, size_t *out_len);

/* An incremental splitter of a delimited byte stream into frames. */
typedef struct imr_splitter imr_splitter;

/*
 * Creates a splitter that accepts frames of at most `max_frame_bytes` bytes (0 means
 * IMR_DEFAULT_MAX_FRAME_BYTES) and stores it in *out.
 * Returns IMR_OK; IMR_ERR_NULL if `out` is NULL; IMR_ERR_INVALID_ARG if
 * `max_frame_bytes` exceeds IMR_LIMIT_MAX_FRAME_BYTES.
 * Ownership: the caller owns *out and releases it with imr_splitter_free.
 */
IMR_API int imr_splitter_new(size_t max_frame_bytes, imr_splitter **out);

/* Releases a splitter. NULL is a no-op. */
IMR_API void imr_splitter_free(imr_splitter *splitter);

/*
 * Appends `len` received bytes (copied). Call imr_splitter_next until it returns 0
 * after every push. `data` may be NULL only if `len` is 0.
 * Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_STREAM_FAILED if the splitter failed earlier
 * (fatal); IMR_ERR_TOO_LARGE if more than max_frame_bytes + 16 bytes are already
 * buffered (frames are not being taken out with imr_splitter_next) — nothing is
 * appended then.
 */
IMR_API int imr_splitter_push(imr_splitter *splitter, const uint8_t *data, size_t len);

/*
 * Takes out the next complete frame, if any: on 1, *out_frame and *out_len describe
 * the frame (without its length prefix; *out_frame is non-NULL even for a 0-length
 * frame). The bytes stay valid until the next imr_splitter_push, imr_splitter_next or
 * imr_splitter_free on this splitter.
 * Returns 1 (a frame), 0 (more bytes needed), or a fatal error:
 * IMR_ERR_FRAME_TOO_LARGE (a length prefix over the limit, rejected before its bytes
 * are buffered), IMR_ERR_MALFORMED_LENGTH, IMR_ERR_STREAM_FAILED (failed earlier);
 * after an error the splitter stays failed and the connection must be reset.
 * IMR_ERR_NULL if an argument is NULL.
 */
IMR_API int imr_splitter_next(imr_splitter *splitter, const uint8_t **out_frame, size_t *out_len);

/* Bytes pushed but not yet taken out as frames, or IMR_ERR_NULL. */
IMR_API imr_ssize imr_splitter_buffered(const imr_splitter *splitter);

/* ---------------------------------------------------------------------------------
 * Vector clocks
 *
 * A sparse vector clock (node -> counter) of one conversation. The encoded form is
 * the protobuf message imrpb.VectorClock of proto/imr.proto (canonical: sorted by
 * node, no duplicates, no zero counters).
 * ------------------------------------------------------------------------------- */

typedef struct imr_clock imr_clock;

/* Most entries a clock may hold (the default wire limit). */
#define IMR_CLOCK_MAX_ENTRIES 4096

/* Results of imr_clock_compare. */
#define IMR_ORDER_EQUAL 0      /* same entries */
#define IMR_ORDER_BEFORE 1     /* a happened before b */
#define IMR_ORDER_AFTER 2      /* b happened before a */
#define IMR_ORDER_CONCURRENT 3 /* neither */

/*
 * Creates an empty clock in *out. Returns IMR_OK or IMR_ERR_NULL.
 * Ownership: the caller releases *out with imr_clock_free.
 */
IMR_API int imr_clock_new(imr_clock **out);

/* Creates a copy of `clock` in *out. Returns IMR_OK or IMR_ERR_NULL. */
IMR_API int imr_clock_copy(const imr_clock *clock, imr_clock **out);

/* Releases a clock. NULL is a no-op. */
IMR_API void imr_clock_free(imr_clock *clock);

/*
 * Increments `node`'s entry (inserting it at 1). If `out_counter` is not NULL it
 * receives the new counter.
 * Returns IMR_OK; IMR_ERR_NULL if `clock` is NULL; IMR_ERR_INVALID_CLOCK if the
 * counter is at UINT64_MAX; IMR_ERR_TOO_LARGE if a new entry would exceed
 * IMR_CLOCK_MAX_ENTRIES. On error the clock is unchanged.
 */
IMR_API int imr_clock_increment(imr_clock *clock, uint64_t node, uint64_t *out_counter);

/*
 * Merges `other` into `clock` (entry-wise maximum); they may be the same clock.
 * Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_TOO_LARGE if the result would exceed
 * IMR_CLOCK_MAX_ENTRIES (the clock is unchanged then).
 */
IMR_API int imr_clock_merge(imr_clock *clock, const imr_clock *other);

/*
 * Compares two clocks: IMR_ORDER_BEFORE if `a` happened before `b`, IMR_ORDER_AFTER,
 * IMR_ORDER_EQUAL or IMR_ORDER_CONCURRENT; IMR_ERR_NULL if either is NULL.
 */
IMR_API int imr_clock_compare(const imr_clock *a, const imr_clock *b);

/*
 * Stores `node`'s counter (0 if the clock has no entry for it) in *out_counter.
 * Returns IMR_OK or IMR_ERR_NULL.
 */
IMR_API int imr_clock_get(const imr_clock *clock, uint64_t node, uint64_t *out_counter);

/*
 * Stores the causal depth (the sum of the counters, saturating at UINT64_MAX) in
 * *out_depth. Returns IMR_OK or IMR_ERR_NULL.
 */
IMR_API int imr_clock_depth(const imr_clock *clock, uint64_t *out_depth);

/* The number of entries, or IMR_ERR_NULL. */
IMR_API imr_ssize imr_clock_count(const imr_clock *clock);

/*
 * Stores the entry at `index` (entries are sorted by node, 0 <= index < count) in
 * *out_node and *out_counter. Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_INVALID_ARG if
 * `index` is out of range.
 */
IMR_API int imr_clock_entry(const imr_clock *clock, size_t index,
                            uint64_t *out_node, uint64_t *out_counter);

/*
 * Writes the encoded clock into `buf` (copy-out convention; an empty clock encodes
 * to 0 bytes). Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_BUFFER_TOO_SMALL.
 */
IMR_API int imr_clock_encode(const imr_clock *clock, uint8_t *buf, size_t cap, size_t *out_len);

/*
 * Decodes an encoded clock into a new clock in *out. `bytes` may be NULL only if
 * `len` is 0 (the empty clock). Entries may come in any order; zero counters are
 * dropped.
 * Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_TOO_LARGE (`len` over
 * IMR_DEFAULT_MAX_FRAME_BYTES or more than IMR_CLOCK_MAX_ENTRIES entries);
 * IMR_ERR_MALFORMED_FRAME (not a protobuf VectorClock); IMR_ERR_INVALID_CLOCK (a node
 * named twice). Ownership: the caller releases *out with imr_clock_free.
 */
IMR_API int imr_clock_decode(const uint8_t *bytes, size_t len, imr_clock **out);

/* ---------------------------------------------------------------------------------
 * Events
 *
 * What an engine reports, drained one by one with a poll_event function into a
 * caller-owned imr_event. The layout is fixed (checked below on 64-bit platforms);
 * fields a kind does not use are zero / NULL. The string and byte pointers are
 * borrowed from the handle: valid until the next non-const call on that handle.
 * String fields are also NUL-terminated.
 * ------------------------------------------------------------------------------- */

#define IMR_EVENT_NONE 0

/* Bits of imr_event.flags. */
#define IMR_EVENT_FLAG_FATAL 1u     /* SERVER_ERROR: the server closes the connection */
#define IMR_EVENT_FLAG_HAS_READ 2u  /* RECEIPT: seq_end holds a read watermark */

typedef struct imr_event {
    int32_t kind;               /* IMR_EVENT_* */
    int32_t code;               /* kind-specific code (a failure reason, a peer's error code) */
    uint64_t seq;               /* a message's seq, or the first seq of a range */
    uint64_t seq_end;           /* the last seq of a range, or a head seq */
    uint64_t server_time_ms;    /* the server's time for the message */
    uint64_t node;              /* the sender's device node */
    uint64_t live_index;        /* position in the conversation's live view */
    uint64_t session;           /* server events: the session */
    uint64_t detail_code;       /* a second kind-specific code (the reject code of a failure) */
    uint32_t attempts;          /* transmissions so far */
    uint32_t flags;             /* IMR_EVENT_FLAG_* */
    uint8_t message_id[16];     /* the client message id */
    const char *conversation;   /* conversation id */
    size_t conversation_len;
    const char *user;           /* a user id (the sender, a member) */
    size_t user_len;
    const uint8_t *payload;     /* message payload */
    size_t payload_len;
    const uint8_t *clock;       /* encoded vector clock (imr_clock_decode) */
    size_t clock_len;
    const char *detail;         /* human-readable detail */
    size_t detail_len;
    uint64_t reserved[4];       /* zero; room to grow without changing the size */
} imr_event;

/* Static assertions that work in C99, C11 and C++. */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define IMR_STATIC_ASSERT(cond, name) static_assert(cond, #name)
#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#define IMR_STATIC_ASSERT(cond, name) _Static_assert(cond, #name)
#else
#define IMR_STATIC_ASSERT(cond, name) typedef char imr_static_assert_##name[(cond) ? 1 : -1]
#endif

#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu && SIZE_MAX == 0xFFFFFFFFFFFFFFFFu
IMR_STATIC_ASSERT(sizeof(imr_event) == 200, imr_event_size);
IMR_STATIC_ASSERT(offsetof(imr_event, kind) == 0, imr_event_kind);
IMR_STATIC_ASSERT(offsetof(imr_event, code) == 4, imr_event_code);
IMR_STATIC_ASSERT(offsetof(imr_event, seq) == 8, imr_event_seq);
IMR_STATIC_ASSERT(offsetof(imr_event, seq_end) == 16, imr_event_seq_end);
IMR_STATIC_ASSERT(offsetof(imr_event, server_time_ms) == 24, imr_event_server_time_ms);
IMR_STATIC_ASSERT(offsetof(imr_event, node) == 32, imr_event_node);
IMR_STATIC_ASSERT(offsetof(imr_event, live_index) == 40, imr_event_live_index);
IMR_STATIC_ASSERT(offsetof(imr_event, session) == 48, imr_event_session);
IMR_STATIC_ASSERT(offsetof(imr_event, detail_code) == 56, imr_event_detail_code);
IMR_STATIC_ASSERT(offsetof(imr_event, attempts) == 64, imr_event_attempts);
IMR_STATIC_ASSERT(offsetof(imr_event, flags) == 68, imr_event_flags);
IMR_STATIC_ASSERT(offsetof(imr_event, message_id) == 72, imr_event_message_id);
IMR_STATIC_ASSERT(offsetof(imr_event, conversation) == 88, imr_event_conversation);
IMR_STATIC_ASSERT(offsetof(imr_event, conversation_len) == 96, imr_event_conversation_len);
IMR_STATIC_ASSERT(offsetof(imr_event, user) == 104, imr_event_user);
IMR_STATIC_ASSERT(offsetof(imr_event, user_len) == 112, imr_event_user_len);
IMR_STATIC_ASSERT(offsetof(imr_event, payload) == 120, imr_event_payload);
IMR_STATIC_ASSERT(offsetof(imr_event, payload_len) == 128, imr_event_payload_len);
IMR_STATIC_ASSERT(offsetof(imr_event, clock) == 136, imr_event_clock);
IMR_STATIC_ASSERT(offsetof(imr_event, clock_len) == 144, imr_event_clock_len);
IMR_STATIC_ASSERT(offsetof(imr_event, detail) == 152, imr_event_detail);
IMR_STATIC_ASSERT(offsetof(imr_event, detail_len) == 160, imr_event_detail_len);
IMR_STATIC_ASSERT(offsetof(imr_event, reserved) == 168, imr_event_reserved);
#endif

/* ---------------------------------------------------------------------------------
 * Client engine
 *
 * One engine per device: it keeps the outbox (send states, retransmission, window),
 * the inbox (dedup, gaps, sync, probes) and the timelines. Sans-IO: the host owns the
 * socket and the clock. The driving loop, after EVERY input (connected, disconnected,
 * send, retry, handle_frame, handle_timeout, probe):
 *   1. drain imr_client_poll_transmit and write each frame (delimited with
 *      imr_frame_delimit on a stream);
 *   2. drain imr_client_poll_event;
 *   3. re-arm one timer at imr_client_next_timeout and call imr_client_handle_timeout
 *      when it fires.
 * ------------------------------------------------------------------------------- */

typedef struct imr_client imr_client;

/* States of an own message (outbox entries). */
#define IMR_STATE_SENDING 0  /* not yet acknowledged; retransmitted while connected */
#define IMR_STATE_SENT 1     /* stored by the server as `seq` */
#define IMR_STATE_FAILED 2   /* gave up; imr_client_retry sends it again with the same id */

/* Why a message failed (IMR_EVENT_MESSAGE_FAILED code, imr_outbox_entry.failure). */
#define IMR_FAILURE_NONE 0
#define IMR_FAILURE_ATTEMPTS_EXHAUSTED 1 /* IMR_CONFIG_MAX_ATTEMPTS transmissions went unacked */
#define IMR_FAILURE_MAX_OFFLINE_AGE 2    /* it waited offline longer than IMR_CONFIG_MAX_OFFLINE_AGE_MS */
#define IMR_FAILURE_REJECTED 3           /* the server refused it for good (reject code given) */

/* Client events (imr_client_poll_event). Fields not listed are zero / NULL. */
#define IMR_EVENT_CONNECTION_READY 1      /* the welcome arrived: sends and syncs flow */
#define IMR_EVENT_MESSAGE_SENDING 2       /* message_id, conversation: a failed message was
                                             retried (a new one is sending without an event:
                                             imr_client_send returned its id) */
#define IMR_EVENT_MESSAGE_SENT 3          /* message_id, conversation, seq, server_time_ms */
#define IMR_EVENT_MESSAGE_FAILED 4        /* message_id, conversation, code: IMR_FAILURE_*,
                                             detail_code: IMR_REJECT_* when REJECTED */
#define IMR_EVENT_MESSAGE_RECEIVED 5      /* conversation, seq, message_id, user (sender), node,
                                             payload, clock, live_index */
#define IMR_EVENT_OWN_MESSAGE_CONFIRMED 6 /* conversation, message_id, seq, server_time_ms,
                                             live_index */
#define IMR_EVENT_GAP_OPENED 7            /* conversation, seq ... seq_end are missing */
#define IMR_EVENT_GAP_FILLED 8            /* conversation, seq ... seq_end arrived */
#define IMR_EVENT_SYNC_STARTED 9          /* conversation */
#define IMR_EVENT_SYNC_FINISHED 10        /* conversation */
#define IMR_EVENT_RECEIPT 11              /* conversation, user, seq: delivered watermark,
                                             seq_end: read watermark (flag HAS_READ) */
#define IMR_EVENT_SERVER_ERROR 12         /* code: IMR_WIRE_ERROR_*, detail, flag FATAL */
#define IMR_EVENT_ERROR 13                /* code: IMR_ERR_* of a problem found while running
                                             (a bad sync page, a dropped message), detail */

/* Views of a timeline. */
#define IMR_VIEW_LIVE 0     /* arrival order: nothing shown ever moves */
#define IMR_VIEW_HISTORY 1  /* causal order, identical on every device */

/* One own message, as imr_client_outbox reports it. */
typedef struct imr_outbox_entry {
    uint8_t message_id[16];
    uint64_t seq;               /* the server's seq once sent, else 0 */
    uint64_t server_time_ms;    /* once sent, else 0 */
    int32_t state;              /* IMR_STATE_* */
    int32_t failure;            /* IMR_FAILURE_* when failed, else IMR_FAILURE_NONE */
    uint32_t attempts;          /* transmissions since it was sent or retried */
    uint32_t reject_code;       /* IMR_REJECT_* when failure is IMR_FAILURE_REJECTED */
    const char *conversation;   /* NUL-terminated */
    size_t conversation_len;
} imr_outbox_entry;

/* One message of a timeline, as imr_client_timeline reports it. */
typedef struct imr_message {
    uint8_t message_id[16];
    uint64_t seq;               /* 0 while an own message is not yet sequenced */
    uint64_t server_time_ms;    /* 0 while not sequenced */
    uint64_t sender_node;
    uint64_t depth;             /* causal depth of its clock */
    const char *sender;         /* sender user id, NUL-terminated */
    size_t sender_len;
    const uint8_t *payload;
    size_t payload_len;
    const uint8_t *clock;       /* encoded vector clock (imr_clock_decode) */
    size_t clock_len;
} imr_message;

#if UINTPTR_MAX == 0xFFFFFFFFFFFFFFFFu && SIZE_MAX == 0xFFFFFFFFFFFFFFFFu
IMR_STATIC_ASSERT(sizeof(imr_outbox_entry) == 64, imr_outbox_entry_size);
IMR_STATIC_ASSERT(offsetof(imr_outbox_entry, message_id) == 0, imr_outbox_entry_message_id);
IMR_STATIC_ASSERT(offsetof(imr_outbox_entry, seq) == 16, imr_outbox_entry_seq);
IMR_STATIC_ASSERT(offsetof(imr_outbox_entry, server_time_ms) == 24, imr_outbox_entry_server_time_ms);
IMR_STATIC_ASSERT(offsetof(imr_outbox_entry, state) == 32, imr_outbox_entry_state);
IMR_STATIC_ASSERT(offsetof(imr_outbox_entry, failure) == 36, imr_outbox_entry_failure);
IMR_STATIC_ASSERT(offsetof(imr_outbox_entry, attempts) == 40, imr_outbox_entry_attempts);
IMR_STATIC_ASSERT(offsetof(imr_outbox_entry, reject_code) == 44, imr_outbox_entry_reject_code);
IMR_STATIC_ASSERT(offsetof(imr_outbox_entry, conversation) == 48, imr_outbox_entry_conversation);
IMR_STATIC_ASSERT(offsetof(imr_outbox_entry, conversation_len) == 56, imr_outbox_entry_conversation_len);
IMR_STATIC_ASSERT(sizeof(imr_message) == 96, imr_message_size);
IMR_STATIC_ASSERT(offsetof(imr_message, message_id) == 0, imr_message_message_id);
IMR_STATIC_ASSERT(offsetof(imr_message, seq) == 16, imr_message_seq);
IMR_STATIC_ASSERT(offsetof(imr_message, server_time_ms) == 24, imr_message_server_time_ms);
IMR_STATIC_ASSERT(offsetof(imr_message, sender_node) == 32, imr_message_sender_node);
IMR_STATIC_ASSERT(offsetof(imr_message, depth) == 40, imr_message_depth);
IMR_STATIC_ASSERT(offsetof(imr_message, sender) == 48, imr_message_sender);
IMR_STATIC_ASSERT(offsetof(imr_message, sender_len) == 56, imr_message_sender_len);
IMR_STATIC_ASSERT(offsetof(imr_message, payload) == 64, imr_message_payload);
IMR_STATIC_ASSERT(offsetof(imr_message, payload_len) == 72, imr_message_payload_len);
IMR_STATIC_ASSERT(offsetof(imr_message, clock) == 80, imr_message_clock);
IMR_STATIC_ASSERT(offsetof(imr_message, clock_len) == 88, imr_message_clock_len);
#endif

/*
 * Creates a client engine from `config`: IMR_CONFIG_NODE_ID (required, not 0),
 * IMR_CONFIG_TOKEN, and the client keys; with IMR_CONFIG_STORE_PATH it opens (or
 * creates) that SQLite file and resumes its outbox, clocks, cursors and timelines.
 * The config can be freed afterwards.
 * Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_INVALID_ARG (an unusable configuration, such
 * as no node id or a backoff cap below the ack timeout); IMR_ERR_STORE (the file
 * cannot be opened or is not an imr client store).
 * Ownership: the caller releases *out with imr_client_free.
 */
IMR_API int imr_client_new(const imr_config *config, imr_client **out);

/* Releases a client (closing its store). NULL is a no-op. */
IMR_API void imr_client_free(imr_client *client);

/*
 * A connection to the server is up: queues the hello. After the welcome, unacked
 * messages go out again in their original order, then syncs run.
 * Returns IMR_OK or IMR_ERR_NULL.
 */
IMR_API int imr_client_connected(imr_client *client, uint64_t now_ms);

/*
 * The connection is gone: queued frames are dropped, retransmission and sync timers
 * stop; waiting messages age toward IMR_CONFIG_MAX_OFFLINE_AGE_MS.
 * Returns IMR_OK or IMR_ERR_NULL.
 */
IMR_API int imr_client_disconnected(imr_client *client, uint64_t now_ms);

/*
 * Sends `payload_len` bytes (copied) to `conversation` and writes the new message's
 * 16-byte id into `out_id`. With a store, returns only after the message is committed.
 * It appears at once in the conversation's timeline, and goes out now if connected.
 * Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_INVALID_ID (conversation empty, not UTF-8 or not
 * NFC); IMR_ERR_INVALID_ARG (empty payload); IMR_ERR_TOO_LARGE (conversation id or payload
 * over its limit); IMR_ERR_STORE (nothing was recorded).
 */
IMR_API int imr_client_send(imr_client *client, const char *conversation, const uint8_t *payload,
                            size_t payload_len, uint8_t out_id[16], uint64_t now_ms);

/*
 * Sends a failed message again, with the same id and a fresh attempt budget.
 * Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_NOT_FOUND (no such message in the outbox);
 * IMR_ERR_INVALID_STATE (the message has not failed); IMR_ERR_STORE.
 */
IMR_API int imr_client_retry(imr_client *client, const uint8_t message_id[16], uint64_t now_ms);

/*
 * One frame received from the server (the bytes between two length prefixes).
 * Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_INVALID_ARG (`len` above INT64_MAX); for bad
 * bytes IMR_ERR_MALFORMED_FRAME, IMR_ERR_UNSUPPORTED_VERSION, IMR_ERR_FRAME_TOO_LARGE
 * (fatal: reset the connection), IMR_ERR_TOO_LARGE, IMR_ERR_INVALID_ID or
 * IMR_ERR_INVALID_CLOCK; IMR_ERR_PROTOCOL (a frame that contradicts the protocol);
 * IMR_ERR_STORE. After an error nothing changed; the connection may go on (unless the
 * code is fatal). Drain outputs and events in every case.
 */
IMR_API int imr_client_handle_frame(imr_client *client, const uint8_t *frame, size_t len,
                                    uint64_t now_ms);

/*
 * Runs the timers due at `now_ms` (retransmissions, gap grace, sync timeouts, probes,
 * delivered flushes). Calling it early is harmless. Returns IMR_OK or IMR_ERR_NULL.
 */
IMR_API int imr_client_handle_timeout(imr_client *client, uint64_t now_ms);

/*
 * "The app came to the foreground": probes the head of every conversation now.
 * Returns IMR_OK or IMR_ERR_NULL.
 */
IMR_API int imr_client_probe(imr_client *client, uint64_t now_ms);

/*
 * Takes the next frame to transmit, if any: on 1, *out_frame / *out_len hold one
 * encoded frame (not delimited), valid until the next non-const call on the client.
 * Returns 1, 0 (nothing to send) or IMR_ERR_NULL.
 */
IMR_API int imr_client_poll_transmit(imr_client *client, const uint8_t **out_frame, size_t *out_len);

/*
 * Takes the next event, if any, into *out_event (an IMR_EVENT_* of the client; its
 * pointers are valid until the next non-const call on the client).
 * Returns 1, 0 (none) or IMR_ERR_NULL.
 */
IMR_API int imr_client_poll_event(imr_client *client, imr_event *out_event);

/*
 * Stores when imr_client_handle_timeout should next be called in *out_deadline_ms
 * (possibly early, never late). Returns 1 (a deadline), 0 (no timer armed;
 * *out_deadline_ms untouched) or IMR_ERR_NULL.
 */
IMR_API int imr_client_next_timeout(const imr_client *client, uint64_t *out_deadline_ms);

/*
 * The outbox: recently sent messages (up to IMR_CONFIG_SENT_RETENTION), every unacked
 * one in send order, then failed ones. Writes the first min(cap, count) entries to
 * `entries` (NULL allowed when `cap` is 0); their strings are valid until the next
 * non-const call on the client.
 * Returns the number of entries in the outbox (may exceed `cap`), or IMR_ERR_NULL /
 * IMR_ERR_INVALID_ARG.
 */
IMR_API imr_ssize imr_client_outbox(imr_client *client, imr_outbox_entry *entries, size_t cap);

/*
 * The messages of `conversation` in `view` (IMR_VIEW_LIVE or IMR_VIEW_HISTORY): writes
 * messages offset ... offset + cap - 1 (those that exist) to `messages` (NULL allowed
 * when `cap` is 0); their bytes are valid until the next non-const call on the client.
 * A call costs its page (plus O(log n) to find it in the history), not the conversation.
 * Returns the number of messages in the conversation (may exceed offset + cap);
 * IMR_ERR_NULL; IMR_ERR_INVALID_ARG (bad view, or a size above INT64_MAX);
 * IMR_ERR_NOT_FOUND (a conversation this device does not know);
 * IMR_ERR_INVALID_ID / IMR_ERR_TOO_LARGE (not a possible conversation id: empty, not
 * UTF-8, not NFC, or too long).
 */
IMR_API imr_ssize imr_client_timeline(imr_client *client, const char *conversation, int view,
                                      size_t offset, imr_message *messages, size_t cap);

/*
 * Stores the conversation's cursor (the highest contiguous seq held; 0 when unknown)
 * in *out_cursor. Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_INVALID_ID / IMR_ERR_TOO_LARGE (not
 * a possible conversation id, as for imr_client_timeline).
 */
IMR_API int imr_client_cursor(const imr_client *client, const char *conversation,
                              uint64_t *out_cursor);

/*
 * A copy of the conversation's vector clock on this device (empty when unknown) as a
 * new clock in *out. Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_INVALID_ID /
 * IMR_ERR_TOO_LARGE (not a possible conversation id, as for imr_client_timeline).
 * Ownership: the caller releases *out with imr_clock_free.
 */
IMR_API int imr_client_clock(const imr_client *client, const char *conversation, imr_clock **out);

/* Codes a peer sends (the `code` of some events): the error frame's codes ... */
#define IMR_WIRE_ERROR_UNSPECIFIED 0
#define IMR_WIRE_ERROR_BAD_FRAME 1
#define IMR_WIRE_ERROR_AUTH_FAILED 2
#define IMR_WIRE_ERROR_TOKEN_EXPIRED 3
#define IMR_WIRE_ERROR_NOT_AUTHENTICATED 4
#define IMR_WIRE_ERROR_UNSUPPORTED_VERSION 5
#define IMR_WIRE_ERROR_NOT_MEMBER 6
#define IMR_WIRE_ERROR_UNKNOWN_CONVERSATION 7
#define IMR_WIRE_ERROR_FRAME_TOO_LARGE 8
#define IMR_WIRE_ERROR_INTERNAL_ERROR 9
#define IMR_WIRE_ERROR_RATE_LIMITED 10
/* ... and the send-reject codes. Unknown codes from newer peers pass through. */
#define IMR_REJECT_UNSPECIFIED 0
#define IMR_REJECT_NOT_MEMBER 1
#define IMR_REJECT_UNKNOWN_CONVERSATION 2
#define IMR_REJECT_PAYLOAD_TOO_LARGE 3
#define IMR_REJECT_ID_CONFLICT 4
#define IMR_REJECT_RATE_LIMITED 5
#define IMR_REJECT_INVALID 6
#define IMR_REJECT_SERVER_BUSY 7

/* ---------------------------------------------------------------------------------
 * Server engine
 *
 * The sans-IO server engine, for hosts that embed a server (the reference relay is
 * `imrctl relay`). Per connection: imr_server_open_session, feed each received frame
 * to imr_server_handle_frame (cut with an imr_splitter), imr_server_close_session when
 * the connection ends. After every call drain imr_server_poll_output (frames to write,
 * delimited with imr_frame_delimit; connections to close) and imr_server_poll_event,
 * then re-arm one timer at imr_server_next_timeout and call imr_server_handle_timeout
 * when it fires. Tokens are registered by the host (imr_server_add_token): the HMAC
 * tokens of the relay are not part of the library.
 * ------------------------------------------------------------------------------- */

typedef struct imr_server imr_server;

/* Server events (imr_server_poll_event). Fields not listed are zero / NULL. */
#define IMR_EVENT_SESSION_AUTHENTICATED 101  /* session, user, node (the device) */
#define IMR_EVENT_AUTHENTICATION_FAILED 102  /* session, code: IMR_WIRE_ERROR_* */
#define IMR_EVENT_MESSAGE_ACCEPTED 103       /* conversation, seq, message_id, user (the sender) */
#define IMR_EVENT_DUPLICATE_ACKNOWLEDGED 104 /* conversation, seq, message_id */
#define IMR_EVENT_SEND_REJECTED 105          /* session, message_id, code: IMR_REJECT_* */
#define IMR_EVENT_SESSION_BEHIND 106         /* session: pushes to it stopped (backpressure) */
#define IMR_EVENT_SESSION_RECOVERED 107      /* session: drained, catching up by sync */
#define IMR_EVENT_SESSION_CLOSED 108         /* session, detail: the reason */
#define IMR_EVENT_PROTOCOL_VIOLATION 109     /* session, detail */
#define IMR_EVENT_STORE_FAILURE 110          /* detail */
#define IMR_EVENT_MEMBERSHIP_CHANGED 111     /* conversation; code: the number of members;
                                                payload: the members, each NUL-terminated */

/*
 * Creates a server engine from `config` (IMR_CONFIG_STORE_PATH names a SQLite file
 * for a durable store, otherwise the store is in memory; the limits, the server keys
 * and IMR_CONFIG_STORE_DURABILITY apply; other keys are ignored). No token is
 * registered yet. The config can be freed afterwards.
 * Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_INVALID_ARG (inconsistent limits: a payload
 * limit above the frame limit, or IMR_CONFIG_OUTBOUND_SOFT_BYTES above
 * IMR_CONFIG_OUTBOUND_HARD_BYTES, defaults counted); IMR_ERR_STORE (the file cannot be
 * opened or is not an imr server store).
 * Ownership: the caller releases *out with imr_server_free.
 */
IMR_API int imr_server_new(const imr_config *config, imr_server **out);

/* Releases a server (closing its store). NULL is a no-op. */
IMR_API void imr_server_free(imr_server *server);

/*
 * Registers `token` (copied) as authenticating `user` until `expiry_unix_ms` (wall
 * time, Unix milliseconds; 0 = never expires), replacing an earlier registration of
 * the same token. Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_INVALID_ID (empty or not
 * UTF-8, or `user` not NFC); IMR_ERR_TOO_LARGE (over the token or identifier limit).
 */
IMR_API int imr_server_add_token(imr_server *server, const char *token, const char *user,
                                 uint64_t expiry_unix_ms);

/*
 * Forgets `token`; sessions it authenticated stay authenticated.
 * Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_NOT_FOUND (not registered);
 * IMR_ERR_INVALID_ID / IMR_ERR_TOO_LARGE (not a possible token).
 */
IMR_API int imr_server_remove_token(imr_server *server, const char *token);

/*
 * Sets wall time: `unix_ms` is the Unix time in milliseconds at monotonic `now_ms`.
 * Server times handed out (acks, pushes) and token expiry use it; without it, `now_ms`
 * is taken as wall time. Server time never goes backwards. Returns IMR_OK;
 * IMR_ERR_NULL; IMR_ERR_INVALID_ARG (a time above IMR_MAX_TIME_MS).
 */
IMR_API int imr_server_set_wall_clock(imr_server *server, uint64_t unix_ms, uint64_t now_ms);

/*
 * Creates a conversation with `n_members` members (`members` may be NULL when
 * `n_members` is 0; duplicates count once), all with IMR_ROLE_MEMBER: it has no owner
 * until imr_server_set_role names one.
 * Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_EXISTS; IMR_ERR_INVALID_ID (an id empty, not
 * UTF-8 or not NFC); IMR_ERR_TOO_LARGE (an id over its limit, or more members than
 * IMR_CONFIG_MAX_MEMBERS); IMR_ERR_STORE. On error nothing is created.
 */
IMR_API int imr_server_create_conversation(imr_server *server, const char *conversation,
                                           const char *const *members, size_t n_members);

/*
 * Adds `user` to a conversation with IMR_ROLE_MEMBER (nothing if already a member; its
 * role is kept).
 * Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_NOT_FOUND (no such conversation);
 * IMR_ERR_INVALID_ID (an id empty, not UTF-8 or not NFC); IMR_ERR_TOO_LARGE (an id over
 * its limit, or the conversation is full: IMR_CONFIG_MAX_MEMBERS); IMR_ERR_STORE.
 */
IMR_API int imr_server_add_member(imr_server *server, const char *conversation, const char *user);

/* Removes `user` (and its role) from a conversation (nothing if not a member). Errors as
 * add_member. */
IMR_API int imr_server_remove_member(imr_server *server, const char *conversation,
                                     const char *user);

/* Roles of a conversation's members. Owners add and remove members and grant or take
 * ownership (by frame); any member may leave; other changes get a ConversationResult
 * with code RESULT_NOT_OWNER (proto/imr.proto). A client that creates a conversation
 * by frame is its first owner. */
#define IMR_ROLE_MEMBER 0
#define IMR_ROLE_OWNER 1

/*
 * Sets the role of `user` in a conversation to `role` (IMR_ROLE_MEMBER or
 * IMR_ROLE_OWNER), adding it as a member first if it is not one (the host's calls need
 * no owner).
 * Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_INVALID_ARG (another `role`); IMR_ERR_NOT_FOUND
 * (no such conversation); IMR_ERR_INVALID_ID (an id empty, not UTF-8 or not NFC);
 * IMR_ERR_TOO_LARGE (an id over its limit, or a new member in a full conversation);
 * IMR_ERR_STORE.
 */
IMR_API int imr_server_set_role(imr_server *server, const char *conversation, const char *user,
                                int role);

/*
 * Stores the role of `user` in a conversation (IMR_ROLE_MEMBER or IMR_ROLE_OWNER) in
 * *out_role. Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_NOT_FOUND (no such conversation, or
 * `user` is not a member); IMR_ERR_INVALID_ID / IMR_ERR_TOO_LARGE (not a possible id);
 * IMR_ERR_STORE.
 */
IMR_API int imr_server_member_role(imr_server *server, const char *conversation, const char *user,
                                   int *out_role);

/*
 * Opens a session for a new connection (it must send a hello first) and stores its id
 * (never 0, never reused) in *out_session. Returns IMR_OK or IMR_ERR_NULL.
 */
IMR_API int imr_server_open_session(imr_server *server, uint64_t *out_session, uint64_t now_ms);

/*
 * The connection of `session` ended. Frames still queued for it are discarded. An
 * unknown or already closed session is ignored. Returns IMR_OK or IMR_ERR_NULL.
 */
IMR_API int imr_server_close_session(imr_server *server, uint64_t session, uint64_t now_ms);

/*
 * The host's write buffer for `session` filled up (`writable` 0) or drained (1). While
 * not writable the session gets no pushes and catches up by sync later.
 * Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_INVALID_ARG (`writable` not 0 or 1).
 */
IMR_API int imr_server_set_writable(imr_server *server, uint64_t session, int writable,
                                    uint64_t now_ms);

/*
 * For hosts that write asynchronously: `bytes` is how much of what imr_server_poll_output
 * handed out for `session` is not yet written to the peer (0 once it is all written).
 * Past IMR_CONFIG_OUTBOUND_SOFT_BYTES (with the engine's own queue) the session gets no
 * pushes and its requests wait unhandled; when the backlog shrinks they are handled
 * again. Past IMR_CONFIG_OUTBOUND_HARD_BYTES the session gets an error frame and a
 * close. An unknown or closed session is ignored. Hosts that write synchronously never
 * call it. Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_INVALID_ARG (`bytes` above INT64_MAX).
 */
IMR_API int imr_server_set_backlog(imr_server *server, uint64_t session, uint64_t bytes,
                                   uint64_t now_ms);

/*
 * 1 while `session` has requests waiting for its budgets (outbound bytes, request rate):
 * stop reading its connection until this is 0 again, checking after
 * imr_server_poll_output, imr_server_handle_timeout, imr_server_set_backlog and
 * imr_server_set_writable. 0 otherwise, and for an unknown or closed session;
 * IMR_ERR_NULL if `server` is NULL.
 */
IMR_API int imr_server_input_paused(const imr_server *server, uint64_t session);

/*
 * One frame received on `session` (the bytes between two length prefixes). Bad bytes
 * are the peer's fault, not the caller's: they get an error frame (and a close when
 * fatal) through imr_server_poll_output, and the call still returns IMR_OK. Frames for
 * an unknown or closed session are ignored. `frame` may be NULL only if `len` is 0.
 * Returns IMR_OK; IMR_ERR_NULL; IMR_ERR_INVALID_ARG (`len` above INT64_MAX).
 */
IMR_API int imr_server_handle_frame(imr_server *server, uint64_t session,
                                    const uint8_t *frame, size_t len, uint64_t now_ms);

/*
 * The byte stream of `session` failed (`error` is the fatal code an imr_splitter gave:
 * IMR_ERR_FRAME_TOO_LARGE, IMR_ERR_MALFORMED_LENGTH or IMR_ERR_STREAM_FAILED): the
 * session gets an error frame and is closed. Returns IMR_OK; IMR_ERR_NULL;
 * IMR_ERR_INVALID_ARG (another code).
 */
IMR_API int imr_server_handle_stream_error(imr_server *server, uint64_t session, int error,
                                           uint64_t now_ms);

/*
 * Takes the next output, if any. On 1: *out_session is the session; either
 * *out_close is 0 and *out_frame / *out_len hold one encoded frame to write (not
 * delimited; valid until the next non-const call on the server), or *out_close is 1:
 * close that connection after writing what was polled before (*out_frame NULL,
 * *out_len 0; the session is gone). Returns 1, 0 (nothing to do) or IMR_ERR_NULL.
 */
IMR_API int imr_server_poll_output(imr_server *server, uint64_t *out_session,
                                   const uint8_t **out_frame, size_t *out_len, int *out_close);

/*
 * Takes the next event, if any, into *out_event (an IMR_EVENT_* of the server; its
 * pointers are valid until the next non-const call on the server). Events are
 * informative: ignoring them changes nothing. Returns 1, 0 (none) or IMR_ERR_NULL.
 */
IMR_API int imr_server_poll_event(imr_server *server, imr_event *out_event);

/*
 * Stores the deadline (in the `now_ms` time base) at which imr_server_handle_timeout
 * must be called in *out_deadline_ms. Returns 1 (a deadline), 0 (no timer needed;
 * *out_deadline_ms untouched) or IMR_ERR_NULL.
 */
IMR_API int imr_server_next_timeout(const imr_server *server, uint64_t *out_deadline_ms);

/*
 * Runs the timers due at `now_ms` (hello and idle timeouts, pings) and handles waiting
 * requests the budgets now allow. Calling it early is harmless. Returns IMR_OK or
 * IMR_ERR_NULL.
 */
IMR_API int imr_server_handle_timeout(imr_server *server, uint64_t now_ms);

#ifdef __cplusplus
}
#endif

#endif /* IMR_H */
