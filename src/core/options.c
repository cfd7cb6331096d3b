/* Checks shared by the functions that fill a caller's options struct. */
#include "core/internal.h"

gm_status gm__check_options_size(const char *fn, const char *name, size_t size, size_t known)
{
    if (size < known || size > 4096)
        return gm__set_error(GM_EINVAL, fn,
                             "%s->size must be in [%zu, 4096] (set it with the _init function), "
                             "got %zu",
                             name, known, size);
    return GM_OK;
}
