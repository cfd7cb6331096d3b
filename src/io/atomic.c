/* SPDX-License-Identifier: MIT */
/* Atomic file replacement (see atomic.h).
 *
 * The temporary file has one fixed, short name per target: ".gm.tmp-"
 * followed by 16 hex digits of a 64-bit FNV-1a hash of the target's base
 * name, in the target's directory (24 bytes, so any valid target name has
 * a valid temporary name). A save killed midway therefore leaves at most
 * one stale temporary per target, which the next save of that target
 * reuses and renames away: killed saves do not accumulate files.
 *
 * Saves to the same target (or to two targets whose hashes collide) share
 * the temporary file, so the writer holds an exclusive flock on it from
 * opening to the rename (or the removal on failure). A writer that waited
 * for the lock checks that the name still refers to the file it locked
 * (the holder renamed or removed it meanwhile) and opens it anew if not.
 * A killed writer's lock goes with its process. The file is opened
 * without O_EXCL and with O_NOFOLLOW (a symlink at the temporary name is
 * refused, not followed) and truncated once locked; it is created with
 * mode 0666 less the umask, the permissions fopen would give. */
#define _DEFAULT_SOURCE

#include "io/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/internal.h"

#define GM__TMP_PREFIX ".gm.tmp-"
#define GM__TMP_NAME 24   /* the prefix and 16 hex digits */
#define GM__TMP_TRIES 100 /* reopenings after losing the name before giving up */

/* Writes the temporary name for path into tmp (room for path_len + 32). */
static void gm__temp_name(char *tmp, const char *path, size_t path_len)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const size_t dir_len = (size_t)(base - path);
    uint64_t h = 14695981039346656037u; /* FNV-1a */
    for (const char *c = base; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211u;
    (void)path_len;
    memcpy(tmp, path, dir_len);
    snprintf(tmp + dir_len, GM__TMP_NAME + 1, GM__TMP_PREFIX "%016llx", (unsigned long long)h);
}

/* Opens and locks the temporary file: returns the descriptor, or -1 with
 * errno. */
static int gm__open_temp(const char *tmp)
{
    for (int attempt = 0; attempt < GM__TMP_TRIES; attempt++) {
        /* O_NONBLOCK: a FIFO at the name fails rather than blocks (and is
         * refused below with anything else that is not a regular file) */
        int fd = open(tmp, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
        if (fd < 0) return -1;
        int r, e = 0;
        while ((r = flock(fd, LOCK_EX)) != 0 && errno == EINTR) {
        }
        struct stat a, b;
        if (r != 0 || fstat(fd, &a) != 0) {
            e = errno;
        } else if (lstat(tmp, &b) != 0) {
            if (errno != ENOENT) e = errno; /* ENOENT: the holder removed it: anew */
        } else if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
            /* the holder renamed it, and another writer made a new one: anew */
        } else if (!S_ISREG(a.st_mode)) {
            e = EEXIST;
        } else if (ftruncate(fd, 0) != 0) {
            e = errno;
        } else {
            return fd;
        }
        (void)close(fd);
        if (e != 0) {
            errno = e;
            return -1;
        }
    }
    errno = EBUSY;
    return -1;
}

gm_status gm__atomic_open(gm__atomic_file *f, const char *path, const char *fn)
{
    f->fd = -1;
    f->tmp = NULL;
    f->path = path;
    const size_t path_len = strlen(path);
    if (path_len == 0) return gm__set_error(GM_EINVAL, fn, "path must not be empty");
    if (path_len >= SIZE_MAX - 32) return gm__set_error(GM_EINVAL, fn, "path is too long");
    if (path[path_len - 1] == '/')
        return gm__set_error(GM_EIO, fn, "'%s' names a directory, not a file", path);
    /* Only a regular file is replaced: renaming over a symlink would
     * replace the link (not its target), over a device node the node. */
    struct stat sb;
    if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return gm__set_error(GM_EIO, fn,
                             "'%s' exists and is not a regular file (a symlink, directory, "
                             "device or pipe); it is not replaced",
                             path);
    const size_t size = path_len + 32; /* the temporary name, or the directory's */
    f->tmp = gm__malloc(size);
    if (f->tmp == NULL)
        return gm__set_error(GM_ENOMEM, fn, "cannot allocate a file name of %zu bytes", size);
    gm__temp_name(f->tmp, path, path_len);
    f->fd = gm__open_temp(f->tmp);
    if (f->fd < 0) {
        gm_status st = gm__set_error(GM_EIO, fn, "cannot create and lock '%s' (the temporary "
                                                 "file for '%s'): %s",
                                     f->tmp, path, strerror(errno));
        gm__free(f->tmp);
        f->tmp = NULL;
        return st;
    }
    return GM_OK;
}

gm_status gm__atomic_write(gm__atomic_file *f, const void *buf, size_t n, const char *fn)
{
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t k = write(f->fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return gm__set_error(GM_EIO, fn, "cannot write '%s': %s", f->tmp, strerror(errno));
        }
        p += k;
        n -= (size_t)k;
    }
    return GM_OK;
}

/* Syncs the directory holding path, so the rename lasts; best effort: the
 * new file is in place already. buf has room for path. */
static void gm__sync_dir(const char *path, char *buf)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        strcpy(buf, ".");
    } else {
        size_t k = slash == path ? 1 : (size_t)(slash - path);
        memcpy(buf, path, k);
        buf[k] = '\0';
    }
    int fd = open(buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        (void)close(fd);
    }
}

gm_status gm__atomic_commit(gm__atomic_file *f, const char *fn)
{
    gm_status st = GM_OK;
    if (fsync(f->fd) != 0)
        st = gm__set_error(GM_EIO, fn, "cannot sync '%s': %s", f->tmp, strerror(errno));
    /* renamed while the lock is held: a waiting writer then finds the
     * name gone and opens a new file */
    if (st == GM_OK && rename(f->tmp, f->path) != 0)
        st = gm__set_error(GM_EIO, fn, "cannot rename '%s' to '%s': %s", f->tmp, f->path,
                           strerror(errno));
    if (st != GM_OK) {
        gm__atomic_abort(f);
        return st;
    }
    (void)close(f->fd); /* synced and in place: a late close error changes nothing */
    f->fd = -1;
    gm__sync_dir(f->path, f->tmp);
    gm__free(f->tmp);
    f->tmp = NULL;
    return st;
}

void gm__atomic_abort(gm__atomic_file *f)
{
    if (f->tmp != NULL && f->fd >= 0) (void)unlink(f->tmp); /* still locked: ours */
    if (f->fd >= 0) (void)close(f->fd);
    gm__free(f->tmp);
    f->fd = -1;
    f->tmp = NULL;
}
