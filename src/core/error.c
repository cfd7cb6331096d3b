/* SPDX-License-Identifier: MIT */
/* Thread-local last-error message and status names. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/internal.h"

#define GM__ERR_CAP 512

static _Thread_local char gm__err_buf[GM__ERR_CAP];

gm_status gm__set_error(gm_status st, const char *fn, const char *fmt, ...)
{
    /* Format into a local buffer first: the arguments may point into the
     * thread-local message itself (a caller adding its own name to a
     * callee's message). */
    char msg[GM__ERR_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* "fn: msg", cut to the buffer */
    size_t k = strlen(fn), m = strlen(msg);
    if (k > GM__ERR_CAP - 3) k = GM__ERR_CAP - 3;
    if (m > GM__ERR_CAP - 3 - k) m = GM__ERR_CAP - 3 - k;
    memcpy(gm__err_buf, fn, k);
    gm__err_buf[k] = ':';
    gm__err_buf[k + 1] = ' ';
    memcpy(gm__err_buf + k + 2, msg, m);
    gm__err_buf[k + 2 + m] = '\0';
    return st;
}

gm_status gm__pass_error(gm_status st, const char *fn)
{
    if (st == GM_OK) return st;
    return gm__set_error(st, fn, "%s", gm__err_buf);
}

gm_status gm__own_error(gm_status st, const char *fn)
{
    const size_t k = strlen(fn);
    if (st == GM_OK || (strncmp(gm__err_buf, fn, k) == 0 && gm__err_buf[k] == ':')) return st;
    return gm__set_error(st, fn, "%s", gm__err_buf);
}

const char *gm_last_error(void) { return gm__err_buf; }

void gm_clear_error(void) { gm__err_buf[0] = '\0'; }

const char *gm_status_string(gm_status status)
{
    switch (status) {
    case GM_OK: return "ok";
    case GM_EINVAL: return "invalid argument";
    case GM_ESHAPE: return "shape mismatch";
    case GM_ENOMEM: return "out of memory";
    case GM_EIO: return "I/O error";
    case GM_EFORMAT: return "bad format";
    case GM_ESTATE: return "wrong state";
    case GM_ENUMERIC: return "numeric error";
    case GM_EVERSION: return "unsupported version";
    case GM_EUNSUPPORTED: return "unsupported";
    case GM_EINTERNAL: return "internal error";
    }
    return "unknown status";
}
