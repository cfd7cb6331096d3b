/* SPDX-License-Identifier: MIT */
/* Helpers shared by the fuzz targets (not part of the library). */
#ifndef GM_FUZZ_COMMON_H
#define GM_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <genmodel/genmodel.h>

/* Always on, also with NDEBUG: a failed check is a crash the fuzzer keeps. */
#define FUZZ_ASSERT(cond)                                                    \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: FUZZ_ASSERT(%s) failed\n", __FILE__,    \
                    __LINE__, #cond);                                        \
            abort();                                                         \
        }                                                                    \
    } while (0)

/* A status a loader may return for hostile input: GM_OK or a documented
 * error with a message naming the function. GM_EINTERNAL (a library bug)
 * and unknown values abort. */
static inline void fuzz_check_status(const char *fn, gm_status st)
{
    if (st == GM_OK) return;
    if (st != GM_EINVAL && st != GM_ESHAPE && st != GM_ENOMEM && st != GM_EIO &&
        st != GM_EFORMAT && st != GM_ESTATE && st != GM_ENUMERIC && st != GM_EVERSION &&
        st != GM_EUNSUPPORTED) {
        fprintf(stderr, "%s returned %d (%s): %s\n", fn, (int)st, gm_status_string(st),
                gm_last_error());
        abort();
    }
    const char *msg = gm_last_error();
    if (msg == NULL || strstr(msg, fn) == NULL) {
        fprintf(stderr, "%s returned %s with a message not naming it: '%s'\n", fn,
                gm_status_string(st), msg ? msg : "(null)");
        abort();
    }
}

#endif
