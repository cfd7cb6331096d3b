/* Thread-local last-error message and status names. */
#include <stdarg.h>
#include <stdio.h>

#include "core/internal.h"

#define GM__ERR_CAP 512

static _Thread_local char gm__err_buf[GM__ERR_CAP];

gm_status gm__set_error(gm_status st, const char *fn, const char *fmt, ...)
{
    int n = snprintf(gm__err_buf, sizeof gm__err_buf, "%s: ", fn);
    if (n < 0 || (size_t)n >= sizeof gm__err_buf) return st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(gm__err_buf + n, sizeof gm__err_buf - (size_t)n, fmt, ap);
    va_end(ap);
    return st;
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
