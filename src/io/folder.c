/* SPDX-License-Identifier: MIT */
/* Image folders (io.h): a directory tree of PNG and JPEG files decoded on
 * several threads into one uint8 set [N x C x S x S], and float batches
 * from it.
 *
 * The file list is made first (sorted paths); image i of the list always
 * goes to slot i of one buffer allocated up front, so the bytes do not
 * depend on which thread decodes what. Workers take the next index under
 * a mutex; the calling thread only waits and runs the progress callback.
 * Without skip_bad the error reported is the one of the first bad file in
 * list order: once a bad file is found, workers stop taking files after
 * it but finish those before it. Skipped slots are squeezed out at the
 * end. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <genmodel/io.h>

#include "core/internal.h"
#include "engine/engine.h"
#include "io/image.h"
#include "io/image_set.h"

#define GM__FOLDER_MAX_DEPTH 64


/* ---- a growable list of strings --------------------------------------------- */

typedef struct gm__strs {
    char **v;
    size_t n, cap;
} gm__strs;

static void gm__strs_free(gm__strs *l)
{
    for (size_t i = 0; i < l->n; i++) gm__free(l->v[i]);
    gm__free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Appends a copy of a + (b ? "/" b : ""); 0 or -1 (no memory). */
static int gm__strs_push(gm__strs *l, const char *a, const char *b)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **v = gm__realloc_array(l->v, cap, sizeof *v);
        if (v == NULL) return -1;
        l->v = v;
        l->cap = cap;
    }
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    char *s = gm__malloc(la + lb + 2);
    if (s == NULL) return -1;
    memcpy(s, a, la);
    if (b) {
        s[la] = '/';
        memcpy(s + la + 1, b, lb + 1);
    } else {
        s[la] = '\0';
    }
    l->v[l->n++] = s;
    return 0;
}

static int gm__cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- listing ----------------------------------------------------------------- */

/* What path/name is to the listing: 1 a file (any link that does not
 * lead to a directory, also a dangling one: a bad file when it cannot be
 * opened), 2 a directory, 0 left out (a symbolic link to a directory is
 * not followed), -1 out of memory. */
static int gm__entry_kind(const char *path, const char *name)
{
    char *full = gm__malloc(strlen(path) + strlen(name) + 2);
    if (full == NULL) return -1;
    sprintf(full, "%s/%s", path, name);
    struct stat sb, tb;
    int lok = lstat(full, &sb) == 0;
    int is_dir = lok && S_ISDIR(sb.st_mode);
    int link_to_dir = lok && S_ISLNK(sb.st_mode) && stat(full, &tb) == 0 &&
                      S_ISDIR(tb.st_mode);
    gm__free(full);
    return link_to_dir ? 0 : is_dir ? 2 : 1;
}

static gm_status gm__list(const char *fn, const char *root, const char *rel, int depth,
                          gm__strs *files, gm__strs *dirs);

/* Lists each subdirectory sub->v[i] of rel (path: root/rel) in turn; the
 * top level's names also go to dirs (the class folders). */
static gm_status gm__list_subdirs(const char *fn, const char *root, const char *path,
                                  const char *rel, int depth, const gm__strs *sub,
                                  gm__strs *files, gm__strs *dirs)
{
    const size_t ll = strlen(rel);
    gm_status st = GM_OK;
    for (size_t i = 0; st == GM_OK && i < sub->n; i++) {
        if (dirs != NULL && gm__strs_push(dirs, sub->v[i], NULL) != 0)
            return gm__set_error(GM_ENOMEM, fn, "out of memory listing %s", path);
        char *r = sub->v[i];
        char *nrel = NULL;
        if (ll) {
            nrel = gm__malloc(ll + strlen(r) + 2);
            if (nrel == NULL) return gm__set_error(GM_ENOMEM, fn, "out of memory listing %s", path);
            sprintf(nrel, "%s/%s", rel, r);
        }
        st = gm__list(fn, root, nrel ? nrel : r, depth + 1, files, NULL);
        gm__free(nrel);
    }
    return st;
}

/* Adds the files under root/rel (rel "" = root itself) to files, and with
 * dirs non-NULL the directories right under it to dirs. */
static gm_status gm__list(const char *fn, const char *root, const char *rel, int depth,
                          gm__strs *files, gm__strs *dirs)
{
    if (depth > GM__FOLDER_MAX_DEPTH)
        return gm__set_error(GM_EIO, fn, "%s/%s: more than %d levels of sub-directories", root,
                             rel, GM__FOLDER_MAX_DEPTH);
    size_t lr = strlen(root), ll = strlen(rel);
    char *path = gm__malloc(lr + ll + 2);
    if (path == NULL) return gm__set_error(GM_ENOMEM, fn, "out of memory listing %s", root);
    memcpy(path, root, lr);
    if (ll) {
        path[lr] = '/';
        memcpy(path + lr + 1, rel, ll + 1);
    } else {
        path[lr] = '\0';
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        gm_status st = gm__set_error(GM_EIO, fn, "cannot open directory %s: %s", path,
                                     strerror(errno));
        gm__free(path);
        return st;
    }
    gm__strs sub = {0};
    gm_status st = GM_OK;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ., .. and hidden names */
        const int kind = gm__entry_kind(path, e->d_name);
        if (kind < 0) {
            st = gm__set_error(GM_ENOMEM, fn, "out of memory listing %s", path);
            break;
        }
        if (kind == 0) continue;
        if (kind == 1) {
            if (gm__strs_push(files, ll ? rel : e->d_name, ll ? e->d_name : NULL) != 0) {
                st = gm__set_error(GM_ENOMEM, fn, "out of memory listing %s", path);
                break;
            }
        } else if (gm__strs_push(&sub, e->d_name, NULL) != 0) {
            st = gm__set_error(GM_ENOMEM, fn, "out of memory listing %s", path);
            break;
        }
        errno = 0;
    }
    if (st == GM_OK && e == NULL && errno != 0)
        st = gm__set_error(GM_EIO, fn, "cannot read directory %s: %s", path, strerror(errno));
    closedir(d);
    if (st == GM_OK) st = gm__list_subdirs(fn, root, path, rel, depth, &sub, files, dirs);
    gm__strs_free(&sub);
    gm__free(path);
    return st;
}

/* ---- the load ---------------------------------------------------------------- */

typedef struct gm__load {
    /* fixed during the load */
    const char *root;
    char **files;
    size_t n;
    const int32_t *labels; /* per file, -1: not in a class folder; NULL: no labels */
    gm__image_params p;
    uint64_t max_bytes;
    size_t image_bytes;
    unsigned char *data;  /* n x image_bytes */
    unsigned char *bad;   /* n flags */
    int skip_bad;
    /* under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next, done;
    int running, cancel;
    gm_status fatal;       /* GM_ENOMEM from a worker */
    size_t first_bad;      /* lowest bad index (refuse mode), n if none */
    gm_status bad_status;
    char bad_why[256];
    char fatal_why[256];
    size_t fatal_file;     /* the file whose load ran out of memory */
} gm__load;

/* Decodes file i; records the outcome under mu. */
static void gm__load_one(gm__load *L, size_t i)
{
    char why[256] = "";
    gm_status st;
    if (L->labels != NULL && L->labels[i] < 0) {
        snprintf(why, sizeof why, "not inside a class sub-folder (labels requested)");
        st = GM_EFORMAT;
    } else {
        unsigned char *buf;
        size_t len;
        st = gm__image_read_file(L->root, L->files[i], L->max_bytes, &buf, &len, why,
                                 sizeof why);
        if (st == GM_OK) {
            st = gm__image_decode(buf, len, &L->p, L->data + i * L->image_bytes, why,
                                  sizeof why);
            gm__free(buf);
        }
    }
    pthread_mutex_lock(&L->mu);
    if (st == GM_ENOMEM) {
        if (L->fatal == GM_OK) {
            L->fatal = GM_ENOMEM;
            L->fatal_file = i;
            memcpy(L->fatal_why, why, sizeof why);
        }
    } else if (st != GM_OK) {
        L->bad[i] = 1;
        if (!L->skip_bad && i < L->first_bad) {
            L->first_bad = i;
            L->bad_status = st;
            snprintf(L->bad_why, sizeof L->bad_why, "%s", why);
        }
    }
    L->done++;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
}

/* Next index to decode, or n when there is nothing more to do. Under mu. */
static size_t gm__load_take(gm__load *L)
{
    if (L->cancel || L->fatal != GM_OK || L->next >= L->n || L->next > L->first_bad) return L->n;
    return L->next++;
}

static void *gm__load_worker(void *arg)
{
    gm__load *L = arg;
    for (;;) {
        pthread_mutex_lock(&L->mu);
        size_t i = gm__load_take(L);
        pthread_mutex_unlock(&L->mu);
        if (i >= L->n) break;
        gm__load_one(L, i);
    }
    pthread_mutex_lock(&L->mu);
    L->running--;
    pthread_cond_broadcast(&L->cv);
    pthread_mutex_unlock(&L->mu);
    return NULL;
}

/* Runs the decode: `threads` workers, progress on this thread. */
static void gm__load_run(gm__load *L, unsigned threads, gm_image_progress_fn progress,
                         void *user)
{
    pthread_t *tid = NULL;
    unsigned started = 0;
    if (threads > 1) tid = gm__malloc_array(threads, sizeof *tid);
    pthread_mutex_lock(&L->mu);
    if (tid != NULL) {
        for (unsigned t = 0; t < threads; t++) {
            if (pthread_create(&tid[t], NULL, gm__load_worker, L) != 0) break;
            started++;
            L->running++;
        }
    }
    size_t reported = 0;
    if (started == 0) {
        /* one thread, or none could be started: decode here */
        for (;;) {
            size_t i = gm__load_take(L);
            pthread_mutex_unlock(&L->mu);
            if (i >= L->n) break;
            gm__load_one(L, i);
            if (progress != NULL && progress(user, L->done, L->n) != 0) {
                pthread_mutex_lock(&L->mu);
                L->cancel = 1;
                pthread_mutex_unlock(&L->mu);
            }
            pthread_mutex_lock(&L->mu);
        } /* left with mu unlocked */
    } else {
        while (L->running > 0) {
            if (progress != NULL && L->done != reported && !L->cancel) {
                size_t done = L->done;
                pthread_mutex_unlock(&L->mu);
                int stop = progress(user, done, L->n);
                pthread_mutex_lock(&L->mu);
                reported = done;
                if (stop) L->cancel = 1;
                continue;
            }
            pthread_cond_wait(&L->cv, &L->mu);
        }
        pthread_mutex_unlock(&L->mu);
        for (unsigned t = 0; t < started; t++) pthread_join(tid[t], NULL);
        /* the workers may have finished between the last call and here */
        if (progress != NULL && !L->cancel && L->done != reported && L->done == L->n &&
            L->fatal == GM_OK && progress(user, L->done, L->n) != 0)
            L->cancel = 1;
    }
    gm__free(tid);
}

/* *out = per file, the index of its first path component in the sorted
 * dirs, or -1 (a file at the top). */
static gm_status gm__folder_labels(const char *fn, const gm__strs *files, const gm__strs *dirs,
                                   int32_t **out)
{
    int32_t *flabels = gm__malloc_array(files->n, sizeof *flabels);
    if (flabels == NULL)
        return gm__set_error(GM_ENOMEM, fn, "out of memory for %zu labels", files->n);
    for (size_t i = 0; i < files->n; i++) {
        const char *slash = strchr(files->v[i], '/');
        flabels[i] = -1;
        if (slash == NULL) continue;
        size_t k = (size_t)(slash - files->v[i]);
        /* dirs is sorted: binary search for the first component */
        size_t lo = 0, hi = dirs->n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            int c = strncmp(dirs->v[mid], files->v[i], k);
            if (c == 0 && dirs->v[mid][k] != '\0') c = 1;
            if (c == 0) {
                flabels[i] = (int32_t)mid;
                break;
            }
            if (c < 0) lo = mid + 1;
            else hi = mid;
        }
    }
    *out = flabels;
    return GM_OK;
}

/* Fills L for the files and allocates its buffers and its mutex and
 * condition variable (*sync_made then 1). */
static gm_status gm__load_setup(const char *fn, gm__load *L, const char *root,
                                const gm__strs *files, const int32_t *flabels,
                                const gm_image_folder_options *o, int *sync_made)
{
    L->root = root;
    L->files = files->v;
    L->n = files->n;
    L->labels = flabels;
    L->p.side = o->side;
    L->p.channels = o->channels;
    L->p.bg[0] = (unsigned char)(o->background >> 16);
    L->p.bg[1] = (unsigned char)(o->background >> 8);
    L->p.bg[2] = (unsigned char)o->background;
    L->p.max_pixels = o->max_pixels;
    /* a file cannot honestly need more than 8 bytes a pixel (16-bit RGBA,
     * uncompressed) plus room for metadata */
    L->max_bytes = o->max_pixels > (UINT64_MAX - (1u << 20)) / 8 ? UINT64_MAX
                                                                 : o->max_pixels * 8 + (1u << 20);
    L->image_bytes = o->channels * o->side * o->side;
    L->skip_bad = o->skip_bad != 0;
    L->first_bad = L->n;
    L->data = gm__malloc_array(L->n, L->image_bytes);
    L->bad = gm__calloc_array(L->n, 1);
    if (L->data == NULL || L->bad == NULL)
        return gm__set_error(GM_ENOMEM, fn, "out of memory for %zu images of %zu bytes", L->n,
                             L->image_bytes);
    if (pthread_mutex_init(&L->mu, NULL) != 0)
        return gm__set_error(GM_ENOMEM, fn, "cannot create a mutex");
    if (pthread_cond_init(&L->cv, NULL) != 0) {
        pthread_mutex_destroy(&L->mu);
        return gm__set_error(GM_ENOMEM, fn, "cannot create a condition variable");
    }
    *sync_made = 1;
    return GM_OK;
}

/* The load's outcome: an error, or *good, the number of images kept. */
static gm_status gm__load_outcome(const char *fn, const gm__load *L, const char *dir,
                                  size_t *good)
{
    if (L->fatal != GM_OK)
        return gm__set_error(L->fatal, fn, "%s/%s: %s", L->root, L->files[L->fatal_file],
                             L->fatal_why);
    if (L->cancel)
        return gm__set_error(GM_ESTATE, fn,
                             "cancelled by the progress callback after %zu of %zu files",
                             L->done, L->n);
    if (L->first_bad < L->n)
        return gm__set_error(L->bad_status, fn, "%s/%s: %s", L->root, L->files[L->first_bad],
                             L->bad_why);
    *good = 0;
    for (size_t i = 0; i < L->n; i++) *good += !L->bad[i];
    if (*good == 0)
        return gm__set_error(GM_EFORMAT, fn, "no image in %s: all %zu files are bad (skipped)",
                             dir, L->n);
    return GM_OK;
}

/* The set from a finished load: the skipped files squeezed out; the
 * names, image bytes, labels and class names move into it (the sources
 * are then NULL). */
static gm_status gm__folder_set(const char *fn, gm__load *L, gm__strs *files, gm__strs *dirs,
                                int32_t **flabels, size_t good, unsigned channels, size_t side,
                                gm_image_set **out)
{
    gm_image_set *set = gm__calloc_array(1, sizeof *set);
    if (set != NULL) set->names = gm__calloc_array(good, sizeof *set->names);
    if (set == NULL || set->names == NULL) {
        gm_image_set_free(set);
        return gm__set_error(GM_ENOMEM, fn, "out of memory");
    }
    int32_t *lab = *flabels;
    size_t k = 0;
    for (size_t i = 0; i < L->n; i++) {
        if (L->bad[i]) continue;
        if (k != i) {
            memmove(L->data + k * L->image_bytes, L->data + i * L->image_bytes, L->image_bytes);
            if (lab) lab[k] = lab[i];
        }
        set->names[k++] = files->v[i];
        files->v[i] = NULL; /* now the set's */
    }
    set->n = good;
    set->c = channels;
    set->s = side;
    set->skipped = L->n - good;
    set->data = L->data;
    L->data = NULL;
    if (good < L->n) {
        unsigned char *shrunk = gm__realloc_array(set->data, good, L->image_bytes);
        if (shrunk != NULL) set->data = shrunk;
    }
    if (lab != NULL) {
        set->labels = lab;
        *flabels = NULL;
        set->nclasses = dirs->n;
        set->classes = dirs->v;
        dirs->v = NULL;
        dirs->n = dirs->cap = 0;
    }
    *out = set;
    return GM_OK;
}

/* The sorted list of files under root (at most max_files) and, for
 * labels, of its class folders. */
static gm_status gm__folder_list(const char *fn, const char *root, const char *dir,
                                 const gm_image_folder_options *o, gm__strs *files,
                                 gm__strs *dirs)
{
    GM_TRY(gm__list(fn, root, "", 0, files, o->labels ? dirs : NULL));
    if (files->n > 1) qsort(files->v, files->n, sizeof *files->v, gm__cmp_str);
    if (dirs->n > 1) qsort(dirs->v, dirs->n, sizeof *dirs->v, gm__cmp_str);
    if (o->max_files != 0 && files->n > o->max_files) {
        for (size_t i = o->max_files; i < files->n; i++) gm__free(files->v[i]);
        files->n = o->max_files;
    }
    if (files->n == 0) return gm__set_error(GM_EFORMAT, fn, "no files in %s", dir);
    return GM_OK;
}

gm_status gm_image_folder_load(gm_image_set **out, const char *dir,
                               const gm_image_folder_options *opts,
                               gm_image_progress_fn progress, void *user)
{
    static const char fn[] = "gm_image_folder_load";
    if (out != NULL) *out = NULL;
    GM_CHECK_NULL(out);
    GM_CHECK_NULL(dir);
    GM_CHECK(dir[0] != '\0', GM_EINVAL, "dir must not be empty");
    gm_image_folder_options o;
    GM_TRY(gm__image_folder_options(fn, opts, &o));
    unsigned threads = o.threads ? o.threads : (unsigned)gm_get_num_threads();
    if (threads < 1) threads = 1;

    /* the list: strip trailing slashes from the root ("/" stays) */
    size_t lr = strlen(dir);
    char *root = gm__malloc(lr + 1);
    if (root == NULL) return GM_FAIL(GM_ENOMEM, "out of memory");
    memcpy(root, dir, lr + 1);
    while (lr > 1 && root[lr - 1] == '/') root[--lr] = '\0';
    gm__strs files = {0}, dirs = {0};
    int32_t *flabels = NULL;
    gm__load L;
    memset(&L, 0, sizeof L);
    int sync_made = 0;
    size_t good = 0;
    gm_status st = gm__folder_list(fn, root, dir, &o, &files, &dirs);
    if (st == GM_OK && o.labels) st = gm__folder_labels(fn, &files, &dirs, &flabels);
    if (st == GM_OK) st = gm__load_setup(fn, &L, root, &files, flabels, &o, &sync_made);
    if (st == GM_OK) {
        if (threads > L.n) threads = (unsigned)L.n;
        gm__load_run(&L, threads, progress, user);
        st = gm__load_outcome(fn, &L, dir, &good);
    }
    if (st == GM_OK)
        st = gm__folder_set(fn, &L, &files, &dirs, &flabels, good, o.channels, o.side, out);
    if (sync_made) {
        pthread_cond_destroy(&L.cv);
        pthread_mutex_destroy(&L.mu);
    }
    gm__free(L.data);
    gm__free(L.bad);
    gm__free(flabels);
    for (size_t i = 0; i < files.n; i++) gm__free(files.v[i]);
    gm__free(files.v);
    gm__strs_free(&dirs);
    gm__free(root);
    return st;
}
