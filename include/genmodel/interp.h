/* SPDX-License-Identifier: MIT */
/*
 * libgenmodel — looking inside a model (issue 21): which latent dimensions
 * a VAE uses, latent traversals of VAEs and GANs, a data set whose true
 * factors are known ("shapes", in the spirit of dSprites) and the Mutual
 * Information Gap (MIG) disentanglement score.
 *
 * None of these functions trains, draws from a model's generators or
 * changes a model: they call gm_vae_encode / gm_vae_decode /
 * gm_gan_generate (evaluation mode, no noise) and read the results.
 * Every array argument stays the caller's; nothing is kept after a call.
 * Threading: as every call on one model (one thread at a time per VAE or
 * GAN); the functions without a model keep no state and may run on
 * several threads at once.
 * Errors: GM_EINVAL names the function and the value (NULL, a size or
 * count out of range, a non-finite value); the model's own errors are
 * passed on with their messages. On error, outputs are left as they were.
 */
#ifndef GENMODEL_INTERP_H
#define GENMODEL_INTERP_H

#include "core.h"
#include "gan.h"
#include "tensor.h"
#include "vae.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- which latent dimensions a VAE uses -------------------------------- */

/** The activity threshold of Burda et al. (2016, the IWAE paper): a latent
 *  dimension u is active when Cov_x(E_q[u | x]) > 0.01. */
#define GM_INTERP_ACTIVE_THRESHOLD 0.01f

/**
 * Per-dimension statistics of a VAE's posterior over a data set, from the
 * encoder's means and log-variances (gm_vae_encode on consecutive batches
 * of `batch` rows; no noise is drawn, the model does not change):
 *   kl[j]       = mean over x of 1/2 (mu_j^2 + exp(lv_j) - 1 - lv_j), the
 *                 dimension's share of the KL term (nats; sums to the
 *                 model's mean KL);
 *   activity[j] = Var over x of mu_j(x) (normalized by N), the activity
 *                 statistic of Burda et al.;
 *   *active     = the number of j with activity[j] > threshold.
 * Sums are taken in double.
 * @param vae        used, not owned.
 * @param data       [N x ...] samples as gm_vae_encode takes them, N >= 2.
 * @param labels     NULL (unconditional), else N labels in [0, C).
 * @param batch      rows per encoder call, >= 1 (min(batch, N) is used).
 * @param threshold  finite, >= 0; GM_INTERP_ACTIVE_THRESHOLD is the usual.
 * @param kl         `latent` doubles, written; NULL to skip.
 * @param activity   `latent` doubles, written; NULL to skip.
 * @param latent     must equal the VAE's latent size L.
 * @param[out] active NULL or the number of active dimensions.
 * @return GM_OK; GM_EINVAL (NULL vae/data, latent != L, N < 2, batch 0,
 *         threshold); the errors of gm_vae_encode (shape, labels); GM_ENOMEM.
 */
GM_API gm_status gm_interp_vae_dims(gm_vae *vae, const gm_tensor *data, const int32_t *labels,
                                    size_t batch, double threshold, double *kl,
                                    double *activity, size_t latent, size_t *active);

/**
 * order[0 .. n) = the indices of values sorted by value, largest first;
 * ties keep the smaller index first (a stable order, the same on every
 * machine). E.g. the rows of a traversal by KL.
 * @return GM_OK; GM_EINVAL (NULL, n 0, a NaN value).
 */
GM_API gm_status gm_interp_order_desc(const double *values, size_t n, size_t *order);

/**
 * Formats the per-dimension table as text into buf: a header line, then one
 * line per dimension in order of kl (largest first) with its rank, index,
 * KL, activity and "yes"/"no" for activity > threshold, then a line with
 * the totals ("active units: A of L, KL total: ..."). Lines end with '\n'.
 * @param buf       NULL (with buf_size 0) to ask for the size only, else
 *                  buf_size bytes; written (NUL-terminated) only when the
 *                  whole table fits.
 * @param[out] needed  NULL or the table's length without the NUL.
 * @return GM_OK; GM_EINVAL (kl/activity NULL, latent 0 or above 100000,
 *         non-finite values, threshold, buf_size not above the length
 *         with buf given: then nothing is written, *needed is set).
 */
GM_API gm_status gm_interp_format_table(const double *kl, const double *activity, size_t latent,
                                        double threshold, char *buf, size_t buf_size,
                                        size_t *needed);

/**
 * Writes a bar chart of values[0 .. n) as a grey-scale PNG (through
 * gm_png_write_grid): a light grey (0.85) picture of
 * (n * (bar_width + 2) + 2) x (height + 4) pixels, one black bar per value
 * from the bottom, its height proportional to value / max(values), bars
 * below `mark` drawn mid-grey (0.55) instead of black (e.g. the inactive
 * dimensions: mark = GM_INTERP_ACTIVE_THRESHOLD with the activities; 0 to
 * draw all black), and a white base line.
 * @param values    n finite values >= 0, in the order to draw them.
 * @param n         1 .. 4096.
 * @param bar_width 1 .. 64 pixels; height: 8 .. 4096 pixels.
 * @param mark_values NULL (all bars black), or n values compared with mark.
 * @return GM_OK; GM_EINVAL (NULL, sizes, negative or non-finite values);
 *         the errors of gm_png_write_grid (GM_EIO ...); GM_ENOMEM.
 */
GM_API gm_status gm_interp_bar_chart_png(const char *path, const double *values, size_t n,
                                         const double *mark_values, double mark,
                                         size_t bar_width, size_t height);

/* ---- latent traversals ------------------------------------------------- */

/*
 * A traversal holds a base latent z0 and, for each chosen dimension d,
 * decodes `steps` latents equal to z0 except z_d = z0_d + t_s, with
 *   t_s = -range + 2 range s / (steps - 1),  s = 0 .. steps - 1
 * (range in units of the prior's standard deviation, which is 1). Row r of
 * the grid is dimension dims[r]: out holds n_dims * steps samples, sample
 * r * steps + s. Written in one call of the decoder / generator.
 */

/**
 * A VAE traversal: the base is z0 if given, else the encoder's mean for x.
 * @param x        NULL or one sample ([1 x ...], as gm_vae_encode takes).
 * @param z0       NULL or L floats; exactly one of x and z0 is given.
 * @param label    NULL (unconditional), else one label in [0, C) used for
 *                 every row (and for encoding x).
 * @param dims     n_dims dimension indices in [0, L) (repeats allowed),
 *                 e.g. from gm_interp_order_desc over gm_interp_vae_dims'
 *                 kl; n_dims 1 .. 4096.
 * @param range    finite, (0, 100]; steps 2 .. 1000.
 * @param out      n_dims * steps samples of the decoder's output (any
 *                 batch-first shape, e.g. [R x 1 x H x W] for
 *                 gm_png_write_grid with rows n_dims, cols steps), written.
 * @return GM_OK; GM_EINVAL (NULL, both or neither of x and z0, non-finite
 *         z0, a dim out of range, range, steps, label); GM_ESHAPE (out's
 *         first dimension, or out / x do not fit the model); GM_ENOMEM.
 */
GM_API gm_status gm_interp_vae_traverse(gm_vae *vae, const gm_tensor *x, const float *z0,
                                        const int32_t *label, const size_t *dims, size_t n_dims,
                                        float range, size_t steps, gm_tensor *out);

/**
 * A GAN traversal of the generator around z0 (L floats, required); as
 * gm_interp_vae_traverse otherwise (label: NULL or one label).
 */
GM_API gm_status gm_interp_gan_traverse(gm_gan *gan, const float *z0, const int32_t *label,
                                        const size_t *dims, size_t n_dims, float range,
                                        size_t steps, gm_tensor *out);

/**
 * How much each latent dimension of a GAN's generator moves its output:
 * for every base z_i (the rows of z) and dimension j, the traversal of j
 * around z_i over `steps` values in [-range, range] is generated, and
 *   effect[j] = mean over i of sum over output elements of the variance
 *               (normalized by steps) of that element along the traversal.
 * Order a GAN traversal's rows by it (gm_interp_order_desc).
 * @param z        [N x L] base latents (e.g. drawn by the caller), finite,
 *                 N 1 .. 100000.
 * @param labels   NULL, or N labels when conditional.
 * @param effect   L doubles, written; latent must equal L.
 * @return GM_OK; GM_EINVAL; GM_ESHAPE (z not [N x L]); GM_ENOMEM; the
 *         errors of gm_gan_generate.
 */
GM_API gm_status gm_interp_gan_effect(gm_gan *gan, const gm_tensor *z, const int32_t *labels,
                                      float range, size_t steps, double *effect, size_t latent);

/**
 * A traversal over the classes of a conditional VAE: out sample c is
 * decode(z0, label c), c = 0 .. C - 1.
 * @param z0   L finite floats. @param out C samples, written.
 * @return GM_OK; GM_EINVAL (NULL, non-finite z0); GM_EUNSUPPORTED (the
 *         VAE is unconditional); GM_ESHAPE; GM_ENOMEM.
 */
GM_API gm_status gm_interp_vae_classes(gm_vae *vae, const float *z0, gm_tensor *out);

/** As gm_interp_vae_classes, for a conditional GAN's generator. */
GM_API gm_status gm_interp_gan_classes(gm_gan *gan, const float *z0, gm_tensor *out);

/* ---- the shapes data set: images whose factors are known ---------------- */

/*
 * Binary images of one white shape on black, every combination of 5
 * factors (the columns of a factors row, int32):
 *   0 shape     3 values: 0 square, 1 ellipse, 2 heart
 *   1 scale     6 values
 *   2 rotation  16 values (side 32) or 40 (side 64), over a full turn
 *   3 x         16 values (side 32) or 32 (side 64)
 *   4 y         likewise
 * so 3 * 6 * 16 * 16 * 16 = 73728 images of 32 x 32, or
 * 3 * 6 * 40 * 32 * 32 = 737280 of 64 x 64. A combination's index is
 * mixed-radix with the last factor fastest:
 *   index = (((shape * 6 + scale) * R + rotation) * P + x) * P + y.
 *
 * Rasterization (S = side, in double precision, + - * / only, no FMA, so
 * every image is the same bits on every IEEE-754 machine): pixel (row i,
 * column j) has its centre at u = (j + 0.5) / S, v = (i + 0.5) / S. The
 * shape's centre is cx = 0.2 + 0.6 x / (P - 1), cy = 0.2 + 0.6 y / (P - 1),
 * its size r = 0.08 + 0.02 scale (0.08 .. 0.18 of the side), its angle
 * a = 2 pi rotation / R, with cos a and sin a from a fixed Taylor series
 * (not libm). The pixel is 1 when its centre, moved to the shape's frame,
 *   p = ( cos a (u - cx) + sin a (v - cy)) / r,
 *   q = (-sin a (u - cx) + cos a (v - cy)) / r,
 * lies inside the shape:
 *   square   |p| <= 0.8 and |q| <= 0.8
 *   ellipse  p^2 + (q / 0.55)^2 <= 1
 *   heart    (X^2 + Y^2 - 1)^3 - X^2 Y^3 <= 0 with X = 1.15 p,
 *            Y = 0.1 - 1.15 q (upright when rotation is 0)
 * and 0 otherwise. The square looks the same after a quarter turn and the
 * ellipse after a half turn, so rotation is partly unidentifiable (as in
 * dSprites).
 */

#define GM_SHAPES_FACTORS 5

/**
 * The number of values of each factor for images of side `side`.
 * @param side    32 or 64.
 * @param sizes   GM_SHAPES_FACTORS sizes, written.
 * @param[out] count NULL or the number of combinations.
 * @return GM_OK; GM_EINVAL (NULL sizes, another side).
 */
GM_API gm_status gm_shapes_factor_sizes(size_t side, size_t *sizes, uint64_t *count);

/**
 * Converts indices to factor rows ([n x 5], written) and back.
 * @return GM_OK; GM_EINVAL (NULL, side, an index >= count or a factor out
 *         of range; nothing is written).
 */
GM_API gm_status gm_shapes_index_to_factors(size_t side, const uint64_t *index, size_t n,
                                            int32_t *factors);
GM_API gm_status gm_shapes_factors_to_index(size_t side, const int32_t *factors, size_t n,
                                            uint64_t *index);

/**
 * A seeded random subset: n distinct combinations (selection sampling over
 * the indices in order, then a Fisher-Yates shuffle, both drawing from
 * gm_rng_create(seed); the same seed gives the same rows everywhere).
 * @param n        1 .. count.
 * @param factors  [n x 5] int32, written.
 * @param index    NULL or n indices, written.
 * @return GM_OK; GM_EINVAL (NULL, side, n); GM_ENOMEM.
 */
GM_API gm_status gm_shapes_sample(size_t side, uint64_t seed, size_t n, int32_t *factors,
                                  uint64_t *index);

/**
 * Draws the images of n factor rows (see the rasterization above).
 * @param factors  [n x 5], each in range.
 * @param out      n * side * side floats ([n x 1 x S x S] is the usual
 *                 shape), written with 0 or 1.
 * @return GM_OK; GM_EINVAL (NULL, side, a factor out of range, n 0);
 *         GM_ESHAPE (out's element count is not n * side * side or its
 *         first dimension is not n).
 */
GM_API gm_status gm_shapes_render(size_t side, const int32_t *factors, size_t n, gm_tensor *out);

/* ---- the Mutual Information Gap ------------------------------------------ */

/**
 * MIG (Chen et al., 2018, "Isolating sources of disentanglement in VAEs")
 * of latent codes against known discrete factors, estimated as:
 *  - each latent dimension j is discretized into `bins` equal-width bins
 *    over [min_j, max_j] of its N values (bin = floor(bins (z - min) /
 *    (max - min)), the maximum into the last bin; a constant dimension is
 *    one bin, so it carries no information);
 *  - each factor k takes its distinct values as categories;
 *  - I(v_k; z_j) = sum p(a, b) log(p(a, b) / (p(a) p(b))) from the joint
 *    histogram of the N rows (plug-in estimate, natural logarithms), and
 *    H(v_k) = -sum p(a) log p(a);
 *  - per factor, gap_k = (I_(1) - I_(2)) / H(v_k), the difference between
 *    the largest and second largest I(v_k; z_j) over j, and
 *    MIG = the mean of gap_k over the K factors.
 * The plug-in estimate is biased upwards for few rows per cell: use N well
 * above bins times the largest number of factor values. The posterior
 * means of any encoder can be passed (gm_vae_encode's mu).
 * @param latents  [n x latent] floats, row-major, finite.
 * @param n        2 .. 2^31 - 1 rows; latent >= 2 dimensions.
 * @param factors  [n x n_factors] int32, row-major; every factor must take
 *                 at least 2 values (H > 0). n_factors >= 1.
 * @param bins     2 .. 10000 (20 is the usual).
 * @param[out] mig the score, in [0, 1].
 * @param gaps     NULL or n_factors doubles: gap_k, written.
 * @param mi       NULL or [n_factors x latent] doubles: I(v_k; z_j) in
 *                 nats, written.
 * @return GM_OK; GM_EINVAL (NULL, sizes, non-finite latents, a constant
 *         factor); GM_ENOMEM.
 */
GM_API gm_status gm_interp_mig(const float *latents, size_t n, size_t latent,
                               const int32_t *factors, size_t n_factors, size_t bins,
                               double *mig, double *gaps, double *mi);

#ifdef __cplusplus
}
#endif

#endif /* GENMODEL_INTERP_H */
