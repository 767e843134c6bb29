/*
 * imr.h — the C ABI of imr, reliable and consistent instant-messaging delivery.
 *
 * Conventions (see README.md, "The C ABI"):
 *  - Every function returns a negative IMR_ERR_* code on failure; out-parameters are
 *    written only on success. imr_strerror() never returns NULL.
 *  - Opaque handles are created by imr_<object>_new and released once by imr_<object>_free;
 *    imr_<object>_free(NULL) is a no-op.
 *  - No callbacks, no globals, no threads: one handle is used by one thread at a time.
 *  - Inputs are borrowed for the duration of a call. Pointers handed out by imr_*_poll_*
 *    stay valid until the next mutating call on the same handle.
 *  - Time is monotonic milliseconds as uint64_t, passed last.
 */
#ifndef IMR_H
#define IMR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define IMR_API __attribute__((visibility("default")))
#else
#define IMR_API
#endif

#define IMR_VERSION_MAJOR 0
#define IMR_VERSION_MINOR 1
#define IMR_VERSION_PATCH 0
/* Packed as MAJOR * 10000 + MINOR * 100 + PATCH. */
#define IMR_VERSION_NUM (IMR_VERSION_MAJOR * 10000 + IMR_VERSION_MINOR * 100 + IMR_VERSION_PATCH)

/* Signed size type of the ABI: byte counts, or a negative IMR_ERR_* code. */
typedef int64_t imr_ssize;

/* The runtime version, packed like IMR_VERSION_NUM. */
IMR_API int imr_version(void);

#ifdef __cplusplus
}
#endif

#endif /* IMR_H */
