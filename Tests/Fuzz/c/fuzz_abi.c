/* fuzz-abi: the C ABI of libimr.so driven by a script of calls with input-derived
 * arguments, NULL pointers, short buffers, unknown keys and codes, non-UTF-8 and over-long
 * strings, huge sizes and times. Nothing may trap (a trap kills the host process), every
 * call keeps the promises checked in checks.h, and a client and a server are wired
 * together so that calls reach live sessions, not only argument checks.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined against the release libimr.so: the
 * library itself is not instrumented, so this finds traps, misuse at the boundary (bad
 * returns, writes past caller buffers, pointers that are not readable) and heap errors the
 * allocator sees, not coverage inside Swift (the Swift targets cover that). */
#include <string.h>

#include "imr.h"
#include "world.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (long_string[0] == 0) memset(long_string, 'n', sizeof long_string - 1);
    input in = {data, size, 0};
    world w;
    memset(&w, 0, sizeof w);
    w.now = 1000000;
    new_config(&w);
    new_server(&w);
    new_client(&w);
    pump(&w, 2, 0);
    for (int steps = 0; !in_done(&in) && steps < 512; steps++) {
        switch (in_byte(&in) % 12) {
        case 0: config_ops(&w, &in); break;
        case 1: splitter_ops(&w, &in); break;
        case 2: framing_ops(&in); break;
        case 3: clock_ops(&w, &in); break;
        case 4: case 5: client_ops(&w, &in); break;
        case 6: case 7: server_ops(&w, &in); break;
        case 8: case 9: pump(&w, 1 + in_byte(&in) % 3, in_byte(&in) < 64); break;
        case 10: w.now += in_byte(&in) < 200 ? in_byte(&in) * 10u : in_u64(&in) % 100000000u; break;
        default: misc_ops(&in); break;
        }
        drain_events(&w);
    }
    imr_client_free(w.client);
    imr_server_free(w.server);
    imr_splitter_free(w.splitter);
    imr_clock_free(w.clocks[0]);
    imr_clock_free(w.clocks[1]);
    imr_config_free(w.config);
    return 0;
}
