/* SPDX-License-Identifier: MIT */
/**
 * @file
 * libgenmodel — evaluation: how close a model's samples are to real data,
 * how much of the data they cover, and whether they copy training images.
 *
 * Sets of vectors are tensors read as [N x D]: the first dimension counts
 * the vectors, the others (multiplied) give D, so image batches
 * [N x C x H x W] and feature matrices [N x F] are both accepted. Two sets
 * compared with each other must have the same per-vector shape.
 *
 *  - gm_eval_features runs images through a feature net (a classifier
 *    without its last layer, e.g. the one examples/train_features.c trains
 *    on Fashion-MNIST and saves with gm_net_save) in evaluation mode.
 *  - gm_eval_frechet: the Fréchet distance between Gaussians fitted to two
 *    feature sets (on Inception features this is the FID).
 *  - gm_eval_precision_recall: precision and recall with k-nearest-neighbour
 *    manifolds (Kynkäänniemi et al., 2019).
 *  - gm_eval_density_coverage: density and coverage on the same real k-NN
 *    balls (Naeem et al., 2020), telling what precision and recall miss: a
 *    model putting all its samples on one point inside a real ball has
 *    precision 1, but covers only the real balls holding that point.
 *  - gm_eval_nearest: each sample's distance to its closest training
 *    vector, summarized (memorization shows as samples far closer to the
 *    training set than held-out data is).
 *  - gm_eval_images does all of the above for a sample set against a real
 *    set, plus a VAE's IWAE estimate of -log p(real), in one report.
 *
 * Statistics are computed in double precision: means and covariances
 * (normalized by N - 1, as numpy.cov), the matrix square root through
 * LAPACK's symmetric eigensolver (dsyevd, from OpenBLAS), the neighbour
 * distances of the k-NN metrics through dgemm as |a|^2 + |b|^2 - 2 a.b.
 * The nearest-training-vector search uses float sgemm (training sets are
 * large) and recomputes the distance to the neighbour found exactly.
 * Memory stays bounded: distance matrices are computed in blocks.
 *
 * Threading: the functions keep no state. Those taking a gm_net or gm_vae
 * use it (one thread at a time, as every call on a handle); the others
 * only read their inputs and may run on several threads at once. The BLAS
 * may use several threads inside one call (gm_set_num_threads).
 * Errors: GM_EINVAL (NULL, a size out of range, a non-finite value),
 * GM_ESHAPE (sets that do not fit together), GM_ENOMEM. On error every
 * output is left as it was, and gm_last_error() names the function and the
 * offending value.
 */
#ifndef GENMODEL_EVAL_H
#define GENMODEL_EVAL_H

#include "core.h"
#include "tensor.h"
#include "net.h"
#include "vae.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Features of images: features row i = net(images row i), computed in
 * batches with the net in evaluation mode (dropout off, batchnorm on its
 * running statistics); the net's mode is restored afterwards. Its
 * parameters are not changed; its activation buffers are resized to the
 * batch shape (as gm_net_forward does).
 * @param net       the feature net; used, not owned.
 * @param images    [N x ...] batch-first input of the net; only read.
 * @param batch     images per forward, 1 .. N; 0 = min(256, N).
 * @param[out] features  [N x ...] holding N times the net's per-sample
 *                  output size (e.g. [N x F]); written.
 * @return GM_OK; GM_EINVAL (NULL, batch > N, a non-finite image value);
 *         GM_ESHAPE (the images do not fit the net, features has the
 *         wrong size); GM_ENOMEM. Errors of the net's forward pass are
 *         passed on. On error `features` and the net's mode are unchanged.
 */
GM_API gm_status gm_eval_features(gm_net *net, const gm_tensor *images, size_t batch,
                                  gm_tensor *features);

/**
 * Fréchet distance between the Gaussians fitted to two sets,
 *   d = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a^1/2 S_b S_a^1/2)^1/2),
 * with S the covariance normalized by N - 1. This is the squared
 * 2-Wasserstein distance, the number FID reports. Square roots come from
 * symmetric eigendecompositions (LAPACK dsyevd); eigenvalues that rounding
 * makes slightly negative are taken as 0, and so is a slightly negative d
 * (identical sets give 0).
 * @param a, b  [Na x D] and [Nb x D] (same per-vector shape), Na, Nb >= 2,
 *              D <= 16384, every value finite; only read.
 * @param[out] distance  receives d >= 0.
 * @return GM_OK; GM_EINVAL (NULL, fewer than 2 vectors, D > 16384, a
 *         non-finite value, values so large that a covariance overflows);
 *         GM_ESHAPE (per-vector shapes differ);
 *         GM_ENOMEM; GM_EINTERNAL (the eigensolver failed to converge).
 */
GM_API gm_status gm_eval_frechet(const gm_tensor *a, const gm_tensor *b, double *distance);

/**
 * Precision and recall with k-nearest-neighbour manifolds (Kynkäänniemi
 * et al., 2019). Each real vector gets a ball reaching its k-th nearest
 * other real vector; precision is the fraction of fake vectors inside at
 * least one real ball. Recall is the same with the roles swapped: the
 * fraction of real vectors inside at least one fake ball (balls reaching
 * each fake vector's k-th nearest other fake vector). Distances are
 * Euclidean; a point on a ball's boundary is inside.
 * @param real, fake  [Nr x D] and [Nf x D] (same per-vector shape), each
 *                    with at least k + 1 vectors, every value finite; only
 *                    read.
 * @param k           neighbours, >= 1 (the paper uses 3).
 * @param[out] precision, recall  receive values in [0, 1]; either may be
 *                    NULL if not wanted (not both).
 * @return GM_OK; GM_EINVAL (NULL, k 0, fewer than k + 1 vectors, a
 *         non-finite value); GM_ESHAPE; GM_ENOMEM.
 */
GM_API gm_status gm_eval_precision_recall(const gm_tensor *real, const gm_tensor *fake,
                                          size_t k, double *precision, double *recall);

/**
 * Density and coverage (Naeem, Oh, Uh, Choi and Yoo, 2020, "Reliable
 * Fidelity and Diversity Metrics for Generative Models") on the real balls
 * of gm_eval_precision_recall: B_i reaches from real vector X_i to its k-th
 * nearest other real vector (Euclidean; a point on the boundary is inside).
 * With N real and M fake vectors Y_j,
 *   density  = 1/(k M) sum_j #{i : Y_j in B_i},
 *   coverage = 1/N #{i : some Y_j in B_i}.
 * Density counts how many real balls each fake vector falls in: about 1
 * for fakes drawn like the reals, above 1 where they crowd into dense
 * regions, at most N / k. Coverage is the fraction of real balls holding a
 * fake vector, in [0, 1]: identical sets give 1, while a model whose
 * samples are all one point covers only the balls around that point.
 * Real vectors are N >= k + 1; fake vectors M >= 1.
 * Distances come from the BLAS (see above), so a vector lying on a ball's
 * boundary to within rounding may count with one BLAS kernel and not with
 * another.
 * @param real, fake  [N x D] and [M x D] (same per-vector shape), N >= k + 1,
 *                    every value finite; only read.
 * @param k           neighbours, >= 1 (the paper uses 5).
 * @param[out] density, coverage  receive the values; either may be NULL if
 *                    not wanted (not both).
 * @return GM_OK; GM_EINVAL (NULL, k 0, fewer than k + 1 real vectors, a
 *         non-finite value); GM_ESHAPE (per-vector shapes differ); GM_ENOMEM.
 *         On error the outputs are unchanged.
 */
GM_API gm_status gm_eval_density_coverage(const gm_tensor *real, const gm_tensor *fake,
                                          size_t k, double *density, double *coverage);

/**
 * Summary of the distances from each sample to its nearest training
 * vector (Euclidean). Quantiles interpolate linearly between order
 * statistics, as numpy.quantile. This struct is complete: it never grows.
 */
typedef struct gm_eval_nearest_stats {
    double mean;   /**< mean distance */
    double min;    /**< the closest any sample comes to the training set */
    double q05;    /**< 5% of the samples are at most this close */
    double median; /**< median distance */
    double max;    /**< largest distance */
} gm_eval_nearest_stats;

/**
 * Nearest-neighbour memorization check: for each sample, the distance to
 * its closest training vector, summarized.
 * @param samples  [N x D], N >= 1, finite; only read.
 * @param train    [M x D] (same per-vector shape), M >= 1, finite; only read.
 * @param[out] stats      receives the summary.
 * @param[out] distances  NULL, or a tensor of N elements that receives each
 *                        sample's distance.
 * @return GM_OK; GM_EINVAL (NULL, a non-finite value); GM_ESHAPE
 *         (per-vector shapes differ, distances not of N elements);
 *         GM_ENOMEM.
 */
GM_API gm_status gm_eval_nearest(const gm_tensor *samples, const gm_tensor *train,
                                 gm_eval_nearest_stats *stats, gm_tensor *distances);

/**
 * Settings of gm_eval_images. Fill with gm_eval_options_init (or
 * GM_EVAL_OPTIONS_INIT); fields are only appended.
 */
typedef struct gm_eval_options {
    size_t size;        /**< sizeof(gm_eval_options); set by init */
    size_t k;           /**< neighbours of precision/recall and
                             density/coverage, >= 1; default 3 */
    size_t batch;       /**< images per forward of the feature net; 0 =
                             min(256, N) (the default) */
    size_t nearest_max; /**< the memorization check uses the first
                             nearest_max samples; 0 = all; default 1000 */
    size_t iwae_k;      /**< importance samples of the IWAE estimate,
                             1 .. 100000; default 50 */
    size_t iwae_max;    /**< the IWAE estimate uses the first iwae_max real
                             images; 0 = all; default 1000 */
} gm_eval_options;

/** gm_eval_options with the defaults, as gm_eval_options_init() fills it. */
#define GM_EVAL_OPTIONS_INIT { sizeof(gm_eval_options), 3, 0, 1000, 50, 1000 }

/** Fills opts with the defaults. @return GM_OK or GM_EINVAL (NULL). */
GM_API gm_status gm_eval_options_init(gm_eval_options *opts);

/**
 * What gm_eval_images measured. The caller sets `size` (GM_EVAL_REPORT_INIT
 * does); the library writes the fields that fit in it, so the struct can
 * grow at its end: fields are only appended. A caller built before density
 * and coverage were appended passes the smaller size of its struct (up to
 * iwae_nll) and gets every field but those two.
 */
typedef struct gm_eval_report {
    size_t size;          /**< sizeof(gm_eval_report), set by the caller */
    size_t n_samples;     /**< sample images compared */
    size_t n_real;        /**< real images compared */
    size_t feature_dim;   /**< features per image */
    double frechet;       /**< Fréchet distance of the features */
    double precision;     /**< k-NN precision of the samples' features */
    double recall;        /**< k-NN recall of the samples' features */
    size_t n_nearest;     /**< samples in the memorization check (0 without
                               a training set) */
    gm_eval_nearest_stats nearest; /**< their distances to the nearest
                               training image, in pixel space (all NaN
                               without a training set) */
    double iwae_nll;      /**< the VAE's IWAE estimate of -log p(x) over the
                               real images, nats per image (NaN without a
                               VAE) */
    /* appended after the first version: */
    double density;       /**< density of the samples' features
                               (gm_eval_density_coverage) */
    double coverage;      /**< coverage of the real features by the
                               samples' (gm_eval_density_coverage) */
} gm_eval_report;

/** An empty gm_eval_report with its `size` set, to pass to gm_eval_images(). */
#define GM_EVAL_REPORT_INIT \
    { sizeof(gm_eval_report), 0, 0, 0, 0, 0, 0, 0, { 0, 0, 0, 0, 0 }, 0, 0, 0 }

/**
 * Evaluates a set of generated images against real ones: features of both
 * through `features` (gm_eval_features), their Fréchet distance, k-NN
 * precision/recall and density/coverage (the real features' k-NN balls
 * computed once for all four); if `train` is given, the memorization check
 * of the first opts->nearest_max samples against the training images in
 * pixel space (gm_eval_nearest); if `vae` is given, its IWAE estimate of
 * -log p(x) with opts->iwae_k samples over the first opts->iwae_max real
 * images (gm_vae_iwae, in batches; this advances the VAE's evaluation
 * generator and nothing else).
 * Every argument stays the caller's; nothing is kept after the call.
 * @param[out] report  report->size must be at least the first version's
 *                 size (offsetof(gm_eval_report, density)) and at most
 *                 4096; the fields within it are written, only on success
 *                 (bytes past the last field this library knows are kept).
 * @param features the feature net, as for gm_eval_features (used, not
 *                 owned; its mode is restored).
 * @param samples  [Ns x ...] generated images, in the value range the
 *                 feature net was trained on (e.g. [0, 1]); Ns >= k + 1;
 *                 only read.
 * @param real     [Nr x ...] real images of the same per-image shape, e.g.
 *                 the test set; Nr >= k + 1; only read.
 * @param train    NULL, or [M x ...] training images of that shape; only
 *                 read.
 * @param vae      NULL, or an unconditional VAE modelling the images; used,
 *                 not owned (only its evaluation generator advances).
 * @param opts     NULL for the defaults; only read.
 * @return GM_OK; GM_EINVAL (NULL, a bad report->size or option, too few
 *         images, opts->batch above the smaller set's size, a non-finite
 *         value); GM_ESHAPE (per-image shapes differ,
 *         the images do not fit the net or the VAE); GM_ENOMEM;
 *         GM_EINTERNAL. Errors of the called functions are passed on
 *         with their messages.
 */
GM_API gm_status gm_eval_images(gm_eval_report *report, gm_net *features,
                                const gm_tensor *samples, const gm_tensor *real,
                                const gm_tensor *train, gm_vae *vae,
                                const gm_eval_options *opts);

#ifdef __cplusplus
}
#endif

#endif /* GENMODEL_EVAL_H */
