/* SPDX-License-Identifier: MIT */
/* The epoch loop behind gm_vae_fit and gm_gan_fit: shuffled batches of an
 * in-memory data set through a model's train step, with a progress
 * callback. The model side is its class (gm__model_class: train_step,
 * report), so this file knows nothing of VAEs or GANs. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <time.h>

#include "model/model.h"

gm_status gm_fit_options_init(gm_fit_options *opts)
{
    GM_CHECK_NULL(opts);
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
    opts->epochs = 1;
    opts->batch = 0; /* min(128, N) */
    opts->every = 100;
    return GM_OK;
}

static double gm__now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* order[0 .. n) = a permutation drawn from (seed, epoch): Fisher-Yates
 * with j = floor(r (i + 1) / 2^32) for a 32-bit Philox word r. */
static void gm__shuffle(size_t *order, size_t n, uint64_t seed, uint32_t epoch)
{
    for (size_t i = 0; i < n; i++) order[i] = i;
    uint32_t r[4];
    for (size_t i = n; i-- > 1;) {
        const size_t k = n - 1 - i; /* draw index */
        if (k % 4 == 0) gm__philox(seed, epoch, k / 4, r);
        const size_t j = (size_t)(((uint64_t)r[k % 4] * (uint64_t)(i + 1)) >> 32);
        const size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* Reads and checks the fit options for n samples (fn names errors). */
static gm_status gm__fit_options(const char *fn, const gm_fit_options *opts, size_t n,
                                 gm_fit_options *o)
{
    gm_fit_options_init(o);
    /* every field has a default: a struct of just its size is accepted */
    if (opts != NULL) GM_TRY(gm__read_options(fn, "opts", opts, sizeof opts->size, o, sizeof *o));
    if (o->batch == 0) o->batch = n < 128 ? n : 128;
    if (o->epochs < 1)
        return gm__set_error(GM_EINVAL, fn, "opts->epochs must be >= 1, got %u", o->epochs);
    if (o->batch < 1 || o->batch > n)
        return gm__set_error(GM_EINVAL, fn, "opts->batch must be in [1, N = %zu], got %zu", n,
                             o->batch);
    if (o->every < 1)
        return gm__set_error(GM_EINVAL, fn, "opts->every must be >= 1, got %llu",
                             (unsigned long long)o->every);
    return GM_OK;
}

/* The batch tensor, its labels and the order: one block. */
typedef struct gm__fit_buffers {
    char *block;
    size_t *order;
    int32_t *lb;
    gm_tensor x;
} gm__fit_buffers;

static gm_status gm__fit_alloc(const char *fn, const gm_tensor *data, int labels, size_t batch,
                               gm__fit_buffers *b)
{
    const size_t n = data->shape[0], per = data->numel / n;
    size_t xbytes, obytes, lbytes = labels ? batch * sizeof(int32_t) : 0;
    if (!gm__mul_ok(batch, per * sizeof(float), &xbytes) ||
        !gm__mul_ok(n, sizeof(size_t), &obytes) || xbytes > SIZE_MAX / 2 - obytes - lbytes)
        return gm__set_error(GM_ENOMEM, fn, "the batch buffers are too large");
    b->block = gm__malloc(obytes + xbytes + lbytes + 1);
    if (b->block == NULL)
        return gm__set_error(GM_ENOMEM, fn, "cannot allocate %zu bytes of batch buffers",
                             obytes + xbytes + lbytes);
    b->order = (size_t *)(void *)b->block;
    float *xb = (float *)(void *)(b->block + obytes);
    b->lb = labels ? (int32_t *)(void *)(b->block + obytes + xbytes) : NULL;
    size_t shape[GM_MAX_DIMS];
    memcpy(shape, data->shape, data->ndim * sizeof *shape);
    shape[0] = batch;
    gm__tensor_view(&b->x, data->ndim, shape, xb);
    return GM_OK;
}

gm_status gm__fit(const char *fn, void *model, gm__fit_step step, const gm_tensor *data,
                  const int32_t *labels, const gm_fit_options *opts, gm__fit_report report,
                  void *user)
{
    const size_t n = data->shape[0], per = data->numel / n;
    gm_fit_options o;
    GM_TRY(gm__fit_options(fn, opts, n, &o));
    gm__fit_buffers b;
    GM_TRY(gm__fit_alloc(fn, data, labels != NULL, o.batch, &b));
    float *xb = b.x.data;
    gm_fit_progress p = {0, o.epochs, 0, n / o.batch, 0, 0, 0.0};
    const double t0 = gm__now();
    double sum[GM__FIT_STATS] = {0};
    gm_status st = GM_OK;
    int stop = 0;
    for (uint32_t e = 1; e <= o.epochs && st == GM_OK && !stop; e++) {
        gm__shuffle(b.order, n, o.shuffle_seed, e);
        p.epoch = e;
        for (uint64_t s = 0; s < p.steps_per_epoch && !stop; s++) {
            const size_t *idx = b.order + s * o.batch;
            for (size_t i = 0; i < o.batch; i++) {
                memcpy(xb + i * per, data->data + idx[i] * per, per * sizeof(float));
                if (b.lb) b.lb[i] = labels[idx[i]];
            }
            float v[GM__FIT_STATS] = {0};
            st = step(model, &b.x, b.lb, v);
            if (st != GM_OK) {
                st = gm__set_error(st, fn, "epoch %u, step %llu: %s", e,
                                   (unsigned long long)s + 1, gm_last_error());
                break;
            }
            for (int k = 0; k < GM__FIT_STATS; k++) sum[k] += v[k];
            p.step++;
            p.epoch_step = s + 1;
            p.steps_averaged++;
            if (report != NULL && (p.epoch_step % o.every == 0 || s + 1 == p.steps_per_epoch)) {
                float mean[GM__FIT_STATS];
                for (int k = 0; k < GM__FIT_STATS; k++) {
                    mean[k] = (float)(sum[k] / (double)p.steps_averaged);
                    sum[k] = 0.0;
                }
                p.seconds = gm__now() - t0;
                stop = report(user, &p, mean) != 0;
                p.steps_averaged = 0;
            }
        }
    }
    gm__free(b.block);
    return st;
}

/* gm__model_fit's adapters from the model's class to gm__fit */
typedef struct gm__model_fit_ctx {
    gm__model *m;
    gm__fit_callback cb;
    int sized;
    void *user;
} gm__model_fit_ctx;

static gm_status gm__model_fit_step(void *c, const gm_tensor *x, const int32_t *labels,
                                    float v[GM__FIT_STATS])
{
    gm__model *m = ((gm__model_fit_ctx *)c)->m;
    return m->cls->train_step(m, x, labels, v);
}

static int gm__model_fit_report(void *c, const gm_fit_progress *p,
                                const float mean[GM__FIT_STATS])
{
    const gm__model_fit_ctx *f = c;
    return f->m->cls->report(f->cb, f->sized, f->user, p, mean);
}

gm_status gm__model_fit(gm__model *m, const char *fn, const gm_tensor *data,
                        const int32_t *labels, const gm_fit_options *opts, gm__fit_callback cb,
                        int sized, void *user)
{
    gm__model_fit_ctx c = {m, cb, sized, user};
    return gm__fit(fn, &c, gm__model_fit_step, data, labels, opts,
                   cb ? gm__model_fit_report : NULL, &c);
}
