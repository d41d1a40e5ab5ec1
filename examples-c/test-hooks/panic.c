/*
 * panic.c: the panic boundary. A Rust panic inside the library comes back as PROMRW_PANIC,
 * and the library keeps working afterwards.
 *
 * Needs a library built with the test-only exports, which release builds lack:
 *   cargo build --lib --profile test-hooks --features test-hooks
 * and PROMRW_TEST_HOOKS defined, so that promrw.h declares them:
 *   cc -std=c99 -DPROMRW_TEST_HOOKS -Iinclude examples-c/test-hooks/panic.c \
 *      target/test-hooks/libpromrw.a -lpthread -ldl -lm -o panic
 *
 * Usage: panic (no arguments). Exits 0 when every check passed.
 */
#include <promrw.h>

#include <stdio.h>
#include <string.h>

#ifndef PROMRW_TEST_HOOKS
#error "build with -DPROMRW_TEST_HOOKS against a test-hooks library (see the comment above)"
#endif

int main(void)
{
    int failures = 0;
    int i;

    for (i = 0; i < 2; i++) {
        promrw_status status = promrw_test_force_panic();
        if (status != PROMRW_PANIC) {
            fprintf(stderr, "panic: call %d returned %u, not PROMRW_PANIC\n", i + 1,
                    (unsigned)status);
            failures++;
        }
    }
    if (strcmp(promrw_status_str(PROMRW_PANIC), "panic (internal error)") != 0) {
        fprintf(stderr, "panic: PROMRW_PANIC is named '%s'\n", promrw_status_str(PROMRW_PANIC));
        failures++;
    }
    if (promrw_version() == NULL || promrw_version()[0] == '\0') {
        fprintf(stderr, "panic: the library no longer answers after a panic\n");
        failures++;
    }
    if (failures != 0)
        return 1;
    printf("panic: a forced panic came back as PROMRW_PANIC twice; promrw %s still answers\n",
           promrw_version());
    return 0;
}
