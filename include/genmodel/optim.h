/* SPDX-License-Identifier: MIT */
/**
 * @file
 * libgenmodel — optimizers over the parameters of a gm_net.
 *
 * An optimizer is created for one net and keeps its state (momentum or
 * Adam moments) for that net's flat parameter buffer; it does not keep a
 * pointer to the net, and refuses (GM_EINVAL) to step any other net.
 * The update formulas are PyTorch's (torch.optim.SGD, Adam, AdamW).
 * Frozen layers (gm_net_set_trainable) are skipped.
 *
 * Threading: an optimizer and its net are used by one thread at a time.
 */
#ifndef GENMODEL_OPTIM_H
#define GENMODEL_OPTIM_H

#include "core.h"
#include "net.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An optimizer for one net (gm_optimizer_create, gm_optimizer_free). */
typedef struct gm_optimizer gm_optimizer;

/** The optimizer algorithms (gm_optimizer_options.kind). */
typedef enum gm_optimizer_kind {
    GM_OPT_SGD = 0,   /**< SGD, optional (Nesterov) momentum, L2 decay */
    GM_OPT_ADAM = 1,  /**< Adam, L2 decay added to the gradient */
    GM_OPT_ADAMW = 2  /**< Adam with decoupled weight decay */
} gm_optimizer_kind;

/**
 * Optimizer settings. Fill with gm_optimizer_options_init() (or
 * GM_OPTIMIZER_OPTIONS_INIT) and change what you need; new fields are only
 * appended, and `size` tells the library which ones the caller knows
 * (see core.h): kind is required, missing fields get kind's defaults.
 */
typedef struct gm_optimizer_options {
    size_t size;          /**< sizeof(gm_optimizer_options); set by init */
    int32_t kind;         /**< gm_optimizer_kind; default GM_OPT_ADAM */
    float lr;             /**< learning rate, finite > 0; default 1e-3 (SGD: 1e-2) */
    float momentum;       /**< SGD momentum in [0, 1); default 0 */
    int32_t nesterov;     /**< SGD: 1 for Nesterov momentum (needs momentum > 0); default 0 */
    float beta1;          /**< Adam: [0, 1); default 0.9 */
    float beta2;          /**< Adam: [0, 1); default 0.999 */
    float eps;            /**< Adam: finite > 0; default 1e-8 */
    float weight_decay;   /**< finite >= 0; default 0 (AdamW: 0.01) */
    float clip_norm;      /**< clip the global gradient norm to this before
                               each step; 0 = off (default), else finite > 0 */
} gm_optimizer_options;

/** gm_optimizer_options with Adam's defaults, as gm_optimizer_options_init()
 *  fills it for GM_OPT_ADAM. */
#define GM_OPTIMIZER_OPTIONS_INIT                                          \
    { sizeof(gm_optimizer_options), GM_OPT_ADAM, 1e-3f, 0.0f, 0, 0.9f,    \
      0.999f, 1e-8f, 0.0f, 0.0f }

/**
 * Fills *opts with the defaults for `kind` (AdamW gets weight_decay 0.01,
 * the others 0). @return GM_OK or GM_EINVAL (NULL, unknown kind).
 */
GM_API gm_status gm_optimizer_options_init(gm_optimizer_options *opts,
                                           gm_optimizer_kind kind);

/**
 * Creates an optimizer for `net` with zeroed state. The net is not owned
 * or kept; only its identity and parameter count are recorded.
 * @param opts  NULL for the Adam defaults. A struct from an older caller
 *              (smaller size) gets defaults for the fields it lacks.
 * @return GM_OK; GM_EINVAL (NULL out/net, bad size, a setting out of its
 *         range); GM_ENOMEM.
 */
GM_API gm_status gm_optimizer_create(gm_optimizer **out, const gm_net *net,
                                     const gm_optimizer_options *opts);

/** Frees the optimizer. NULL is ignored. */
GM_API void gm_optimizer_free(gm_optimizer *opt);

/**
 * One update of net's trainable parameters from their accumulated
 * gradients (clipping them first if clip_norm > 0). The gradients are not
 * zeroed: call gm_net_zero_grad before the next backward.
 * @return GM_OK; GM_EINVAL (NULL, or not the net this optimizer was made
 *         for); GM_ESTATE (the net's parameter count changed);
 *         GM_ENUMERIC (a gradient is NaN or inf, or the update would
 *         write a non-finite parameter or moment, e.g. with a learning
 *         rate far too large for the gradients: the update is computed
 *         first without writing, and nothing is changed, not the
 *         parameters, the state nor the step count).
 */
GM_API gm_status gm_optimizer_step(gm_optimizer *opt, gm_net *net);

/** Changes the learning rate for the following steps.
 *  @return GM_OK or GM_EINVAL (NULL, lr not finite or <= 0). */
GM_API gm_status gm_optimizer_set_lr(gm_optimizer *opt, float lr);

/** The current learning rate, or 0 for NULL. */
GM_API float gm_optimizer_get_lr(const gm_optimizer *opt);

/** Number of steps taken since creation or the last reset, 0 for NULL. */
GM_API uint64_t gm_optimizer_step_count(const gm_optimizer *opt);

/** Clears the state (moments, step count); keeps the settings.
 *  @return GM_OK or GM_EINVAL. */
GM_API gm_status gm_optimizer_reset(gm_optimizer *opt);

/* ---- fit: epochs over an in-memory data set (gm_vae_fit, gm_gan_fit) --- */

/** How a fit call walks the data. Initialize with gm_fit_options_init. */
typedef struct gm_fit_options {
    size_t size;        /**< sizeof(gm_fit_options), set by the init */
    uint32_t epochs;    /**< passes over the data, >= 1 (default 1) */
    size_t batch;       /**< samples per step, 1 .. N; 0 (the default)
                             means min(128, N). An epoch's last partial
                             batch is dropped. */
    uint64_t every;     /**< call the callback after every this many
                             steps of an epoch, >= 1 (default 100), and
                             after each epoch's last step */
    uint64_t shuffle_seed; /**< each epoch's order is a shuffle drawn from
                             this seed (default 0); the model's own
                             generators are not used for it */
} gm_fit_options;

/** Fills opts with the defaults. @return GM_OK or GM_EINVAL (NULL). */
GM_API gm_status gm_fit_options_init(gm_fit_options *opts);

/** Where a fit is, as its callback sees it. */
typedef struct gm_fit_progress {
    uint32_t epoch;           /**< current epoch, 1 .. epochs */
    uint32_t epochs;          /**< epochs of this fit call */
    uint64_t epoch_step;      /**< steps done in this epoch, 1 .. steps_per_epoch */
    uint64_t steps_per_epoch; /**< floor(N / batch) */
    uint64_t step;            /**< steps done by this fit call */
    uint64_t steps_averaged;  /**< steps the callback's mean statistics cover */
    double seconds;           /**< wall time since the fit call started */
} gm_fit_progress;

/** The size of gm_vae_stats and gm_gan_stats in 1.0, the least size the
 *  sized calls (gm_vae_train_step_sized, ...) accept. */
#define GM_STATS_SIZE_1_0 (4 * sizeof(float))

#ifdef __cplusplus
}
#endif

#endif /* GENMODEL_OPTIM_H */
