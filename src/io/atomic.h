/* SPDX-License-Identifier: MIT */
/* Replacing a file atomically: write a temporary file in the same
 * directory (".gm.tmp-" and 16 hex digits of a hash of path's base name:
 * one fixed name per target, locked with flock while in use; see
 * atomic.c), fsync it, rename it over path, fsync the directory. Readers
 * (and a process that dies midway) see the old file or the whole new one.
 * Used by the PNG writer and the checkpoint saver. Not installed. */
#ifndef GM_IO_ATOMIC_H
#define GM_IO_ATOMIC_H

#include <stddef.h>

#include <genmodel/core.h>

typedef struct gm__atomic_file {
    int fd;     /* the temporary file, or -1 */
    char *tmp;  /* its name (library-allocated) */
    const char *path;
} gm__atomic_file;

/* Creates (or reuses a killed save's) temporary file for path and locks
 * it, waiting while another save of path holds it (mode 0666 less the
 * umask).
 * GM_EINVAL (empty or absurdly long path), GM_ENOMEM, GM_EIO (also when
 * path exists and is not a regular file: a symlink, directory or device is
 * never replaced), named fn. On failure nothing is left to clean up. */
gm_status gm__atomic_open(gm__atomic_file *f, const char *path, const char *fn);
/* Writes all n bytes (retrying short writes and EINTR); GM_EIO named fn. */
gm_status gm__atomic_write(gm__atomic_file *f, const void *buf, size_t n, const char *fn);
/* Syncs, closes and renames the temporary file over path, then syncs the
 * directory (best effort). On failure the temporary file is removed and
 * path is as it was. Always releases f. */
gm_status gm__atomic_commit(gm__atomic_file *f, const char *fn);
/* Closes and removes the temporary file and releases f. */
void gm__atomic_abort(gm__atomic_file *f);

#endif
