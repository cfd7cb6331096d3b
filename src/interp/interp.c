/* SPDX-License-Identifier: MIT */
/* Looking inside a model (include/genmodel/interp.h): per-dimension KL and
 * activity of a VAE's posterior, the printable table and bar chart, and
 * latent traversals of VAEs and GANs. Only evaluation calls of the models
 * (encode, decode, generate) are made: no generator draws, no training. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <genmodel/interp.h>
#include <genmodel/io.h>

#include "core/internal.h"
#include "engine/engine.h"

#define GM__INTERP_MAX_ROWS 4096
#define GM__INTERP_MAX_STEPS 1000

/* ---- per-dimension statistics ------------------------------------------ */

/* One batch of m encodings (means pm, log-variances pl, [m x L]) into
 * acc = [kl sums | centred sums | centred squares]: pass 0 adds the KL and
 * the means' sums (mean), pass 1 the moments about mean. */
static void gm__dims_accumulate(const float *pm, const float *pl, size_t m, size_t L, int pass,
                                double *acc, double *mean)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < L; j++) {
            const double u = pm[i * L + j], v = pl[i * L + j];
            if (pass == 0) {
                acc[j] += 0.5 * (u * u + exp(v) - 1.0 - v);
                mean[j] += u;
            } else {
                const double c = u - mean[j];
                acc[L + j] += c;
                acc[2 * L + j] += c * c;
            }
        }
}

/* acc's sums over n samples into the mean KL (acc[0 .. L)) and the
 * activity (acc[2L .. 3L)); returns the number of active dimensions. */
static size_t gm__dims_finish(double *acc, size_t n, size_t L, double threshold)
{
    size_t count = 0;
    for (size_t j = 0; j < L; j++) {
        acc[j] /= (double)n;
        const double c = acc[L + j] / (double)n;
        const double var = acc[2 * L + j] / (double)n - c * c;
        acc[2 * L + j] = var > 0 ? var : 0.0;
        if (acc[2 * L + j] > threshold) count++;
    }
    return count;
}

/* mu, lv [m x L] and x [m x shape[1..]] for a batch of m (made again
 * when m changes; on failure those not made are NULL). */
static gm_status gm__dims_tensors(size_t m, size_t L, size_t ndim, size_t *shape, gm_tensor **mu,
                                  gm_tensor **lv, gm_tensor **x)
{
    if (*mu != NULL && gm_tensor_dim(*mu, 0) == m) return GM_OK;
    gm_tensor_free(*mu);
    gm_tensor_free(*lv);
    gm_tensor_free(*x);
    *mu = *lv = *x = NULL;
    GM_TRY(gm_tensor_create(mu, 2, (size_t[]){m, L}));
    GM_TRY(gm_tensor_create(lv, 2, (size_t[]){m, L}));
    shape[0] = m;
    return gm_tensor_create(x, ndim, shape);
}

gm_status gm_interp_vae_dims(gm_vae *vae, const gm_tensor *data, const int32_t *labels,
                             size_t batch, double threshold, double *kl, double *activity,
                             size_t latent, size_t *active)
{
    GM_CHECK_NULL(vae);
    GM_CHECK_NULL(data);
    gm_vae_options o;
    gm_vae_options_init(&o);
    GM_TRY(gm_vae_get_options(vae, &o));
    const size_t L = o.latent;
    GM_CHECK(latent == L, GM_EINVAL, "latent must be the VAE's latent size %zu, got %zu", L,
             latent);
    GM_CHECK(batch >= 1, GM_EINVAL, "batch must be >= 1, got %zu", batch);
    GM_CHECK(isfinite(threshold) && threshold >= 0, GM_EINVAL,
             "threshold must be finite and >= 0, got %g", threshold);
    size_t ndim, shape[GM_MAX_DIMS];
    GM_TRY(gm_tensor_shape(data, &ndim, shape));
    const size_t n = shape[0];
    GM_CHECK(n >= 2, GM_EINVAL, "data must hold at least 2 samples, got %zu", n);
    const size_t row = gm_tensor_numel(data) / n;
    const size_t b = batch < n ? batch : n;

    gm_status st = GM_ENOMEM;
    gm_tensor *mu = NULL, *lv = NULL, *x = NULL;
    double *acc = gm__calloc_array(3 * L, sizeof(double)); /* kl, sum mu, sum mu^2 */
    double *mean = gm__calloc_array(L, sizeof(double));
    if (acc == NULL || mean == NULL) {
        st = gm__set_error(GM_ENOMEM, __func__, "cannot allocate %zu doubles", 4 * L);
        goto done;
    }
    /* two passes: the means of mu, then the centred second moments (stable) */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i0 = 0; i0 < n; i0 += b) {
            const size_t m = n - i0 < b ? n - i0 : b;
            if ((st = gm__dims_tensors(m, L, ndim, shape, &mu, &lv, &x)) != GM_OK) goto done;
            memcpy(gm_tensor_data(x), gm_tensor_data_const(data) + i0 * row,
                   m * row * sizeof(float));
            st = gm_vae_encode(vae, x, labels != NULL ? labels + i0 : NULL, mu, lv);
            if (st != GM_OK) goto done;
            gm__dims_accumulate(gm_tensor_data_const(mu), gm_tensor_data_const(lv), m, L, pass,
                                acc, mean);
        }
        if (pass == 0)
            for (size_t j = 0; j < L; j++) mean[j] /= (double)n;
    }
    const size_t count = gm__dims_finish(acc, n, L, threshold);
    if (kl != NULL) memcpy(kl, acc, L * sizeof(double));
    if (activity != NULL) memcpy(activity, acc + 2 * L, L * sizeof(double));
    if (active != NULL) *active = count;
    st = GM_OK;
done:
    gm_tensor_free(mu);
    gm_tensor_free(lv);
    gm_tensor_free(x);
    gm__free(acc);
    gm__free(mean);
    return st;
}

gm_status gm_interp_order_desc(const double *values, size_t n, size_t *order)
{
    GM_CHECK_NULL(values);
    GM_CHECK_NULL(order);
    GM_CHECK(n >= 1, GM_EINVAL, "n must be >= 1, got %zu", n);
    for (size_t i = 0; i < n; i++)
        GM_CHECK(!isnan(values[i]), GM_EINVAL, "values[%zu] is NaN", i);
    /* insertion sort: stable, n is a latent size */
    for (size_t i = 0; i < n; i++) {
        size_t k = i;
        while (k > 0 && values[order[k - 1]] < values[i]) {
            order[k] = order[k - 1];
            k--;
        }
        order[k] = i;
    }
    return GM_OK;
}

/* ---- the table and the bar chart ----------------------------------------- */

/* Appends printf output at *len (counting only when it does not fit). */
static void gm__append(char *buf, size_t size, size_t *len, const char *fmt, ...)
    GM__PRINTF(4, 5);

#include <stdarg.h>
static void gm__append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char tmp[160];
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) k = 0;
    if ((size_t)k >= sizeof tmp) k = (int)sizeof tmp - 1;
    if (buf != NULL && *len + (size_t)k < size) memcpy(buf + *len, tmp, (size_t)k);
    *len += (size_t)k;
}

gm_status gm_interp_format_table(const double *kl, const double *activity, size_t latent,
                                 double threshold, char *buf, size_t buf_size, size_t *needed)
{
    GM_CHECK_NULL(kl);
    GM_CHECK_NULL(activity);
    GM_CHECK(latent >= 1 && latent <= 100000, GM_EINVAL,
             "latent must be in 1 .. 100000, got %zu", latent);
    GM_CHECK(isfinite(threshold) && threshold >= 0, GM_EINVAL,
             "threshold must be finite and >= 0, got %g", threshold);
    for (size_t j = 0; j < latent; j++) {
        GM_CHECK(isfinite(kl[j]), GM_EINVAL, "kl[%zu] is not finite (%g)", j, kl[j]);
        GM_CHECK(isfinite(activity[j]), GM_EINVAL, "activity[%zu] is not finite (%g)", j,
                 activity[j]);
    }
    size_t *order = gm__malloc_array(latent, sizeof(size_t));
    if (order == NULL)
        return gm__set_error(GM_ENOMEM, __func__, "cannot allocate %zu indices", latent);
    gm_interp_order_desc(kl, latent, order);
    /* two rounds: measure, then write if it fits */
    size_t len = 0;
    double total = 0;
    size_t count = 0;
    for (int round = 0; round < 2; round++) {
        char *dst = round == 0 ? NULL : buf;
        len = 0;
        total = 0;
        count = 0;
        gm__append(dst, buf_size, &len, "rank   dim   KL (nats)   Var_x E[z|x]   active\n");
        for (size_t r = 0; r < latent; r++) {
            const size_t j = order[r];
            const int on = activity[j] > threshold;
            total += kl[j];
            count += (size_t)on;
            gm__append(dst, buf_size, &len, "%4zu %5zu %11.4f %14.4f   %s\n", r, j, kl[j],
                       activity[j], on ? "yes" : "no");
        }
        gm__append(dst, buf_size, &len, "active units: %zu of %zu (threshold %g), KL total: %.4f\n",
                   count, latent, threshold, total);
        if (round == 0 && (buf == NULL || buf_size <= len)) break;
    }
    gm__free(order);
    if (needed != NULL) *needed = len;
    if (buf == NULL && buf_size == 0) return GM_OK;
    GM_CHECK(buf != NULL, GM_EINVAL, "buf must not be NULL with buf_size %zu", buf_size);
    GM_CHECK(buf_size > len, GM_EINVAL, "buf_size must be above %zu, got %zu", len, buf_size);
    buf[len] = '\0';
    return GM_OK;
}

gm_status gm_interp_bar_chart_png(const char *path, const double *values, size_t n,
                                  const double *mark_values, double mark, size_t bar_width,
                                  size_t height)
{
    GM_CHECK_NULL(path);
    GM_CHECK_NULL(values);
    GM_CHECK(n >= 1 && n <= 4096, GM_EINVAL, "n must be in 1 .. 4096, got %zu", n);
    GM_CHECK(bar_width >= 1 && bar_width <= 64, GM_EINVAL,
             "bar_width must be in 1 .. 64, got %zu", bar_width);
    GM_CHECK(height >= 8 && height <= 4096, GM_EINVAL, "height must be in 8 .. 4096, got %zu",
             height);
    GM_CHECK(isfinite(mark), GM_EINVAL, "mark must be finite, got %g", mark);
    double top = 0;
    for (size_t i = 0; i < n; i++) {
        GM_CHECK(isfinite(values[i]) && values[i] >= 0, GM_EINVAL,
                 "values[%zu] must be finite and >= 0, got %g", i, values[i]);
        if (mark_values != NULL)
            GM_CHECK(!isnan(mark_values[i]), GM_EINVAL, "mark_values[%zu] is NaN", i);
        if (values[i] > top) top = values[i];
    }
    const size_t w = n * (bar_width + 2) + 2, h = height + 4;
    gm_tensor *img;
    GM_TRY(gm_tensor_create(&img, 4, (size_t[]){1, 1, h, w}));
    float *p = gm_tensor_data(img);
    for (size_t i = 0; i < w * h; i++) p[i] = 0.85f;
    const size_t base = h - 2; /* the white base line's row */
    for (size_t x = 0; x < w; x++) p[base * w + x] = 1.0f;
    for (size_t i = 0; i < n; i++) {
        const size_t bh = top > 0 ? (size_t)(values[i] / top * (double)height + 0.5) : 0;
        const float ink = mark_values != NULL && !(mark_values[i] > mark) ? 0.55f : 0.0f;
        const size_t x0 = 2 + i * (bar_width + 2);
        for (size_t y = base - bh; y < base; y++)
            for (size_t x = x0; x < x0 + bar_width; x++) p[y * w + x] = ink;
    }
    gm_status st = gm_png_write_grid(path, img, 1, 1, 0, 0.0f);
    gm_tensor_free(img);
    return st;
}

/* ---- traversals ---------------------------------------------------------- */

/* The checks every traversal makes; fills z [R x L] from z0. */
static gm_status gm__traversal_z(const char *fn, const float *z0, size_t L, const size_t *dims,
                                 size_t n_dims, float range, size_t steps, const gm_tensor *out,
                                 gm_tensor **z)
{
    *z = NULL;
    if (dims == NULL) return gm__set_error(GM_EINVAL, fn, "dims must not be NULL");
    if (out == NULL) return gm__set_error(GM_EINVAL, fn, "out must not be NULL");
    if (n_dims < 1 || n_dims > GM__INTERP_MAX_ROWS)
        return gm__set_error(GM_EINVAL, fn, "n_dims must be in 1 .. %d, got %zu",
                             GM__INTERP_MAX_ROWS, n_dims);
    if (!(isfinite(range) && range > 0 && range <= 100))
        return gm__set_error(GM_EINVAL, fn, "range must be in (0, 100], got %g", (double)range);
    if (steps < 2 || steps > GM__INTERP_MAX_STEPS)
        return gm__set_error(GM_EINVAL, fn, "steps must be in 2 .. %d, got %zu",
                             GM__INTERP_MAX_STEPS, steps);
    for (size_t r = 0; r < n_dims; r++)
        if (dims[r] >= L)
            return gm__set_error(GM_EINVAL, fn, "dims[%zu] must be < the latent size %zu, got %zu",
                                 r, L, dims[r]);
    for (size_t j = 0; j < L; j++)
        if (!isfinite(z0[j]))
            return gm__set_error(GM_EINVAL, fn, "z0[%zu] is not finite (%g)", j, (double)z0[j]);
    const size_t R = n_dims * steps;
    if (gm_tensor_dim(out, 0) != R)
        return gm__set_error(GM_ESHAPE, fn,
                             "out must hold n_dims * steps = %zu samples, got first dimension %zu",
                             R, gm_tensor_dim(out, 0));
    GM_TRY(gm_tensor_create(z, 2, (size_t[]){R, L}));
    float *p = gm_tensor_data(*z);
    for (size_t r = 0; r < n_dims; r++)
        for (size_t s = 0; s < steps; s++) {
            float *zr = p + (r * steps + s) * L;
            memcpy(zr, z0, L * sizeof(float));
            zr[dims[r]] += (float)(-(double)range + 2.0 * range * (double)s / (double)(steps - 1));
        }
    return GM_OK;
}

/* R copies of *label (or NULL). */
static gm_status gm__repeat_label(const char *fn, const int32_t *label, size_t C, size_t R,
                                  int32_t **out)
{
    *out = NULL;
    if (label == NULL) return GM_OK;
    if (C == 0)
        return gm__set_error(GM_EINVAL, fn, "label must be NULL for an unconditional model");
    if (*label < 0 || (size_t)*label >= C)
        return gm__set_error(GM_EINVAL, fn, "label must be in [0, %zu), got %d", C, (int)*label);
    *out = gm__malloc_array(R, sizeof(int32_t));
    if (*out == NULL) return gm__set_error(GM_ENOMEM, fn, "cannot allocate %zu labels", R);
    for (size_t i = 0; i < R; i++) (*out)[i] = *label;
    return GM_OK;
}

gm_status gm_interp_vae_traverse(gm_vae *vae, const gm_tensor *x, const float *z0,
                                 const int32_t *label, const size_t *dims, size_t n_dims,
                                 float range, size_t steps, gm_tensor *out)
{
    GM_CHECK_NULL(vae);
    GM_CHECK((x == NULL) != (z0 == NULL), GM_EINVAL,
             "exactly one of x and z0 must be given, got %s", x == NULL ? "neither" : "both");
    gm_vae_options o;
    gm_vae_options_init(&o);
    GM_TRY(gm_vae_get_options(vae, &o));
    const size_t L = o.latent;
    if (label != NULL) {
        GM_CHECK(o.num_classes > 0, GM_EINVAL, "label must be NULL for an unconditional VAE");
        GM_CHECK(*label >= 0 && (size_t)*label < o.num_classes, GM_EINVAL,
                 "label must be in [0, %zu), got %d", o.num_classes, (int)*label);
    }
    float *base = gm__malloc_array(L, sizeof(float));
    if (base == NULL) return gm__set_error(GM_ENOMEM, __func__, "cannot allocate %zu floats", L);
    gm_status st = GM_OK;
    gm_tensor *z = NULL, *mu = NULL;
    int32_t *labels = NULL;
    if (x != NULL) {
        if (gm_tensor_dim(x, 0) != 1) {
            st = gm__set_error(GM_ESHAPE, __func__, "x must hold one sample, got %zu",
                               gm_tensor_dim(x, 0));
            goto done;
        }
        if ((st = gm_tensor_create(&mu, 2, (size_t[]){1, L})) != GM_OK) goto done;
        if ((st = gm_vae_encode(vae, x, label, mu, NULL)) != GM_OK) goto done;
        memcpy(base, gm_tensor_data_const(mu), L * sizeof(float));
    } else {
        memcpy(base, z0, L * sizeof(float));
    }
    if ((st = gm__traversal_z(__func__, base, L, dims, n_dims, range, steps, out, &z)) != GM_OK)
        goto done;
    if ((st = gm__repeat_label(__func__, label, o.num_classes, n_dims * steps, &labels)) != GM_OK)
        goto done;
    st = gm_vae_decode(vae, z, labels, out);
done:
    gm_tensor_free(z);
    gm_tensor_free(mu);
    gm__free(labels);
    gm__free(base);
    return st;
}

gm_status gm_interp_gan_traverse(gm_gan *gan, const float *z0, const int32_t *label,
                                 const size_t *dims, size_t n_dims, float range, size_t steps,
                                 gm_tensor *out)
{
    GM_CHECK_NULL(gan);
    GM_CHECK_NULL(z0);
    gm_gan_options o;
    gm_gan_options_init(&o);
    GM_TRY(gm_gan_get_options(gan, &o));
    gm_tensor *z;
    GM_TRY(gm__traversal_z(__func__, z0, o.latent, dims, n_dims, range, steps, out, &z));
    int32_t *labels;
    gm_status st = gm__repeat_label(__func__, label, o.num_classes, n_dims * steps, &labels);
    if (st == GM_OK) st = gm_gan_generate(gan, z, labels, out);
    gm_tensor_free(z);
    gm__free(labels);
    return st;
}

/* The element count of one sample of shape oshape[1 .. ond). */
static size_t gm__per_sample(size_t ond, const size_t *oshape)
{
    size_t D = 1;
    for (size_t i = 1; i < ond; i++) D *= oshape[i];
    return D;
}

/* The variance over the steps of y [steps x D], summed over the D outputs. */
static double gm__steps_variance(const float *y, size_t steps, size_t D)
{
    double sum = 0;
    for (size_t d = 0; d < D; d++) {
        double m = 0, m2 = 0;
        for (size_t s = 0; s < steps; s++) m += y[s * D + d];
        m /= (double)steps;
        for (size_t s = 0; s < steps; s++) {
            const double c = y[s * D + d] - m;
            m2 += c * c;
        }
        sum += m2 / (double)steps;
    }
    return sum;
}

gm_status gm_interp_gan_effect(gm_gan *gan, const gm_tensor *z, const int32_t *labels,
                               float range, size_t steps, double *effect, size_t latent)
{
    GM_CHECK_NULL(gan);
    GM_CHECK_NULL(z);
    GM_CHECK_NULL(effect);
    gm_gan_options o;
    gm_gan_options_init(&o);
    GM_TRY(gm_gan_get_options(gan, &o));
    const size_t L = o.latent, C = o.num_classes;
    GM_CHECK(latent == L, GM_EINVAL, "latent must be the GAN's latent size %zu, got %zu", L,
             latent);
    GM_CHECK(gm_tensor_ndim(z) == 2 && gm_tensor_dim(z, 1) == L, GM_ESHAPE,
             "z must be [N x %zu]", L);
    const size_t n = gm_tensor_dim(z, 0);
    GM_CHECK(n <= 100000, GM_EINVAL, "z must hold at most 100000 rows, got %zu", n);
    GM_CHECK(isfinite(range) && range > 0 && range <= 100, GM_EINVAL,
             "range must be in (0, 100], got %g", (double)range);
    GM_CHECK(steps >= 2 && steps <= GM__INTERP_MAX_STEPS, GM_EINVAL,
             "steps must be in 2 .. %d, got %zu", GM__INTERP_MAX_STEPS, steps);
    if (C == 0) GM_CHECK(labels == NULL, GM_EINVAL, "labels must be NULL for an unconditional GAN");
    else GM_TRY(gm__check_labels(__func__, labels, n, C));
    const float *zp = gm_tensor_data_const(z);
    GM_TRY(gm__check_all_finite(__func__, "z", zp, n * L));
    size_t ond, oshape[GM_MAX_DIMS];
    GM_TRY(gm_net_output_shape(gm_gan_generator(gan), 2, (size_t[]){steps, L + C}, &ond, oshape));
    const size_t D = gm__per_sample(ond, oshape);

    gm_status st = GM_ENOMEM;
    gm_tensor *zt = NULL, *out = NULL;
    int32_t *lab = NULL;
    double *acc = gm__calloc_array(L, sizeof(double));
    if (acc == NULL || (C > 0 && (lab = gm__malloc_array(steps, sizeof(int32_t))) == NULL))
        st = gm__set_error(GM_ENOMEM, __func__, "cannot allocate %zu doubles", L);
    else if ((st = gm_tensor_create(&zt, 2, (size_t[]){steps, L})) == GM_OK)
        st = gm_tensor_create(&out, ond, oshape);
    if (st != GM_OK) goto done;
    for (size_t i = 0; i < n; i++) {
        if (lab != NULL)
            for (size_t s = 0; s < steps; s++) lab[s] = labels[i];
        for (size_t j = 0; j < L; j++) {
            size_t dim = j;
            gm_tensor_free(zt);
            zt = NULL;
            if ((st = gm__traversal_z(__func__, zp + i * L, L, &dim, 1, range, steps, out, &zt)) !=
                GM_OK)
                goto done;
            if ((st = gm_gan_generate(gan, zt, lab, out)) != GM_OK) goto done;
            acc[j] += gm__steps_variance(gm_tensor_data_const(out), steps, D);
        }
    }
    for (size_t j = 0; j < L; j++) effect[j] = n > 0 ? acc[j] / (double)n : 0.0;
    st = GM_OK;
done:
    gm_tensor_free(zt);
    gm_tensor_free(out);
    gm__free(lab);
    gm__free(acc);
    return st;
}

/* decode / generate (z0 repeated C times, labels 0 .. C-1) into out. */
static gm_status gm__classes(const char *fn, gm_vae *vae, gm_gan *gan, size_t L, size_t C,
                             const float *z0, gm_tensor *out)
{
    if (z0 == NULL) return gm__set_error(GM_EINVAL, fn, "z0 must not be NULL");
    if (out == NULL) return gm__set_error(GM_EINVAL, fn, "out must not be NULL");
    if (C == 0)
        return gm__set_error(GM_EUNSUPPORTED, fn, "the model is not conditional (no classes)");
    for (size_t j = 0; j < L; j++)
        if (!isfinite(z0[j]))
            return gm__set_error(GM_EINVAL, fn, "z0[%zu] is not finite (%g)", j, (double)z0[j]);
    if (gm_tensor_dim(out, 0) != C)
        return gm__set_error(GM_ESHAPE, fn, "out must hold %zu samples (one per class), got %zu",
                             C, gm_tensor_dim(out, 0));
    gm_tensor *z;
    GM_TRY(gm_tensor_create(&z, 2, (size_t[]){C, L}));
    int32_t *lab = gm__malloc_array(C, sizeof(int32_t));
    if (lab == NULL) {
        gm_tensor_free(z);
        return gm__set_error(GM_ENOMEM, fn, "cannot allocate %zu labels", C);
    }
    for (size_t c = 0; c < C; c++) {
        memcpy(gm_tensor_data(z) + c * L, z0, L * sizeof(float));
        lab[c] = (int32_t)c;
    }
    gm_status st = vae != NULL ? gm_vae_decode(vae, z, lab, out) : gm_gan_generate(gan, z, lab, out);
    gm_tensor_free(z);
    gm__free(lab);
    return st;
}

gm_status gm_interp_vae_classes(gm_vae *vae, const float *z0, gm_tensor *out)
{
    GM_CHECK_NULL(vae);
    gm_vae_options o;
    gm_vae_options_init(&o);
    GM_TRY(gm_vae_get_options(vae, &o));
    return gm__classes(__func__, vae, NULL, o.latent, o.num_classes, z0, out);
}

gm_status gm_interp_gan_classes(gm_gan *gan, const float *z0, gm_tensor *out)
{
    GM_CHECK_NULL(gan);
    gm_gan_options o;
    gm_gan_options_init(&o);
    GM_TRY(gm_gan_get_options(gan, &o));
    return gm__classes(__func__, NULL, gan, o.latent, o.num_classes, z0, out);
}
