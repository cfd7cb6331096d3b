/* Atomic file replacement (see atomic.h). The temporary name is made here
 * rather than by mkstemp, which would create the file 0600: a checkpoint or
 * picture should get the permissions fopen would give it. */
#define _POSIX_C_SOURCE 200809L

#include "io/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"

#define GM__TMP_SUFFIX ".tmp-XXXXXX"
#define GM__TMP_SUFFIX_X 5 /* the X's start after ".tmp-" */
#define GM__TMP_TRIES 100  /* temporary names tried before giving up */

/* Fills the X's of tmp with new names until open(O_EXCL) succeeds. The
 * names mix the time, the process id and the buffer's address (unique
 * among the threads of the process) through Philox: no shared state.
 * Returns the descriptor, or -1 with errno. */
static int gm__open_temp(char *tmp, size_t path_len)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    struct timespec ts = {0, 0};
    (void)clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t key = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^
                   ((uint64_t)getpid() << 40);
    char *x = tmp + path_len + GM__TMP_SUFFIX_X;
    for (uint64_t attempt = 0; attempt < GM__TMP_TRIES; attempt++) {
        uint32_t r[4];
        gm__philox(key, (uint64_t)(uintptr_t)tmp, attempt, r);
        for (size_t i = 0; i < 6; i++)
            x[i] = abc[(r[i / 2] >> (16 * (i % 2))) % (sizeof abc - 1)];
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

gm_status gm__atomic_open(gm__atomic_file *f, const char *path, const char *fn)
{
    f->fd = -1;
    f->tmp = NULL;
    f->path = path;
    const size_t path_len = strlen(path);
    if (path_len == 0) return gm__set_error(GM_EINVAL, fn, "path must not be empty");
    if (path_len >= SIZE_MAX - sizeof GM__TMP_SUFFIX)
        return gm__set_error(GM_EINVAL, fn, "path is too long");
    /* Only a regular file is replaced: renaming over a symlink would
     * replace the link (not its target), over a device node the node. */
    struct stat sb;
    if (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return gm__set_error(GM_EIO, fn,
                             "'%s' exists and is not a regular file (a symlink, directory, "
                             "device or pipe); it is not replaced",
                             path);
    const size_t size = path_len + sizeof GM__TMP_SUFFIX;
    f->tmp = gm__malloc(size);
    if (f->tmp == NULL)
        return gm__set_error(GM_ENOMEM, fn, "cannot allocate a file name of %zu bytes", size);
    memcpy(f->tmp, path, path_len);
    memcpy(f->tmp + path_len, GM__TMP_SUFFIX, sizeof GM__TMP_SUFFIX);
    f->fd = gm__open_temp(f->tmp, path_len);
    if (f->fd < 0) {
        gm_status st = gm__set_error(GM_EIO, fn, "cannot create '%s': %s", f->tmp, strerror(errno));
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
    if (close(f->fd) != 0 && errno != EINTR && st == GM_OK)
        st = gm__set_error(GM_EIO, fn, "cannot close '%s': %s", f->tmp, strerror(errno));
    f->fd = -1;
    if (st == GM_OK && rename(f->tmp, f->path) != 0)
        st = gm__set_error(GM_EIO, fn, "cannot rename '%s' to '%s': %s", f->tmp, f->path,
                           strerror(errno));
    if (st != GM_OK) {
        gm__atomic_abort(f);
        return st;
    }
    gm__sync_dir(f->path, f->tmp);
    gm__free(f->tmp);
    f->tmp = NULL;
    return GM_OK;
}

void gm__atomic_abort(gm__atomic_file *f)
{
    if (f->fd >= 0) (void)close(f->fd);
    if (f->tmp != NULL) (void)unlink(f->tmp);
    gm__free(f->tmp);
    f->fd = -1;
    f->tmp = NULL;
}
