/* SPDX-License-Identifier: MIT */
/**
 * @file
 * libgenmodel — variational autoencoders.
 *
 * Two parts:
 *
 * 1. The reparameterization / ELBO module: pure functions over tensors,
 *    each with its gradient. They work on the encoder's output h [N x 2L]
 *    (row i holds mu_i then logvar_i, L = latent size) and on the
 *    decoder's output. Reductions: per sample, sums over data features and
 *    latent dimensions; over the batch, the mean. Gradients with respect to
 *    h are ADDED (+=) to dh, since the reparameterization and the KL term
 *    both contribute (zero dh first); gradients with respect to the decoder
 *    output are written (=). Thread-safe on distinct outputs.
 *
 * 2. gm_vae: an encoder and a decoder net wired to that module, with an
 *    optimizer for each and explicit train steps, sampling, reconstruction,
 *    interpolation, likelihood estimates and inpainting.
 *
 * A train step is exactly (a custom loop built from the exported functions
 * gives bit-identical parameters):
 *     zero both nets' gradients, and dh (the ELBO functions add into it)
 *     h   = encoder(x)            (x joined with one_hot(label) if classes)
 *     eps = gm_tensor_fill_normal on [N x L] from the training generator
 *     z   = gm_vae_reparameterize(h, eps)
 *     out = decoder(z)            (z joined with one_hot(label) if classes)
 *     rec = gm_vae_recon_nll(out, x, dout)        per-sample mean
 *     kl  = gm_vae_kl(h, dh, beta_t)              per-sample mean
 *     dz  = decoder backward(dout), first L columns of its input gradient
 *     gm_vae_reparameterize_backward(h, eps, dz, dh)
 *     encoder backward(dh)
 *     optimizer step on the encoder, then on the decoder
 * where beta_t = beta min(1, (t + 1) / kl_warmup_steps) at step t (beta
 * without warm-up). Before the optimizer steps, the loss and both nets'
 * gradients are checked to be finite (else nothing changes). See
 * examples/custom_loop.c. The training generator is
 * gm_rng_create(options.seed) and nothing else draws from it; sampling and
 * evaluation draw from a second generator of the same seed at position
 * 2^62.
 */
#ifndef GENMODEL_VAE_H
#define GENMODEL_VAE_H

#include "core.h"
#include "net.h"
#include "optim.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The decoder's output distribution p(x | z). */
typedef enum gm_likelihood {
    /** Bernoulli from logits: decoder output [N x D] logits, x in [0, 1]
     *  (continuous targets allowed, as binary cross-entropy). */
    GM_LIKELIHOOD_BERNOULLI = 0,
    /** Gaussian with a fixed log-variance (options): output [N x D] means. */
    GM_LIKELIHOOD_GAUSSIAN_FIXED = 1,
    /** Gaussian with learned variance: output [N x 2D], per sample D means
     *  then D log-variances. */
    GM_LIKELIHOOD_GAUSSIAN_LEARNED = 2
} gm_likelihood;

/* ---- 1. the reparameterization / ELBO module -------------------------- */

/**
 * z = mu + exp(logvar / 2) * eps.
 * @param h    [N x 2L] encoder output (mu then logvar per row).
 * @param eps  [N x L] standard normal noise (e.g. gm_tensor_fill_normal).
 * @param z    [N x L] output, written.
 * @return GM_OK; GM_EINVAL (NULL); GM_ESHAPE (shapes do not fit).
 */
GM_API gm_status gm_vae_reparameterize(const gm_tensor *h, const gm_tensor *eps,
                                       gm_tensor *z);

/**
 * Backward of gm_vae_reparameterize: dh[:, :L] += dz and
 * dh[:, L:] += dz * eps * exp(logvar / 2) / 2.
 * @return GM_OK; GM_EINVAL (NULL); GM_ESHAPE.
 */
GM_API gm_status gm_vae_reparameterize_backward(const gm_tensor *h,
                                                const gm_tensor *eps,
                                                const gm_tensor *dz,
                                                gm_tensor *dh);

/**
 * Analytic KL( N(mu, diag exp(logvar)) || N(0, I) ) per sample:
 *   kl_i = 1/2 sum_j (mu_ij^2 + exp(logvar_ij) - 1 - logvar_ij).
 * @param h          [N x 2L] encoder output.
 * @param[out] mean  the mean of kl_i over the batch.
 * @param[out] each  NULL or N floats: kl_i.
 * @param dh         NULL, or [N x 2L]: dh += scale * d(mean)/dh.
 * @param scale      finite; the weight of the term (beta).
 * @return GM_OK; GM_EINVAL (NULL h/mean, non-finite h or scale);
 *         GM_ESHAPE (h has an odd width, dh's shape).
 */
GM_API gm_status gm_vae_kl(const gm_tensor *h, float *mean, float *each,
                           gm_tensor *dh, float scale);

/**
 * Negative log-likelihood -log p(x | decoder output) per sample, summed
 * over the D features of x (x of any shape with D elements per sample):
 *   Bernoulli:  sum_d max(o, 0) - o x + log(1 + exp(-|o|))
 *   Gaussian:   sum_d 1/2 (log 2pi + lv + (x - m)^2 exp(-lv)), with lv the
 *               fixed `gaussian_logvar` or the learned second half.
 * @param out        decoder output [N x D] (or [N x 2D] for learned).
 * @param x          data, N samples of D features; for Bernoulli in [0, 1].
 * @param[out] mean  mean over the batch; each: NULL or N floats.
 * @param dout       NULL, or the shape of out: d(mean)/d(out), written.
 * @return GM_OK; GM_EINVAL (NULL, unknown likelihood, non-finite values,
 *         Bernoulli targets outside [0, 1]); GM_ESHAPE.
 */
GM_API gm_status gm_vae_recon_nll(gm_likelihood likelihood, const gm_tensor *out,
                                  const gm_tensor *x, float gaussian_logvar,
                                  float *mean, float *each, gm_tensor *dout);

/**
 * log N(z; mu, diag exp(logvar)) per sample (h given), or log N(z; 0, I)
 * (h NULL), summed over the L dimensions: the densities the importance
 * weights need.
 * @param z     [N x L]; h: NULL or [N x 2L].
 * @param each  N floats, written.
 * @return GM_OK; GM_EINVAL; GM_ESHAPE.
 */
GM_API gm_status gm_vae_log_normal(const gm_tensor *z, const gm_tensor *h,
                                   float *each);

/**
 * Importance-weighted bound from log-weights
 * log w_ik = log p(x_i | z_ik) + log p(z_ik) - log q(z_ik | x_i):
 *   bound_i = log (1/K sum_k exp(log w_ik)), computed stably.
 * @param logw       [N x K].
 * @param[out] mean  mean of bound_i; each: NULL or N floats.
 * @param dlogw      NULL, or [N x K]: d(mean)/d(logw) (softmax over k,
 *                   divided by N), written.
 * @return GM_OK; GM_EINVAL (NULL, NaN or +inf weights); GM_ESHAPE.
 */
GM_API gm_status gm_vae_logmeanexp(const gm_tensor *logw, float *mean, float *each,
                                   gm_tensor *dlogw);

/* The ELBO functions under the naming rule of docs/ARCHITECTURE.md (a
 * gm_vae_* function takes a gm_vae; pure functions are named by their
 * family): gm_elbo_X does exactly what gm_vae_X does, same arguments, same
 * errors (the message names gm_elbo_X, then gm_vae_X). The gm_vae_X names
 * stay exported and working for all of 1.x, deprecated. */

/** gm_vae_reparameterize under its family name. */
GM_API gm_status gm_elbo_reparameterize(const gm_tensor *h, const gm_tensor *eps, gm_tensor *z);
/** gm_vae_reparameterize_backward under its family name. */
GM_API gm_status gm_elbo_reparameterize_backward(const gm_tensor *h, const gm_tensor *eps,
                                                 const gm_tensor *dz, gm_tensor *dh);
/** gm_vae_kl under its family name. */
GM_API gm_status gm_elbo_kl(const gm_tensor *h, float *mean, float *each, gm_tensor *dh,
                            float scale);
/** gm_vae_recon_nll under its family name. */
GM_API gm_status gm_elbo_recon_nll(gm_likelihood likelihood, const gm_tensor *out,
                                   const gm_tensor *x, float gaussian_logvar, float *mean,
                                   float *each, gm_tensor *dout);
/** gm_vae_log_normal under its family name. */
GM_API gm_status gm_elbo_log_normal(const gm_tensor *z, const gm_tensor *h, float *each);
/** gm_vae_logmeanexp under its family name. */
GM_API gm_status gm_elbo_logmeanexp(const gm_tensor *logw, float *mean, float *each,
                                    gm_tensor *dlogw);

/* ---- 2. the gm_vae object ------------------------------------------- */

/** A variational autoencoder (gm_vae_create, gm_vae_free). */
typedef struct gm_vae gm_vae;

/**
 * VAE settings. Fill with gm_vae_options_init() and set at least `latent`.
 * Versioned by `size` (see core.h): latent is required.
 */
typedef struct gm_vae_options {
    size_t size;              /**< sizeof(gm_vae_options); set by init */
    size_t latent;            /**< latent size L >= 1; required (init: 0) */
    int32_t likelihood;       /**< gm_likelihood; default BERNOULLI */
    float gaussian_logvar;    /**< fixed log-variance for GAUSSIAN_FIXED,
                                   finite; default 0 */
    float beta;               /**< KL weight, finite >= 0; default 1 */
    uint64_t kl_warmup_steps; /**< beta rises linearly over this many steps
                                   (step t uses beta min(1, (t+1)/warmup));
                                   0 = off (default) */
    const gm_optimizer_options *optimizer; /**< settings for both nets'
                                   optimizers (copied); NULL = Adam lr 1e-3 */
    uint64_t seed;            /**< seed of the training generator; default 0 */
    size_t num_classes;       /**< 0 = unconditional (default); C >= 2: a
                                   one-hot label is joined to the encoder's
                                   input (after the D features) and to the
                                   decoder's input (after the L latents) */
} gm_vae_options;

/** Fills *opts with the defaults. @return GM_OK or GM_EINVAL (NULL). */
GM_API gm_status gm_vae_options_init(gm_vae_options *opts);

/**
 * Makes a VAE from an encoder and a decoder.
 * On success the VAE owns both nets (gm_vae_free frees them; do not free
 * them yourself); on failure the caller keeps them, unchanged.
 * The decoder must map [N x (L + C)] to N samples of D features (2D for
 * GAUSSIAN_LEARNED); this is checked here. The encoder must map the data
 * (with C label columns joined when conditional) to [N x 2L]; this is
 * checked on the first call that uses it.
 * @param opts  required (latent has no default).
 * @return GM_OK; GM_EINVAL (NULL, the same net twice, a setting out of
 *         range, bad size); GM_ESTATE (a net without layers, or one that
 *         already belongs to a VAE or GAN);
 *         GM_ESHAPE (the decoder does not fit L + C); GM_ENOMEM.
 */
GM_API gm_status gm_vae_create(gm_vae **out, gm_net *encoder, gm_net *decoder,
                               const gm_vae_options *opts);

/** Frees the VAE and both nets. NULL is ignored. */
GM_API void gm_vae_free(gm_vae *vae);

/** Per-sample statistics of a step or an evaluation (nats). */
typedef struct gm_vae_stats {
    float loss;  /**< recon + beta * kl: the negative ELBO when beta = 1 */
    float recon; /**< mean reconstruction negative log-likelihood */
    float kl;    /**< mean KL to the prior */
    float beta;  /**< the KL weight used (after warm-up) */
} gm_vae_stats;

/**
 * One training update on the batch x (see the file comment for exactly
 * what it does).
 * @param x       N samples of D features, any batch-first shape.
 * @param labels  NULL for an unconditional VAE, else N labels in [0, C).
 * @param stats   NULL or receives the step's statistics.
 * @return GM_OK; GM_EINVAL (NULL, labels missing or out of range, x not
 *         finite or outside [0, 1] for Bernoulli); GM_ESHAPE (x or the
 *         encoder output do not fit); GM_ENUMERIC (the loss, a gradient or
 *         a net's output is not finite, or the update would write a
 *         non-finite parameter or optimizer moment, e.g. with a learning
 *         rate far too large; the message names the net and layer:
 *         parameters, optimizer state, step count, layer
 *         state (batchnorm running statistics, spectral-norm vectors,
 *         dropout streams) and generator are left exactly as before, so
 *         the caller can lower the learning rate with gm_vae_set_lr and go
 *         on); GM_ENOMEM (buffers for a new batch size). On any error the
 *         model is unchanged.
 */
GM_API gm_status gm_vae_train_step(gm_vae *vae, const gm_tensor *x,
                                   const int32_t *labels, gm_vae_stats *stats);

/**
 * Called by gm_vae_fit every opts->every steps and after each epoch, with
 * the mean of the step statistics since the previous call. Return 0 to go
 * on, non-zero to stop training after this step (gm_vae_fit then returns
 * GM_OK). It may sample and evaluate (gm_vae_sample, _elbo, _iwae,
 * _encode, _decode, _reconstruct, _interpolate, _inpaint), read parameters
 * and call gm_vae_set_lr; it must not train (train_step, fit,
 * compute/apply) or free the VAE.
 */
typedef int (*gm_vae_fit_callback)(void *user, const gm_fit_progress *progress,
                                   const gm_vae_stats *mean);

/**
 * Trains for opts->epochs passes over data: each epoch shuffles the N
 * samples (from opts->shuffle_seed), then runs gm_vae_train_step on
 * consecutive batches of opts->batch.
 * @param data      [N x ...] samples, as gm_vae_train_step takes them (all
 *                  checked first: finite, in range, fitting the encoder).
 * @param labels    NULL for an unconditional VAE, else N labels (checked
 *                  first).
 * @param opts      NULL for the defaults (gm_fit_options_init).
 * @param callback  NULL or the progress callback; `user` is passed to it.
 * Ownership: data, labels and opts are only read during the call (batches
 * are copied into a buffer the call allocates and frees); nothing is kept.
 * @return GM_OK (also when the callback stopped it); the errors of
 *         gm_vae_train_step (the model keeps the steps done before the
 *         failing one); GM_EINVAL for bad options; GM_ENOMEM (a batch
 *         buffer, allocated once per call).
 * Threading: as gm_vae_train_step.
 */
GM_API gm_status gm_vae_fit(gm_vae *vae, const gm_tensor *data, const int32_t *labels,
                            const gm_fit_options *opts, gm_vae_fit_callback callback,
                            void *user);

/*
 * Data-parallel training: gm_vae_train_step split in two, so that an
 * outside engine (MPI_Allreduce, a thread pool) can sum gradients between
 * the halves. Each worker holds rows [offset, offset + N) of a batch of
 * `total` rows:
 *
 *     gm_vae_compute_grads(vae, shard, labels, offset, total, &stats);
 *     gm_vae_grads(vae, &g, &n);
 *     MPI_Allreduce(MPI_IN_PLACE, g, n, MPI_FLOAT, MPI_SUM, comm);
 *     gm_vae_apply_grads(vae);
 *
 * With replicas made from the same seed, the summed gradient is that of
 * gm_vae_train_step on the whole batch (to float rounding: the sums are
 * taken in another order), because every worker draws the batch's noise
 * as one [total x L] block and uses its own rows. After the apply every
 * replica holds the same parameters. Layers whose output depends on the
 * batch (batchnorm) see the shard only, as in other frameworks' data
 * parallelism without synchronized batch statistics.
 */

/**
 * Forward and backward of one step on a shard: the VAE's gradient buffer
 * (gm_vae_grads) receives the shard's share N / total of the batch-mean
 * gradient; parameters and optimizer state do not change, the training
 * generator advances past the whole batch's noise.
 * @param x, labels  the shard: N = x's first dimension rows, as for
 *                   gm_vae_train_step; only read, not kept.
 * @param offset, total  the shard's first row in the batch, and the batch
 *                   size: offset + N <= total <= 2^31 - 1. (0, N) is a
 *                   whole batch: then the buffer holds the gradient
 *                   gm_vae_train_step would apply.
 * @param stats      NULL or the shard's statistics (means over its rows).
 * @return as gm_vae_train_step, and GM_EINVAL for offset/total. On error
 *         the buffer and the model are unchanged.
 */
GM_API gm_status gm_vae_compute_grads(gm_vae *vae, const gm_tensor *x, const int32_t *labels,
                                      size_t offset, size_t total, gm_vae_stats *stats);

/**
 * The VAE's gradient buffer: the encoder's parameter gradients, then the
 * decoder's (gm_net_get_grads order), *n floats in all. The buffer is
 * borrowed, valid until gm_vae_free, and may be changed in place between
 * gm_vae_compute_grads and gm_vae_apply_grads (an all-reduce sums it).
 * @return GM_OK; GM_EINVAL (NULL).
 */
GM_API gm_status gm_vae_grads(gm_vae *vae, float **grads, size_t *n);

/**
 * One optimizer update from the gradient buffer, which must hold the
 * gradients of a gm_vae_compute_grads not applied yet (possibly summed
 * over workers). Counts as a training step (gm_vae_step_count, KL warm-up).
 * @return GM_OK; GM_EINVAL (NULL); GM_ESTATE (no gm_vae_compute_grads
 *         since the last update); GM_ENUMERIC (a gradient in the buffer is
 *         not finite, or the update would write a non-finite parameter or
 *         optimizer moment: nothing changes, the gradients still await an
 *         apply).
 * Threading (all three): as every call on one VAE, one thread at a time.
 */
GM_API gm_status gm_vae_apply_grads(gm_vae *vae);

/**
 * Negative ELBO of x without an update (evaluation mode, one sample of
 * eps per input from the VAE's evaluation generator, which is separate
 * from the training one). stats->loss is the negative ELBO in nats per
 * sample with beta = 1; stats->beta is 1.
 * @param stats  required (GM_EINVAL if NULL).
 * Errors as gm_vae_train_step; GM_ENUMERIC only when a net computes a
 * non-finite value from finite input (parameters too large), naming the
 * net and layer. A failed call leaves the evaluation generator where it
 * was, so a retry draws what a call that never failed would have.
 */
GM_API gm_status gm_vae_elbo(gm_vae *vae, const gm_tensor *x,
                             const int32_t *labels, gm_vae_stats *stats);

/**
 * Importance-weighted estimate of -log p(x) in nats, mean over the batch,
 * with K samples per input (K = 1 is the negative ELBO in expectation;
 * larger K gives a tighter bound, i.e. a smaller value in expectation).
 * @param k      1 .. 100000.
 * @param[out] nll  mean estimate.
 * Errors as gm_vae_elbo, and GM_EINVAL for k out of range.
 */
GM_API gm_status gm_vae_iwae(gm_vae *vae, const gm_tensor *x,
                             const int32_t *labels, size_t k, float *nll);

/**
 * Encodes x into the posterior's mean and log-variance.
 * @param mu      [N x L], written.
 * @param logvar  NULL or [N x L], written.
 */
GM_API gm_status gm_vae_encode(gm_vae *vae, const gm_tensor *x,
                               const int32_t *labels, gm_tensor *mu,
                               gm_tensor *logvar);

/**
 * Decodes latents into the data's mean: sigmoid(logits) for Bernoulli,
 * the mean for Gaussian.
 * @param z    [N x L].
 * @param out  N samples of D elements (any batch-first shape), written.
 */
GM_API gm_status gm_vae_decode(gm_vae *vae, const gm_tensor *z,
                               const int32_t *labels, gm_tensor *out);

/** Reconstruction: decode(mu(x)). out has x's shape. */
GM_API gm_status gm_vae_reconstruct(gm_vae *vae, const gm_tensor *x,
                                    const int32_t *labels, gm_tensor *out);

/**
 * New samples: z ~ N(0, I) from the VAE's sampling generator (separate
 * from training), decoded. out's first dimension is n.
 * @param labels  NULL, or n labels when conditional.
 * @return GM_OK; GM_EINVAL; GM_ESHAPE; GM_ENOMEM (buffers for a new n);
 *         GM_ENUMERIC (the decoder computed a non-finite value, naming the
 *         layer). A failed call leaves the generator where it was: a retry
 *         draws what a call that never failed would have.
 */
GM_API gm_status gm_vae_sample(gm_vae *vae, size_t n, const int32_t *labels,
                               gm_tensor *out);

/**
 * Decodes points on the line between the latent means of two inputs:
 * out row s is decode(mu_a + (mu_b - mu_a) s / (S - 1)), S = out's first
 * dimension (>= 2).
 * @param xa, xb  one sample each (first dimension 1).
 * @param labels  NULL, or 2 labels (a's, b's) when conditional; the
 *                one-hot codes are interpolated too.
 */
GM_API gm_status gm_vae_interpolate(gm_vae *vae, const gm_tensor *xa,
                                    const gm_tensor *xb, const int32_t *labels,
                                    gm_tensor *out);

/**
 * Fills missing pixels (mask 0) from the model, keeping known pixels
 * (mask 1) at x's exact values. For each image it looks for the latent z
 * that best explains the known pixels under the prior, maximizing
 * log p(x_known | z) + log N(z; 0, I) with `iterations` Adam steps on z
 * (lr 0.05), starting from the encoder's mean for x with the missing
 * pixels set to 0.5; the missing pixels then get the decoder's mean at z.
 * The parameters and their gradients are not touched.
 * @param mask        x's shape, every value 0 or 1.
 * @param iterations  1 .. 10000 (100 is plenty for Fashion-MNIST).
 * @param out         x's shape; written.
 * @return as gm_vae_reconstruct; GM_EUNSUPPORTED for a conditional VAE.
 */
GM_API gm_status gm_vae_inpaint(gm_vae *vae, const gm_tensor *x,
                                const gm_tensor *mask, size_t iterations,
                                gm_tensor *out);

/** The encoder and decoder, borrowed from the VAE (valid until it is
 *  freed), e.g. to read parameters. gm_net_free ignores them and
 *  gm_net_add refuses them. NULL for NULL. */
GM_API gm_net *gm_vae_encoder(gm_vae *vae);
/** The decoder, borrowed: as gm_vae_encoder(). */
GM_API gm_net *gm_vae_decoder(gm_vae *vae);

/** Number of successful train steps, 0 for NULL. */
GM_API uint64_t gm_vae_step_count(const gm_vae *vae);

/**
 * Copies the VAE's settings (as given to gm_vae_create, or read from a
 * checkpoint) into *opts, whose `size` the caller sets (gm_vae_options_init
 * does); bytes past the fields this library knows, up to size, are zeroed.
 * `optimizer` is set to NULL (the settings were copied at creation).
 * @return GM_OK; GM_EINVAL (NULL, size smaller than this library's struct
 *         or above 4096; *opts unchanged).
 */
GM_API gm_status gm_vae_get_options(const gm_vae *vae, gm_vae_options *opts);

/** Changes both optimizers' learning rate.
 *  @return GM_OK or GM_EINVAL (NULL, lr not finite or <= 0). */
GM_API gm_status gm_vae_set_lr(gm_vae *vae, float lr);

/*
 * Sized statistics (1.2). gm_vae_stats and gm_fit_progress may gain fields
 * in later minor releases (only appended). These calls take the size of
 * the struct as the calling program knows it: the library writes the
 * fields it has that fit, zeroes the rest (so a field of a newer header
 * reads 0 from an older library), and tells a fit callback the sizes it
 * filled. The unsized calls above keep working and always use the 1.0
 * layout. Errors name the sized function, then the call it wraps.
 */

/**
 * gm_vae_train_step with a sized stats.
 * @param stats       NULL, or stats_size bytes to receive the statistics.
 * @param stats_size  sizeof(gm_vae_stats) as the caller knows it, in
 *                    [GM_STATS_SIZE_1_0, 4096]; ignored when stats is NULL.
 * Threading and ownership as gm_vae_train_step.
 * @return as gm_vae_train_step; GM_EINVAL for a stats_size out of range
 *         (checked first: nothing changes).
 */
GM_API gm_status gm_vae_train_step_sized(gm_vae *vae, const gm_tensor *x, const int32_t *labels,
                                         gm_vae_stats *stats, size_t stats_size);

/** gm_vae_compute_grads with a sized stats (as gm_vae_train_step_sized).
 *  @return as gm_vae_compute_grads; GM_EINVAL for a stats_size out of range. */
GM_API gm_status gm_vae_compute_grads_sized(gm_vae *vae, const gm_tensor *x,
                                            const int32_t *labels, size_t offset, size_t total,
                                            gm_vae_stats *stats, size_t stats_size);

/** gm_vae_elbo with a sized stats (required, as for gm_vae_elbo).
 *  @return as gm_vae_elbo; GM_EINVAL for a stats_size out of range. */
GM_API gm_status gm_vae_elbo_sized(gm_vae *vae, const gm_tensor *x, const int32_t *labels,
                                   gm_vae_stats *stats, size_t stats_size);

/** gm_vae_fit_sized's callback: as gm_vae_fit_callback, with the sizes of
 *  the structs the library filled (fields past them are not there). */
typedef int (*gm_vae_fit_sized_callback)(void *user, const gm_fit_progress *progress,
                                         size_t progress_size, const gm_vae_stats *mean,
                                         size_t mean_size);

/** gm_vae_fit with a callback that is told the sizes of its arguments.
 *  Ownership, threading and errors as gm_vae_fit. */
GM_API gm_status gm_vae_fit_sized(gm_vae *vae, const gm_tensor *data, const int32_t *labels,
                                  const gm_fit_options *opts, gm_vae_fit_sized_callback callback,
                                  void *user);

#ifdef __cplusplus
}
#endif

#endif /* GENMODEL_VAE_H */
