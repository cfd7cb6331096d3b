/* SPDX-License-Identifier: MIT */
/* The options structs' versioning rule, in one place: a struct starts with
 * its size; fields are only appended, and a field appended later takes its
 * default when the caller's size does not reach it. So a caller built
 * against an older header (smaller size) is accepted, and a newer caller
 * (larger size) too as long as the fields this library does not know are
 * zero (their "unset" value). */
#include <string.h>

#include "core/internal.h"

#define GM__OPTIONS_MAX 4096 /* no options struct will grow this large */

gm_status gm__check_options_size(const char *fn, const char *name, size_t size, size_t known)
{
    if (size < known || size > GM__OPTIONS_MAX)
        return gm__set_error(GM_EINVAL, fn,
                             "%s->size must be in [%zu, %d] (set it with the _init function), "
                             "got %zu",
                             name, known, GM__OPTIONS_MAX, size);
    return GM_OK;
}

gm_status gm__read_options(const char *fn, const char *name, const void *src, size_t min_size,
                           void *dst, size_t dst_size)
{
    size_t size;
    memcpy(&size, src, sizeof size);
    if (size < min_size || size > GM__OPTIONS_MAX)
        return gm__set_error(GM_EINVAL, fn,
                             "%s->size must be in [%zu, %d] (sizeof the struct, as its _init "
                             "function sets it), got %zu",
                             name, min_size, GM__OPTIONS_MAX, size);
    const unsigned char *tail = src;
    for (size_t i = dst_size; i < size; i++)
        if (tail[i] != 0)
            return gm__set_error(GM_EINVAL, fn,
                                 "%s has non-zero fields past byte %zu that this library "
                                 "(version %s) does not know",
                                 name, dst_size, GM_VERSION_STRING);
    memcpy(dst, src, size < dst_size ? size : dst_size);
    memcpy(dst, &dst_size, sizeof dst_size);
    return GM_OK;
}

gm_status gm__check_options_tear(const char *fn, const char *name, const void *src,
                                 size_t offset, size_t width, const char *field)
{
    size_t size;
    memcpy(&size, src, sizeof size);
    if (size > offset && size < offset + width)
        return gm__set_error(GM_EINVAL, fn,
                             "%s->size %zu ends inside %s->%s (bytes %zu to %zu); the size of "
                             "any version of the struct ends between fields",
                             name, size, name, field, offset, offset + width - 1);
    return GM_OK;
}

gm_status gm__write_options(const char *fn, void *dst, const void *src, size_t known)
{
    size_t size;
    memcpy(&size, dst, sizeof size);
    GM_TRY(gm__check_options_size(fn, "opts", size, known));
    memset(dst, 0, size);
    memcpy(dst, src, known);
    memcpy(dst, &size, sizeof size);
    return GM_OK;
}
