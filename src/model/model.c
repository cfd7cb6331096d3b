/* SPDX-License-Identifier: MIT */
/* The two-net plumbing every model shares (model.h): its parts, the
 * guarded train computations with their undo, the data-parallel gradient
 * buffer, and small helpers for batch buffers and output checks. */
#include <string.h>

#include "model/model.h"

gm_status gm__model_parts_init(gm__model_parts *p, const gm_net *a,
                               const gm_optimizer_options *oa, const gm_net *b,
                               const gm_optimizer_options *ob, uint64_t seed, const char *fn)
{
    memset(p, 0, sizeof *p);
    gm_status st = gm_optimizer_create(&p->opt_a, a, oa);
    if (st == GM_OK) st = gm_optimizer_create(&p->opt_b, b, ob);
    if (st == GM_OK) st = gm_rng_create(&p->train_rng, seed);
    if (st == GM_OK) st = gm_rng_create(&p->aux_rng, seed);
    if (st != GM_OK) {
        gm__model_parts_free(p);
        return gm__set_error(st, fn, "%s", gm_last_error());
    }
    gm_rng_set_state(p->aux_rng, seed, (uint64_t)1 << 62);
    return GM_OK;
}

void gm__model_parts_free(gm__model_parts *p)
{
    gm_optimizer_free(p->opt_a);
    gm_optimizer_free(p->opt_b);
    gm_rng_free(p->train_rng);
    gm_rng_free(p->aux_rng);
    memset(p, 0, sizeof *p);
}

gm_status gm__model_new(gm__model **out, size_t size, const gm__model_class *cls, gm_net *a,
                        const gm_optimizer_options *oa, gm_net *b,
                        const gm_optimizer_options *ob, uint64_t seed, int snap_b_params,
                        const char *fn)
{
    *out = NULL;
    gm__model *m = gm__calloc_array(1, size);
    if (m == NULL) return gm__set_error(GM_ENOMEM, fn, "cannot allocate a %s", cls->name);
    const size_t nflat = a->nparams + b->nparams;
    m->flat = gm__calloc_array(nflat + 1, sizeof(float));
    if (m->flat == NULL) {
        gm__free(m);
        return gm__set_error(GM_ENOMEM, fn, "cannot allocate %zu gradients", nflat);
    }
    gm_status st = gm__model_parts_init(&m->parts, a, oa, b, ob, seed, fn);
    if (st == GM_OK) {
        st = gm__snapshot_init(&m->snap, a, NULL, b, snap_b_params ? m->parts.opt_b : NULL, fn);
        if (st != GM_OK) gm__model_parts_free(&m->parts);
    }
    if (st != GM_OK) {
        gm__free(m->flat);
        gm__free(m);
        return st;
    }
    m->cls = cls;
    m->net[0] = a;
    m->net[1] = b;
    a->owned = b->owned = 1;
    *out = m;
    return GM_OK;
}

gm_status gm__model_check_nets(const char *fn, const gm__model_class *cls, const gm_net *a,
                               const gm_net *b)
{
    const gm_net *net[2] = {a, b};
    for (int k = 0; k < 2; k++)
        if (net[k] == NULL)
            return gm__set_error(GM_EINVAL, fn, "%s must not be NULL", cls->part[k]);
    if (a == b)
        return gm__set_error(GM_EINVAL, fn, "%s and %s must be two different nets", cls->part[0],
                             cls->part[1]);
    for (int k = 0; k < 2; k++) GM_TRY(gm__net_check_free(fn, net[k], cls->part[k]));
    return GM_OK;
}

void gm__model_delete(gm__model *m, int free_nets)
{
    if (m == NULL) return;
    if (m->cls->release) m->cls->release(m);
    for (int k = 0; k < 2; k++) {
        m->net[k]->owned = 0;
        if (free_nets) gm_net_free(m->net[k]);
    }
    gm__model_parts_free(&m->parts);
    gm__snapshot_free(&m->snap);
    gm__free(m->flat);
    gm__free(m->block);
    gm__free(m);
}

gm_status gm__model_guarded(gm__model *m, gm__model_body body, void *ctx)
{
    uint64_t seed, pos;
    gm_rng_get_state(m->parts.train_rng, &seed, &pos);
    gm__snapshot_take(&m->snap);
    gm_status st = body(m, ctx);
    if (st != GM_OK) { /* the step changes nothing */
        gm_rng_set_state(m->parts.train_rng, seed, pos);
        gm__snapshot_restore(&m->snap);
    }
    return st;
}

float *gm__model_grads(gm__model *m, int k, size_t *n)
{
    const size_t n0 = m->net[0]->nparams;
    *n = k == GM__MODEL_BOTH ? n0 + m->net[1]->nparams : m->net[k]->nparams;
    return k == 1 ? m->flat + n0 : m->flat;
}

gm_status gm__model_compute(gm__model *m, int k, gm__model_body body, void *ctx)
{
    GM_TRY(gm__model_guarded(m, body, ctx));
    for (int j = 0; j < 2; j++) {
        if (k != j && k != GM__MODEL_BOTH) continue;
        size_t n;
        float *g = gm__model_grads(m, j, &n);
        GM_TRY(gm_net_get_grads(m->net[j], g, n));
        m->pending[j] = 1;
    }
    return GM_OK;
}

gm_status gm__model_load_grads(gm__model *m, int k, const char *fn)
{
    if (k == GM__MODEL_BOTH ? !(m->pending[0] && m->pending[1]) : !m->pending[k]) {
        const char *part = k == GM__MODEL_BOTH ? "" : m->cls->part[k];
        return gm__set_error(GM_ESTATE, fn,
                             "no %s%sgradients to apply: call %s first (once per apply)", part,
                             *part ? " " : "", m->cls->compute_fn);
    }
    size_t n;
    const float *g = gm__model_grads(m, k, &n);
    GM_TRY(gm__check_grad_buffer(fn, g, n));
    for (int j = 0; j < 2; j++) {
        if (k != j && k != GM__MODEL_BOTH) continue;
        const float *gj = gm__model_grads(m, j, &n);
        GM_TRY(gm_net_set_grads(m->net[j], gj, n));
    }
    return GM_OK;
}

gm_status gm__model_batch_block(gm__model *m, const char *fn, size_t n, const size_t *widths,
                                int k)
{
    size_t total = 0;
    for (int i = 0; i < k; i++) {
        size_t w;
        if (!gm__mul_ok(n, widths[i], &w) || w > GM__BLAS_MAX || total + w < total)
            return gm__set_error(GM_ESHAPE, fn, "a batch of %zu is too large", n);
        total += w;
    }
    float *block = gm__malloc_array(total, sizeof(float));
    if (block == NULL)
        return gm__set_error(GM_ENOMEM, fn, "cannot allocate %zu floats of buffers", total);
    gm__free(m->block);
    m->block = block;
    return GM_OK;
}

gm_status gm__model_check_out(const char *fn, const gm_tensor *t, const char *name, size_t n,
                              size_t width)
{
    if (t == NULL) return gm__set_error(GM_EINVAL, fn, "%s must not be NULL", name);
    if (t->shape[0] != n || t->numel / t->shape[0] != width)
        return gm__set_error(GM_ESHAPE, fn, "%s must hold %zu samples of %zu values, got %zu of %zu",
                             name, n, width, t->shape[0], t->numel / t->shape[0]);
    return GM_OK;
}

gm_status gm__model_check_latents(const char *fn, const gm_tensor *z, size_t L,
                                  const gm_tensor *out, size_t width, const int32_t *labels,
                                  size_t C)
{
    if (z == NULL) return gm__set_error(GM_EINVAL, fn, "z must not be NULL");
    const size_t n = z->shape[0];
    GM_TRY(gm__model_check_out(fn, z, "z", n, L));
    GM_TRY(gm__model_check_out(fn, out, "out", n, width));
    GM_TRY(gm__check_labels(fn, labels, n, C));
    return gm__check_all_finite(fn, "z", z->data, z->numel);
}

gm_status gm__model_check_stats_size(const char *fn, const void *stats, size_t size)
{
    if (stats != NULL && (size < GM_STATS_SIZE_1_0 || size > 4096))
        return gm__set_error(GM_EINVAL, fn, "stats_size must be in [%zu, 4096], got %zu",
                             (size_t)GM_STATS_SIZE_1_0, size);
    return GM_OK;
}

void gm__model_write_stats(void *dst, size_t size, const void *src, size_t n)
{
    if (dst == NULL) return;
    memset(dst, 0, size);
    memcpy(dst, src, n < size ? n : size);
}
