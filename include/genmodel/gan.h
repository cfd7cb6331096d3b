/* SPDX-License-Identifier: MIT */
/**
 * @file
 * libgenmodel — generative adversarial networks.
 *
 * The adversarial-loss module: pure functions from discriminator logits
 * (raw outputs, any batch-first shape) to a loss value and its gradient,
 * a discriminator side and a generator side for each loss family. Each
 * batch term is a mean over its elements; gradients are written (=).
 * With r the logits of real data and f those of generated data, t the real
 * label (1, or less for one-sided label smoothing) and
 * softplus(x) = log(1 + exp(x)):
 *
 *   family           discriminator loss                      generator loss
 *   NONSATURATING    mean(t sp(-r) + (1-t) sp(r)) + mean(sp(f))   mean(sp(-f))
 *   MINIMAX          as NONSATURATING                             -mean(sp(f))
 *   LEAST_SQUARES    mean((r - t)^2)/2 + mean(f^2)/2              mean((f - 1)^2)/2
 *   HINGE            mean(max(0, 1 - r)) + mean(max(0, 1 + f))    -mean(f)
 *   WASSERSTEIN      mean(f) - mean(r)                            -mean(f)
 *
 * NONSATURATING is binary cross-entropy from logits (D(x) = sigmoid(r)),
 * computed without overflow for any finite logit. Label smoothing applies
 * to the cross-entropy and least-squares families only.
 *
 * Threading: pure functions; thread-safe on distinct outputs.
 */
#ifndef GENMODEL_GAN_H
#define GENMODEL_GAN_H

#include "core.h"
#include "net.h"
#include "optim.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Loss families. Values are part of the ABI and of checkpoint files. */
typedef enum gm_gan_loss {
    GM_GAN_NONSATURATING = 0,
    GM_GAN_MINIMAX = 1,
    GM_GAN_LEAST_SQUARES = 2,
    GM_GAN_HINGE = 3,
    GM_GAN_WASSERSTEIN = 4
} gm_gan_loss;

/**
 * Discriminator loss on a batch of real and a batch of generated logits.
 * The loss is the sum of a real term and a fake term, and either side may
 * be NULL to compute the other term alone (e.g. to run the backward pass
 * of the real batch before the discriminator sees the fake one).
 * @param real, fake   logits; batch sizes may differ; finite; not both
 *                     NULL.
 * @param real_label   t in (0, 1]: 1 for none, e.g. 0.9 for one-sided
 *                     smoothing; must be 1 for HINGE and WASSERSTEIN.
 * @param[out] loss    the value.
 * @param d_real, d_fake  NULL, or tensors of real's / fake's shape
 *                     (ignored when that side is NULL):
 *                     d(loss)/d(logits), written.
 * @return GM_OK; GM_EINVAL (NULL, unknown family, non-finite logits,
 *         real_label out of range); GM_ESHAPE (a gradient's shape).
 *         On error nothing is written.
 */
GM_API gm_status gm_gan_d_loss(gm_gan_loss family, const gm_tensor *real,
                               const gm_tensor *fake, float real_label,
                               float *loss, gm_tensor *d_real,
                               gm_tensor *d_fake);

/**
 * Generator loss on the discriminator's logits for generated data.
 * @param d_fake  NULL, or fake's shape: d(loss)/d(fake), written; feed it
 *                to the discriminator's backward pass (with its parameters
 *                frozen) to get the gradient for the generator's output.
 * @return GM_OK; GM_EINVAL (NULL, unknown family, non-finite logits);
 *         GM_ESHAPE. On error nothing is written.
 */
GM_API gm_status gm_gan_g_loss(gm_gan_loss family, const gm_tensor *fake,
                               float *loss, gm_tensor *d_fake);

/* The adversarial losses under the naming rule of docs/ARCHITECTURE.md
 * (losses are gm_loss_*): gm_loss_gan_d / gm_loss_gan_g do exactly what
 * gm_gan_d_loss / gm_gan_g_loss do, same arguments, same errors (the
 * message names the new function, then the old one). The old names stay exported and
 * working for all of 1.x, deprecated. */

/** gm_gan_d_loss under its family name. */
GM_API gm_status gm_loss_gan_d(gm_gan_loss family, const gm_tensor *real, const gm_tensor *fake,
                               float real_label, float *loss, gm_tensor *d_real,
                               gm_tensor *d_fake);
/** gm_gan_g_loss under its family name. */
GM_API gm_status gm_loss_gan_g(gm_gan_loss family, const gm_tensor *fake, float *loss,
                               gm_tensor *d_fake);

/* ---- the gm_gan object -------------------------------------------------
 *
 * A generator G and a discriminator D trained with alternating updates.
 * D sees data in the shape of the real batch (G's output is viewed in that
 * shape; it must have as many values per sample). gm_gan_train_step is
 * exactly, with y the labels of a conditional GAN:
 *   repeat n_critic times:
 *     z ~ N(0, I) [N x L] from the training generator (gm_tensor_fill_normal)
 *     fake = G(z | y)
 *     zero D's gradients
 *     D(real | y); gm_gan_d_loss(real side only); D backward
 *     D(fake | y); gm_gan_d_loss(fake side only); D backward
 *     if penalty (and, for lazy R1, on every penalty_every-th critic
 *       update): D's gradients += the penalty's (gm_gan_penalty)
 *     D optimizer step; if weight_clip > 0, clamp D's parameters to +-clip
 *   z ~ N(0, I); fake = G(z | y); zero G's gradients
 *   D(fake | y); gm_gan_g_loss; D backward to its input (D's parameter
 *   gradients are left alone); G backward; G optimizer step
 * where "| y" joins a one-hot code: after the L latents for G, after the
 * flattened data for D (so a conditional D takes [N x (D + C)]).
 * The training generator is gm_rng_create(options.seed).
 */

/** A GAN: generator, discriminator and their optimizers (gm_gan_create,
 *  gm_gan_free). */
typedef struct gm_gan gm_gan;

/** GAN settings; fill with gm_gan_options_init() and set `latent`.
 *  Versioned by `size` (see core.h): latent is required. */
typedef struct gm_gan_options {
    size_t size;          /**< sizeof(gm_gan_options); set by init */
    size_t latent;        /**< latent size L >= 1; required (init: 0) */
    int32_t loss;         /**< gm_gan_loss; default GM_GAN_NONSATURATING */
    uint32_t n_critic;    /**< D updates per G update, 1 .. 100; default 1 */
    float real_label;     /**< (0, 1]; < 1 is one-sided label smoothing
                               (cross-entropy and least squares); default 1 */
    float weight_clip;    /**< 0 = off (default); > 0: after each D update
                               every D parameter is clamped to +-weight_clip
                               (the original WGAN) */
    const gm_optimizer_options *g_optimizer; /**< copied; NULL = Adam lr
                               2e-4, betas 0.5 / 0.999 */
    const gm_optimizer_options *d_optimizer; /**< likewise, for D */
    uint64_t seed;        /**< seed of the training generator; default 0 */
    size_t num_classes;   /**< 0 = unconditional (default), else C >= 2 */
    float ema_decay;      /**< 0 = off (default); in (0, 1): the GAN keeps a
                               moving average of G's parameters and batchnorm
                               running statistics, updated after every G
                               update with d = min(ema_decay, (1 + t) /
                               (10 + t)), t the steps before it; sampling and
                               generation use it (gm_gan_use_ema), and
                               checkpoints store it. Training is unchanged. */
    /* 1.2: a gradient penalty on the critic (penalty.h), added to D's
     * gradients in every critic update of gm_gan_train_step and of
     * gm_gan_compute_grads(GM_GAN_DISCRIMINATOR) */
    int32_t penalty;      /**< gm_gan_penalty; default GM_PENALTY_NONE. Needs
                               a discriminator without batchnorm or spectral
                               norm (gm_gan_create: GM_EUNSUPPORTED) */
    float penalty_weight; /**< gamma for R1, lambda for GP; finite, >= 0;
                               default 0 */
    uint32_t penalty_every; /**< lazy R1: the penalty only on critic updates
                               i with i % every == 0 (i = steps * n_critic +
                               the critic iteration), its weight multiplied
                               by every (StyleGAN2); 1 .. 1000000, default 1;
                               must be 1 for GP */
} gm_gan_options;

/** Gradient penalties of gm_gan_options.penalty. Values are part of the ABI
 *  and of checkpoint files. In a critic update, after D's loss gradients:
 *  R1 is gm_net_penalty_r1(D, real, weight') on the real batch; GP is
 *  gm_net_penalty_gp(D, real, fake, weight', rng) with the fake batch of
 *  that update and eps drawn from the training generator right after that
 *  update's z (one uniform per row of the whole batch: a shard takes its
 *  rows of a [total] draw). D's input is what D takes (data joined with
 *  the one-hot labels for a conditional GAN). weight' = penalty_weight *
 *  penalty_every * N / total. The penalty's parameter gradient is computed
 *  from zero and then added to the loss gradient (g = g_loss + g_pen), as
 *  a custom loop does with gm_net_get_grads. */
typedef enum gm_gan_penalty {
    GM_PENALTY_NONE = 0,
    GM_PENALTY_R1 = 1,
    GM_PENALTY_GP = 2
} gm_gan_penalty;

/** Fills *opts with the defaults. @return GM_OK or GM_EINVAL (NULL). */
GM_API gm_status gm_gan_options_init(gm_gan_options *opts);

/**
 * Makes a GAN. On success it owns both nets (gm_gan_free frees them); on
 * failure the caller keeps them, unchanged. G must map [N x (L + C)] to N
 * samples (checked here); D must map a batch of real data (C label
 * columns joined when conditional) to N rows of logits (checked on first
 * use).
 * @return GM_OK; GM_EINVAL (NULL, the same net twice, a setting out of
 *         range); GM_ESTATE (a net without layers, or one that already
 *         belongs to a VAE or GAN); GM_ESHAPE (G does not
 *         take L + C inputs); GM_EUNSUPPORTED (a penalty with a D that has
 *         batchnorm or spectral norm; the message names the layer);
 *         GM_ENOMEM.
 */
GM_API gm_status gm_gan_create(gm_gan **out, gm_net *generator,
                               gm_net *discriminator, const gm_gan_options *opts);

/** Frees the GAN and both nets. NULL is ignored. */
GM_API void gm_gan_free(gm_gan *gan);

/** Statistics of a train step. D(.) is sigmoid(logit) for the
 *  cross-entropy families and the raw logit otherwise. */
typedef struct gm_gan_stats {
    float d_loss; /**< D loss of the last critic update (before it) */
    float g_loss; /**< G loss (before the G update) */
    float d_real; /**< mean D(x) over the real batch, last critic update */
    float d_fake; /**< mean D(G(z)) in the G phase (before the G update) */
    float penalty; /**< 1.2: the gradient penalty of the last critic update
                        (its value with the weight applied, 0 when none was
                        applied); only the sized calls and fit callbacks
                        write it (the unsized calls fill the 1.0 size,
                        GM_STATS_SIZE_1_0) */
} gm_gan_stats;

/**
 * One alternating update (see the file comment).
 * @param real    N samples of the data, in the shape D takes.
 * @param labels  NULL for an unconditional GAN, else N labels in [0, C).
 * @param stats   NULL or receives the step's statistics.
 * @return GM_OK; GM_EINVAL (NULL, labels, non-finite data); GM_ESHAPE
 *         (real does not fit G's output or D); GM_ENOMEM; GM_ENUMERIC (a
 *         loss, gradient or net output is not finite, or an update would
 *         write a non-finite parameter or optimizer moment, in any critic
 *         iteration or the generator phase; the message names the net and
 *         layer). On any error the GAN is exactly as before the
 *         call: D updates of earlier critic iterations are undone, and
 *         parameters, optimizer moments and step counts, batchnorm running
 *         statistics, spectral-norm vectors, dropout streams and the
 *         training generator are put back, so the caller can lower the
 *         learning rates (gm_gan_set_lr) and go on.
 */
GM_API gm_status gm_gan_train_step(gm_gan *gan, const gm_tensor *real,
                                   const int32_t *labels, gm_gan_stats *stats);

/** gm_gan_fit's progress callback: as gm_vae_fit_callback, with the mean
 *  of the GAN's step statistics since the previous call. It may sample
 *  and generate and read parameters; it must not train or free the GAN. */
typedef int (*gm_gan_fit_callback)(void *user, const gm_fit_progress *progress,
                                   const gm_gan_stats *mean);

/**
 * Trains for opts->epochs shuffled passes over the real data with
 * gm_gan_train_step on consecutive batches; everything else as gm_vae_fit.
 * @param data    [N x ...] real samples as gm_gan_train_step takes them.
 * @param labels  NULL, or N labels for a conditional GAN.
 * Ownership: data, labels and opts are only read during the call.
 */
GM_API gm_status gm_gan_fit(gm_gan *gan, const gm_tensor *data, const int32_t *labels,
                            const gm_fit_options *opts, gm_gan_fit_callback callback,
                            void *user);

/*
 * Data-parallel training: gm_gan_train_step split into its phases, each
 * computed, summed by an outside engine (MPI_Allreduce) and applied. Each
 * worker holds rows [offset, offset + N) of a batch of `total` rows; one
 * training step is
 *
 *     repeat n_critic times:
 *         gm_gan_compute_grads(gan, GM_GAN_DISCRIMINATOR, shard, labels,
 *                              offset, total, &stats);
 *         gm_gan_grads(gan, GM_GAN_DISCRIMINATOR, &g, &n);  all-reduce g (sum);
 *         gm_gan_apply_grads(gan, GM_GAN_DISCRIMINATOR);
 *     the same with GM_GAN_GENERATOR.
 *
 * Every worker draws the batch's z as one [total x L] block and uses its
 * rows, so with replicas made from the same seed the summed gradients are
 * those of gm_gan_train_step on the whole batch (to float rounding), and
 * a whole-batch split step (offset 0, total N) is gm_gan_train_step bit
 * for bit. Batchnorm layers see the shard only.
 */

/** The two nets of a GAN, for the data-parallel calls. */
typedef enum gm_gan_part {
    GM_GAN_DISCRIMINATOR = 0,
    GM_GAN_GENERATOR = 1
} gm_gan_part;

/**
 * One phase's gradients on a shard, into the part's gradient buffer (its
 * share N / total of the batch-mean gradient); no parameter or optimizer
 * state changes. The discriminator phase draws fresh z and scores real
 * and G(z); the generator phase draws fresh z and differentiates the G
 * loss through D.
 * @param real     the shard's real data, only read (the generator phase
 *                 uses its shape and N, though its values are checked too;
 *                 labels are the G phase's labels too).
 * @param offset, total  offset + N <= total <= 2^31 - 1.
 * @param stats    NULL or receives the phase's fields (d_loss and d_real,
 *                 or g_loss and d_fake; the others are 0).
 * @return as gm_gan_train_step, and GM_EINVAL for part, offset or total.
 *         On error nothing changes (the generators included).
 */
GM_API gm_status gm_gan_compute_grads(gm_gan *gan, gm_gan_part part, const gm_tensor *real,
                                      const int32_t *labels, size_t offset, size_t total,
                                      gm_gan_stats *stats);

/**
 * A part's gradient buffer: its net's parameter gradients in
 * gm_net_get_grads order, *n floats. Borrowed, valid until gm_gan_free;
 * may be changed in place before gm_gan_apply_grads (an all-reduce).
 * @return GM_OK; GM_EINVAL (NULL, part).
 */
GM_API gm_status gm_gan_grads(gm_gan *gan, gm_gan_part part, float **grads, size_t *n);

/**
 * One optimizer update of a part from its buffer (then D's weight
 * clipping, if set); a generator update completes a training step
 * (gm_gan_step_count).
 * @return GM_OK; GM_EINVAL (NULL, part); GM_ESTATE (no compute of that part
 *         since its last update); GM_ENUMERIC (a non-finite value in the
 *         buffer, or the update would write a non-finite parameter or
 *         optimizer moment: nothing changes).
 * Threading (all three): as every call on one GAN, one thread at a time.
 */
GM_API gm_status gm_gan_apply_grads(gm_gan *gan, gm_gan_part part);

/**
 * n new samples: z from the GAN's sampling generator (separate from the
 * training one), G in evaluation mode. out: n samples of G's output size.
 * z is n x L standard normals from that generator (gm_rng_normal), or
 * with a truncation threshold t (gm_gan_set_truncation) its values within
 * t (gm_rng_truncated_normal).
 * A failed call (GM_ENOMEM for a new n; GM_ENUMERIC if G computes a
 * non-finite value, naming the layer) leaves the generator where it was:
 * a retry draws what a call that never failed would have.
 */
GM_API gm_status gm_gan_sample(gm_gan *gan, size_t n, const int32_t *labels,
                               gm_tensor *out);

/** G(z) for given latents z [N x L] (fixed-noise previews, interpolation),
 *  in evaluation mode. out: N samples of G's output size. */
GM_API gm_status gm_gan_generate(gm_gan *gan, const gm_tensor *z,
                                 const int32_t *labels, gm_tensor *out);

/**
 * Whether gm_gan_sample and gm_gan_generate (and what calls them, e.g. the
 * interp module) run G on the moving average of its weights (use 1, the
 * default for a GAN with ema_decay > 0) or on G's own trained weights
 * (use 0). The setting is not trained or checkpointed: a loaded GAN
 * samples from the average. Not while another thread uses the GAN.
 * @return GM_OK; GM_EINVAL (NULL, use not 0 or 1); GM_ESTATE (use 1 on a
 *         GAN whose ema_decay is 0). On error nothing changes.
 */
GM_API gm_status gm_gan_use_ema(gm_gan *gan, int use);

/**
 * The truncation trick (1.3): gm_gan_sample draws each latent from N(0, 1)
 * cut to [-threshold, threshold] (gm_rng_truncated_normal), trading diversity
 * for samples nearer the data (BigGAN's "truncation trick": higher
 * precision, lower recall). threshold 0, the default, draws plain N(0, 1).
 * gm_gan_generate takes the caller's z and is not affected. The setting is
 * not trained or checkpointed: a loaded GAN samples untruncated.
 * Threading: not while another thread uses the GAN.
 * @return GM_OK; GM_EINVAL (NULL; threshold not 0 and below
 *         GM_TRUNCATION_MIN, negative, NaN or infinite). On error
 *         nothing changes.
 */
GM_API gm_status gm_gan_set_truncation(gm_gan *gan, float threshold);

/**
 * Copies the moving average of G's parameters (gm_net_get_params order)
 * into out[0 .. n). The batchnorm running statistics of the average are
 * not part of it. Threading: a read; not during a train step on the GAN.
 * @param n  the generator's parameter count (gm_net_param_count).
 * @return GM_OK; GM_EINVAL (NULL); GM_ESTATE (ema_decay is 0); GM_ESHAPE
 *         (n). On error out is not written.
 */
GM_API gm_status gm_gan_ema_params(const gm_gan *gan, float *out, size_t n);

/** The generator and the discriminator, borrowed (valid until the GAN is
 *  freed). gm_net_free ignores them and gm_net_add refuses them. NULL for
 *  NULL. */
GM_API gm_net *gm_gan_generator(gm_gan *gan);
/** The discriminator, borrowed: as gm_gan_generator(). */
GM_API gm_net *gm_gan_discriminator(gm_gan *gan);

/** Number of completed train steps, 0 for NULL. */
GM_API uint64_t gm_gan_step_count(const gm_gan *gan);

/**
 * Copies the GAN's settings into *opts as gm_vae_get_options does; the
 * optimizer pointers are set to NULL.
 * @return GM_OK; GM_EINVAL (NULL, size out of range; *opts unchanged).
 */
GM_API gm_status gm_gan_get_options(const gm_gan *gan, gm_gan_options *opts);

/**
 * Sets the learning rate of one part's optimizer from the next update on
 * (e.g. lower it after GM_ENUMERIC). Not while another thread uses the GAN.
 * @return GM_OK; GM_EINVAL (NULL, part not a gm_gan_part, lr not finite
 *         and > 0; nothing changes).
 */
GM_API gm_status gm_gan_set_lr(gm_gan *gan, gm_gan_part part, float lr);

/*
 * Sized statistics (1.2): as the sized calls of vae.h, for gm_gan_stats.
 */

/** gm_gan_train_step with a sized stats.
 *  @param stats       NULL, or stats_size bytes to receive the statistics.
 *  @param stats_size  sizeof(gm_gan_stats) as the caller knows it, in
 *                     [GM_STATS_SIZE_1_0, 4096]; ignored when stats is NULL.
 *  Threading and ownership as gm_gan_train_step.
 *  @return as gm_gan_train_step; GM_EINVAL for a stats_size out of range
 *          (checked first: nothing changes). */
GM_API gm_status gm_gan_train_step_sized(gm_gan *gan, const gm_tensor *real,
                                         const int32_t *labels, gm_gan_stats *stats,
                                         size_t stats_size);

/** gm_gan_compute_grads with a sized stats (as gm_gan_train_step_sized).
 *  @return as gm_gan_compute_grads; GM_EINVAL for a stats_size out of range. */
GM_API gm_status gm_gan_compute_grads_sized(gm_gan *gan, gm_gan_part part,
                                            const gm_tensor *real, const int32_t *labels,
                                            size_t offset, size_t total, gm_gan_stats *stats,
                                            size_t stats_size);

/** gm_gan_fit_sized's callback: as gm_gan_fit_callback, with the sizes of
 *  the structs the library filled (fields past them are not there). */
typedef int (*gm_gan_fit_sized_callback)(void *user, const gm_fit_progress *progress,
                                         size_t progress_size, const gm_gan_stats *mean,
                                         size_t mean_size);

/** gm_gan_fit with a callback that is told the sizes of its arguments.
 *  Ownership, threading and errors as gm_gan_fit. */
GM_API gm_status gm_gan_fit_sized(gm_gan *gan, const gm_tensor *data, const int32_t *labels,
                                  const gm_fit_options *opts, gm_gan_fit_sized_callback callback,
                                  void *user);

#ifdef __cplusplus
}
#endif

#endif /* GENMODEL_GAN_H */
