/* SPDX-License-Identifier: MIT */
/* Features of images through a net, and the one-call evaluation of a
 * sample set (gm_eval_images) built from the metrics in metrics.c. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "eval/eval_internal.h"
#include "vae/vae_internal.h"

#define GM__EVAL_BATCH 256 /* default images per forward */
#define GM__IWAE_CHUNK 100 /* images per gm_vae_iwae call */
/* The sizes of the structs' first version: callers must know every v1 field. */
#define GM__EVAL_OPTIONS_V1 (offsetof(gm_eval_options, iwae_max) + sizeof(size_t))
#define GM__EVAL_REPORT_V1 (offsetof(gm_eval_report, iwae_nll) + sizeof(double))
/* ... and the second, with density and coverage appended */
#define GM__EVAL_REPORT_V2 (offsetof(gm_eval_report, coverage) + sizeof(double))

/* Output size per image of net for images, with `batch` images per
 * forward; out_ndim / out_shape describe one batch's output. */
static gm_status gm__feature_shape(const char *fn, const gm_net *net, const gm_tensor *images,
                                   size_t batch, size_t *out_ndim, size_t *out_shape,
                                   size_t *per)
{
    size_t in_shape[GM_MAX_DIMS];
    memcpy(in_shape, images->shape, images->ndim * sizeof *in_shape);
    in_shape[0] = batch;
    GM_TRY(gm__pass_error(gm_net_output_shape(net, images->ndim, in_shape, out_ndim, out_shape),
                         fn));
    size_t p = 1;
    for (size_t i = 1; i < *out_ndim; i++) p *= out_shape[i]; /* a numel the net computed */
    *per = p;
    return GM_OK;
}

/* Forward passes over images in batches into dst [N x per]; the net's
 * mode is evaluation during them and restored after. */
static gm_status gm__run_features(const char *fn, gm_net *net, const gm_tensor *images,
                                  size_t batch, size_t out_ndim, const size_t *out_shape,
                                  size_t per, float *dst)
{
    const size_t n = gm__tensor_rows(images), w = gm__tensor_width(images);
    const int was_training = gm_net_is_training(net);
    gm_status st = gm__pass_error(gm_net_set_training(net, 0), fn);
    for (size_t i0 = 0; st == GM_OK && i0 < n; i0 += batch) {
        const size_t b = n - i0 < batch ? n - i0 : batch;
        size_t xs[GM_MAX_DIMS], ys[GM_MAX_DIMS];
        memcpy(xs, images->shape, images->ndim * sizeof *xs);
        memcpy(ys, out_shape, out_ndim * sizeof *ys);
        xs[0] = ys[0] = b;
        gm_tensor x, y; /* views: the images are only read by the forward */
        gm__tensor_view(&x, images->ndim, xs, images->data + i0 * w);
        gm__tensor_view(&y, out_ndim, ys, dst + i0 * per);
        st = gm__pass_error(gm_net_forward(net, &x, &y), fn);
    }
    gm_net_set_training(net, was_training);
    return st;
}

gm_status gm_eval_features(gm_net *net, const gm_tensor *images, size_t batch,
                           gm_tensor *features)
{
    GM_CHECK_NULL(net);
    GM_CHECK_NULL(images);
    GM_CHECK_NULL(features);
    const size_t n = gm__tensor_rows(images);
    if (batch == 0) batch = n < GM__EVAL_BATCH ? n : GM__EVAL_BATCH;
    GM_CHECK(batch <= n, GM_EINVAL, "batch must be in [1, N = %zu], got %zu", n, batch);
    size_t ond = 0, os[GM_MAX_DIMS], per = 0, total;
    GM_TRY(gm__feature_shape(__func__, net, images, batch, &ond, os, &per));
    if (!gm__mul_ok(n, per, &total) || gm__tensor_rows(features) != n || features->numel != total) {
        char sf[96];
        return GM_FAIL(GM_ESHAPE, "features must be [%zu x %zu] (the net gives %zu values per "
                                  "image), got %s", n, per, per,
                       gm__shape_str(features, sf, sizeof sf));
    }
    GM_TRY(gm__check_finite_rows(__func__, "images", images));
    float *buf = gm__malloc_array(total, sizeof(float));
    if (buf == NULL) return GM_FAIL(GM_ENOMEM, "cannot allocate %zu feature values", total);
    gm_status st = gm__run_features(__func__, net, images, batch, ond, os, per, buf);
    if (st == GM_OK) memcpy(features->data, buf, total * sizeof(float));
    gm__free(buf);
    return st;
}

gm_status gm_eval_options_init(gm_eval_options *opts)
{
    GM_CHECK_NULL(opts);
    *opts = (gm_eval_options)GM_EVAL_OPTIONS_INIT;
    return GM_OK;
}

/* The IWAE estimate of -log p(x) over the first n images, in chunks. */
static gm_status gm__iwae(const char *fn, gm_vae *vae, const gm_tensor *real, size_t n,
                          size_t k, double *nll)
{
    const size_t w = gm__tensor_width(real);
    double sum = 0.0;
    for (size_t i0 = 0; i0 < n; i0 += GM__IWAE_CHUNK) {
        const size_t b = n - i0 < GM__IWAE_CHUNK ? n - i0 : GM__IWAE_CHUNK;
        size_t xs[GM_MAX_DIMS];
        memcpy(xs, real->shape, real->ndim * sizeof *xs);
        xs[0] = b;
        gm_tensor x;
        gm__tensor_view(&x, real->ndim, xs, real->data + i0 * w);
        float v = 0.0f;
        GM_TRY(gm__pass_error(gm_vae_iwae(vae, &x, NULL, k, &v), fn));
        sum += (double)v * (double)b;
    }
    *nll = sum / (double)n;
    return GM_OK;
}

/* r's feature dimension, Fréchet distance, precision, recall, density and
 * coverage: the features of both sets, in one block. */
static gm_status gm__eval_feature_metrics(const char *fn, gm_net *features,
                                          const gm_tensor *samples, const gm_tensor *real,
                                          const gm_eval_options *o, gm_eval_report *r)
{
    const size_t ns = gm__tensor_rows(samples), nr = gm__tensor_rows(real);
    const size_t nmin = ns < nr ? ns : nr;
    size_t ond = 0, os[GM_MAX_DIMS], per = 0, total;
    const size_t bs = o->batch ? o->batch : (nmin < GM__EVAL_BATCH ? nmin : GM__EVAL_BATCH);
    GM_TRY(gm__feature_shape(fn, features, samples, bs, &ond, os, &per));
    float *buf = gm__mul_ok(ns + nr, per, &total) ? gm__malloc_array(total, sizeof(float)) : NULL;
    if (buf == NULL)
        return gm__set_error(GM_ENOMEM, fn, "cannot allocate %zu x %zu feature values", ns + nr,
                             per);
    r->feature_dim = per;
    gm_status st = gm__run_features(fn, features, samples, bs, ond, os, per, buf);
    if (st == GM_OK) st = gm__run_features(fn, features, real, bs, ond, os, per, buf + ns * per);
    gm_tensor fs, fr;
    gm__tensor_view(&fs, 2, (size_t[]){ns, per}, buf);
    gm__tensor_view(&fr, 2, (size_t[]){nr, per}, buf + ns * per);
    if (st == GM_OK) st = gm__pass_error(gm_eval_frechet(&fs, &fr, &r->frechet), fn);
    if (st == GM_OK) /* one set of real k-NN balls for all four */
        st = gm__eval_knn(fn, &fr, &fs, o->k, &r->precision, &r->recall, &r->density,
                          &r->coverage);
    gm__free(buf);
    return st;
}

/* Memorization: the first samples against the training images. */
static gm_status gm__eval_memorization(const char *fn, const gm_tensor *samples,
                                       const gm_tensor *train, const gm_eval_options *o,
                                       gm_eval_report *r)
{
    const size_t ns = gm__tensor_rows(samples);
    const size_t nn = o->nearest_max && o->nearest_max < ns ? o->nearest_max : ns;
    size_t xs[GM_MAX_DIMS];
    memcpy(xs, samples->shape, samples->ndim * sizeof *xs);
    xs[0] = nn;
    gm_tensor head;
    gm__tensor_view(&head, samples->ndim, xs, samples->data);
    GM_TRY(gm__pass_error(gm_eval_nearest(&head, train, &r->nearest, NULL), fn));
    r->n_nearest = nn;
    return GM_OK;
}

/* The IWAE estimate over the first real images. A failed call leaves the
 * VAE's generator where it was: the chunks before the failure have
 * advanced it. */
static gm_status gm__eval_iwae(const char *fn, gm_vae *vae, const gm_tensor *real,
                               const gm_eval_options *o, gm_eval_report *r)
{
    const size_t nr = gm__tensor_rows(real);
    const size_t ni = o->iwae_max && o->iwae_max < nr ? o->iwae_max : nr;
    gm__model_view mv;
    gm_vae_options vo;
    gm__vae_model_view(vae, &mv, &vo);
    uint64_t seed, pos;
    gm_rng_get_state(mv.aux_rng, &seed, &pos);
    gm_status st = gm__iwae(fn, vae, real, ni, o->iwae_k, &r->iwae_nll);
    if (st != GM_OK) gm_rng_set_state(mv.aux_rng, seed, pos);
    return st;
}

gm_status gm_eval_images(gm_eval_report *report, gm_net *features, const gm_tensor *samples,
                         const gm_tensor *real, const gm_tensor *train, gm_vae *vae,
                         const gm_eval_options *opts)
{
    GM_CHECK_NULL(report);
    GM_CHECK_NULL(features);
    GM_CHECK_NULL(samples);
    GM_CHECK_NULL(real);
    GM_TRY(gm__check_options_size(__func__, "report", report->size, GM__EVAL_REPORT_V1));
    gm_eval_options o = GM_EVAL_OPTIONS_INIT;
    if (opts != NULL)
        GM_TRY(gm__read_options(__func__, "opts", opts, GM__EVAL_OPTIONS_V1, &o, sizeof o));
    GM_CHECK(o.k >= 1, GM_EINVAL, "opts->k must be >= 1, got 0");
    GM_CHECK(o.iwae_k >= 1 && o.iwae_k <= 100000, GM_EINVAL,
             "opts->iwae_k must be in [1, 100000], got %zu", o.iwae_k);
    GM_TRY(gm__same_vector_shape(__func__, samples, "samples", real, "real"));
    if (train != NULL) GM_TRY(gm__same_vector_shape(__func__, samples, "samples", train, "train"));
    const size_t ns = gm__tensor_rows(samples), nr = gm__tensor_rows(real);
    GM_CHECK(o.k < ns, GM_EINVAL, "samples must hold at least k + 1 = %zu images, got %zu",
             o.k < SIZE_MAX ? o.k + 1 : o.k, ns);
    GM_CHECK(o.k < nr, GM_EINVAL, "real must hold at least k + 1 = %zu images, got %zu",
             o.k < SIZE_MAX ? o.k + 1 : o.k, nr);
    const size_t nmin = ns < nr ? ns : nr;
    GM_CHECK(o.batch <= nmin, GM_EINVAL, "opts->batch must be at most the smaller set's %zu "
             "images (or 0), got %zu", nmin, o.batch);
    GM_TRY(gm__check_finite_rows(__func__, "samples", samples));
    GM_TRY(gm__check_finite_rows(__func__, "real", real));
    if (train != NULL) GM_TRY(gm__check_finite_rows(__func__, "train", train));

    gm_eval_report r = GM_EVAL_REPORT_INIT; /* not *report: an older caller's is smaller */
    r.n_samples = ns;
    r.n_real = nr;
    GM_TRY(gm__eval_feature_metrics(__func__, features, samples, real, &o, &r));
    r.n_nearest = 0;
    r.nearest = (gm_eval_nearest_stats){NAN, NAN, NAN, NAN, NAN};
    if (train != NULL) GM_TRY(gm__eval_memorization(__func__, samples, train, &o, &r));
    r.iwae_nll = NAN;
    if (vae != NULL) GM_TRY(gm__eval_iwae(__func__, vae, real, &o, &r));
    /* the fields the caller's version has (a newer caller's tail is kept) */
    const size_t fits =
        report->size >= GM__EVAL_REPORT_V2 ? GM__EVAL_REPORT_V2 : GM__EVAL_REPORT_V1;
    r.size = report->size;
    memcpy(report, &r, fits);
    return GM_OK;
}
