/* SPDX-License-Identifier: MIT */
/* The model layer: what every two-net model (gm_vae, gm_gan) is made of
 * besides its own passes. A model struct starts with a gm__model, which
 * holds the two nets, an optimizer per net, the training and auxiliary
 * generators, the step snapshot (undo of a failed step), the step counter
 * and the data-parallel gradient buffer; its gm__model_class says what the
 * nets are called and how one training step runs, which is all the fit
 * loop (fit.c) needs. Uses the engine; the engine knows nothing of it
 * (docs/ARCHITECTURE.md, "Dependency arrows"). Not installed. */
#ifndef GM_MODEL_H
#define GM_MODEL_H

#include <stdint.h>
#include <string.h>

#include "core/record.h"
#include "engine/engine.h"

/* ---- Snapshots (snapshot.c) ------------------------------------------ */
/* What a failed train step must put back so that it changes nothing: the
 * nets' layer state (batchnorm running statistics, spectral-norm vectors,
 * dropout stream positions, modes) and, for nets updated before the step
 * can fail (a GAN's discriminator), their parameters and optimizer state.
 * The buffer is sized once for the nets, which a model owns and so cannot
 * change shape; taking and restoring allocate nothing. */
typedef struct gm__snapshot {
    gm_net *net[2];
    gm_optimizer *opt[2]; /* non-NULL: also the net's parameters and this state */
    float *f;             /* floats: state, parameters, moments */
    uint64_t *u;          /* per layer: dropout step; per optimizer: t */
    size_t nf, nu;
} gm__snapshot;

/* Sizes s for nets a and b (b may be NULL) with the optimizers oa, ob
 * (NULL: layer state only). GM_ENOMEM named fn. */
gm_status gm__snapshot_init(gm__snapshot *s, gm_net *a, gm_optimizer *oa, gm_net *b,
                            gm_optimizer *ob, const char *fn);
void gm__snapshot_take(gm__snapshot *s);
void gm__snapshot_restore(gm__snapshot *s);
void gm__snapshot_free(gm__snapshot *s);

/* What a two-net model (VAE, GAN) owns besides its nets: an optimizer per
 * net, the training generator (seed, position 0) and the sampling /
 * evaluation generator (seed, position 2^62), so previews never change
 * training. */
typedef struct gm__model_parts {
    gm_optimizer *opt_a, *opt_b;
    gm_rng *train_rng, *aux_rng;
} gm__model_parts;

/* A two-net model's parts as the checkpoint code (io/) reads and
 * restores them; vae/ and gan/ fill it from their private structs
 * (gm__vae_model_view, gm__gan_model_view). The pointers are the model's. */
typedef struct gm__model_view {
    gm_net *net[2];       /* encoder, decoder / generator, discriminator */
    gm_optimizer *opt[2]; /* their optimizers */
    gm_rng *train_rng, *aux_rng;
    uint64_t *steps;
    int pending;          /* gradients of a compute call await an apply */
} gm__model_view;

/* Creates all four; on failure frees what was made and names fn. */
gm_status gm__model_parts_init(gm__model_parts *p, const gm_net *a,
                               const gm_optimizer_options *oa, const gm_net *b,
                               const gm_optimizer_options *ob, uint64_t seed, const char *fn);
void gm__model_parts_free(gm__model_parts *p);

/* ---- fit (fit.c) ------------------------------------------------------ */
/* A model's train step for gm__fit: up to GM__FIT_STATS statistics out. */
#define GM__FIT_STATS 5 /* the most floats of a model's stats struct */
typedef gm_status (*gm__fit_step)(void *model, const gm_tensor *x, const int32_t *labels,
                                  float stats[GM__FIT_STATS]);
/* The model's adapter to its public callback type: the means of stats. */
typedef int (*gm__fit_report)(void *user, const gm_fit_progress *p,
                              const float mean[GM__FIT_STATS]);
/* The epoch loop of gm_vae_fit / gm_gan_fit (fn): data and labels were
 * checked by the caller; report may be NULL. */
gm_status gm__fit(const char *fn, void *model, gm__fit_step step, const gm_tensor *data,
                  const int32_t *labels, const gm_fit_options *opts, gm__fit_report report,
                  void *user);


/* ---- the model interface (model.c) ----------------------------------- */
typedef struct gm__model gm__model;

/* A public fit callback (gm_vae_fit_callback, gm_gan_fit_callback) as an
 * untyped function pointer; the class's report converts it back. */
typedef void (*gm__fit_callback)(void);

/* What a kind of model tells the model layer. */
typedef struct gm__model_class {
    const char *name;       /* "VAE", "GAN", for messages */
    const char *part[2];    /* the nets' roles: "encoder", "decoder" */
    const char *compute_fn; /* its public compute-gradients call, for messages */
    /* The public train step on x, its statistics packed in their
     * struct's order (GM__FIT_STATS floats). */
    gm_status (*train_step)(gm__model *m, const gm_tensor *x, const int32_t *labels,
                            float stats[GM__FIT_STATS]);
    /* Calls the model's public fit callback cb (its sized form when sized
     * is set) with the mean statistics (GM__FIT_STATS floats in its stats
     * struct's order). */
    int (*report)(gm__fit_callback cb, int sized, void *user, const gm_fit_progress *p,
                  const float mean[GM__FIT_STATS]);
    /* NULL, or frees what the model owns besides the model layer's parts */
    void (*release)(gm__model *m);
} gm__model_class;

/* Both nets, where a function takes a net index (0 or 1). */
#define GM__MODEL_BOTH 2

struct gm__model {
    const gm__model_class *cls;
    gm_net *net[2];
    gm__model_parts parts; /* opt_a: net[0]'s, opt_b: net[1]'s optimizer */
    gm__snapshot snap;     /* a step's starting point, put back if it fails */
    uint64_t steps;        /* training steps completed */
    /* data-parallel training: net 0's then net 1's gradients of the last
     * compute call, and whether each net's await an apply */
    float *flat;
    int pending[2];
    float *block; /* the model's batch buffers (gm__model_batch_block) */
};

/* Allocates a model struct of `size` bytes (zeroed; it starts with its
 * gm__model) and sets it up for nets a and b (checked by the caller):
 * optimizers of the options oa and ob, generators from seed, and the
 * snapshot, which also holds net 1's parameters and optimizer when
 * snap_b_params is set (a net updated before the step can fail). The nets
 * become owned (gm_net_free ignores them). GM_ENOMEM named fn; on failure
 * nothing is kept and *out is NULL. */
gm_status gm__model_new(gm__model **out, size_t size, const gm__model_class *cls, gm_net *a,
                        const gm_optimizer_options *oa, gm_net *b,
                        const gm_optimizer_options *ob, uint64_t seed, int snap_b_params,
                        const char *fn);
/* The checks of a create call's nets (named after the class's parts): not
 * NULL (GM_EINVAL), two different nets (GM_EINVAL), owned by no model yet
 * (GM_ESTATE); errors named fn. */
gm_status gm__model_check_nets(const char *fn, const gm__model_class *cls, const gm_net *a,
                               const gm_net *b);
/* Frees a model made by gm__model_new: the class's release first, then
 * the parts, the batch block, and the nets when free_nets is set (else
 * they go back to their caller, for a create that fails late). NULL: no-op. */
void gm__model_delete(gm__model *m, int free_nets);

/* The view of m for the checkpoint code, which restores through its
 * pointers. */
static inline gm__model_view gm__model_view_of(gm__model *m)
{
    return (gm__model_view){.net = {m->net[0], m->net[1]},
                            .opt = {m->parts.opt_a, m->parts.opt_b},
                            .train_rng = m->parts.train_rng,
                            .aux_rng = m->parts.aux_rng,
                            .steps = &m->steps,
                            .pending = m->pending[0] || m->pending[1]};
}

/* The read-only view of m a checkpoint save writes (core/record.h). */
static inline gm__model_state gm__model_state_of(const gm__model *m)
{
    return (gm__model_state){.net = {m->net[0], m->net[1]},
                             .opt = {m->parts.opt_a, m->parts.opt_b},
                             .train_rng = m->parts.train_rng,
                             .aux_rng = m->parts.aux_rng,
                             .steps = m->steps,
                             .pending = m->pending[0] || m->pending[1]};
}

/* A training computation on the model: returns GM_OK or an error. */
typedef gm_status (*gm__model_body)(gm__model *m, void *ctx);
/* Runs body(m, ctx) so that a failure changes nothing: the training
 * generator's position and the snapshot are taken first and put back if
 * body fails. Returns body's status. */
gm_status gm__model_guarded(gm__model *m, gm__model_body body, void *ctx);
/* gm__model_guarded, then net k's gradients (k = 0, 1 or GM__MODEL_BOTH)
 * are copied to the gradient buffer and await an apply. */
gm_status gm__model_compute(gm__model *m, int k, gm__model_body body, void *ctx);
/* Net k's share of the gradient buffer and its length (GM__MODEL_BOTH: the
 * whole buffer). */
float *gm__model_grads(gm__model *m, int k, size_t *n);
/* Before a model's update from the buffer: net k's gradients must await
 * an apply (GM_ESTATE) and be finite (GM_ENUMERIC); then they are loaded
 * into the net(s). Errors named fn. */
gm_status gm__model_load_grads(gm__model *m, int k, const char *fn);
/* The epoch loop (fit.c) over the class's train step; cb may be NULL, and
 * is the model's sized callback type when sized is set.
 * data and labels were checked by the caller. */
gm_status gm__model_fit(gm__model *m, const char *fn, const gm_tensor *data,
                        const int32_t *labels, const gm_fit_options *opts, gm__fit_callback cb,
                        int sized, void *user);

/* Defines `static const gm__model_class NAME` for the model type T (whose
 * struct starts with its gm__model) from its public train step
 * STEP(T *, x, labels, S *), its statistics struct S (at most
 * GM__FIT_STATS floats) and its public fit callback types CB and SCB (sized); name names
 * the model in messages, part0 and part1 the nets, compute_fn the public
 * compute-gradients call; RELEASE is the class's release (or NULL). */
#define GM__MODEL_CLASS(NAME, T, S, STEP, CB, SCB, name, part0, part1, compute_fn, RELEASE)   \
    _Static_assert(sizeof(S) <= GM__FIT_STATS * sizeof(float), #S ": GM__FIT_STATS floats");  \
    static gm_status NAME##_step(gm__model *m, const gm_tensor *x, const int32_t *labels,      \
                                 float v[GM__FIT_STATS])                                      \
    {                                                                                         \
        S s;                                                                                  \
        gm_status st = STEP((T *)(void *)m, x, labels, &s);                                   \
        if (st == GM_OK) memcpy(v, &s, sizeof s);                                             \
        return st;                                                                            \
    }                                                                                         \
    static int NAME##_report(gm__fit_callback cb, int sized, void *user,                      \
                             const gm_fit_progress *p, const float mean[GM__FIT_STATS])       \
    {                                                                                         \
        S s;                                                                                  \
        memcpy(&s, mean, sizeof s);                                                           \
        if (sized) return ((SCB)cb)(user, p, sizeof *p, &s, sizeof s);                        \
        return ((CB)cb)(user, p, &s);                                                         \
    }                                                                                         \
    static const gm__model_class NAME = {name, {part0, part1}, compute_fn, NAME##_step,       \
                                         NAME##_report, RELEASE}

/* The sized calls (1.2): GM_EINVAL named fn unless stats is NULL or
 * size is in [GM_STATS_SIZE_1_0, 4096]. */
gm_status gm__model_check_stats_size(const char *fn, const void *stats, size_t size);
/* Writes the library's statistics src (n bytes) into the caller's dst of
 * `size` bytes (checked): what fits, then zeros. dst NULL: nothing. */
void gm__model_write_stats(void *dst, size_t size, const void *src, size_t n);
/* The body of a sized call: checks size, runs `call` (which writes the
 * statistics struct S named var), names the error after the calling
 * function, and writes var into stats. */
#define GM__MODEL_SIZED(S, var, call, stats, size)                                           \
    do {                                                                                     \
        GM_TRY(gm__model_check_stats_size(__func__, (stats), (size)));                       \
        S var;                                                                               \
        GM_TRY(gm__own_error((call), __func__));                                             \
        gm__model_write_stats((stats), (size), &var, sizeof var);                            \
        return GM_OK;                                                                        \
    } while (0)

/* ---- helpers the models share ---------------------------------------- */
/* Replaces m->block with one of n * (widths[0] + ... + widths[k - 1])
 * floats for the model's batch buffers: GM_ESHAPE "a batch of n is too
 * large" past GM__BLAS_MAX per buffer, GM_ENOMEM; errors named fn, and
 * the old block is kept on failure. */
gm_status gm__model_batch_block(gm__model *m, const char *fn, size_t n, const size_t *widths,
                                int k);
/* Checks an output (or input) tensor t named `name`: n samples of `width`
 * values each; GM_EINVAL (NULL) or GM_ESHAPE named fn. */
gm_status gm__model_check_out(const char *fn, const gm_tensor *t, const char *name, size_t n,
                              size_t width);
/* The checks of a decode/generate call: z holds n samples of L latents,
 * out n samples of `width` values, the labels suit C classes (required
 * iff C > 0), and z is finite. GM_EINVAL or GM_ESHAPE named fn. */
gm_status gm__model_check_latents(const char *fn, const gm_tensor *z, size_t L,
                                  const gm_tensor *out, size_t width, const int32_t *labels,
                                  size_t C);

#endif
