/* SPDX-License-Identifier: MIT */
/* The layer engine's internal structures: tensors, the layer vtable,
 * nets. Knows nothing of VAEs or GANs. Not installed. */
#ifndef GM_ENGINE_H
#define GM_ENGINE_H

#include <math.h>

#include <genmodel/layer.h>
#include <genmodel/loss.h>
#include <genmodel/net.h>
#include <genmodel/optim.h>
#include <genmodel/tensor.h>

#include "core/internal.h"

struct gm_tensor {
    size_t ndim;
    size_t shape[GM_MAX_DIMS];
    size_t numel;
    float *data;
    int owns_data;
};

/* A tensor header over memory the library manages (no allocation). */
void gm__tensor_view(gm_tensor *t, size_t ndim, const size_t *shape,
                     float *data);
/* Validates ndim/shape; *numel receives the product. Sets the error with
 * the given function name. */
gm_status gm__check_shape(const char *fn, size_t ndim, const size_t *shape,
                          size_t *numel);
/* 1 if the shapes are equal. */
int gm__same_shape(const gm_tensor *a, const gm_tensor *b);
/* Index of the first non-finite value of x[0..n), or n. */
size_t gm__find_nonfinite(const float *x, size_t n);
/* GM_EINVAL "fn: name[i] is not finite (v)" for the first non-finite value
 * of x[0..n); GM_OK if there is none. */
gm_status gm__check_all_finite(const char *fn, const char *name, const float *x, size_t n);
/* The same for a batch-first tensor, naming the row and the element in it:
 * "fn: name row r, element e is not finite (v)". */
gm_status gm__check_finite_rows(const char *fn, const char *name, const gm_tensor *t);
/* A batch-first tensor read as [rows x width]: the first dimension counts
 * the samples (vectors), the width is the rest. */
static inline size_t gm__tensor_rows(const gm_tensor *t) { return t->shape[0]; }
static inline size_t gm__tensor_width(const gm_tensor *t) { return t->numel / t->shape[0]; }

/* Checks n labels against C classes: required iff C > 0, each in [0, C). */
gm_status gm__check_labels(const char *fn, const int32_t *labels, size_t n, size_t C);
/* Data parallelism: checks that a shard of n rows at `offset` lies in a
 * batch of `total` rows (total <= GM__BLAS_MAX); GM_EINVAL otherwise. */
gm_status gm__check_shard(const char *fn, size_t n, size_t offset, size_t total);
/* Checks a model's gradient buffer before an apply: GM_ENUMERIC naming the
 * first non-finite value. */
gm_status gm__check_grad_buffer(const char *fn, const float *g, size_t n);
/* dst row i (d + C floats) = [src row i (d floats) | one_hot(labels[i])]. */
void gm__join_one_hot(float *dst, const float *src, size_t n, size_t d,
                      const int32_t *labels, size_t C);

/* ---- BLAS seam ------------------------------------------------------ */
/* C[M x N] = alpha op(A) op(B) + beta C, row-major, op = transpose if
 * trans_x. Sizes were validated to fit int when the layer/batch was set up. */
void gm__sgemm(int trans_a, int trans_b, size_t M, size_t N, size_t K,
               float alpha, const float *A, size_t lda, const float *B,
               size_t ldb, float beta, float *C, size_t ldc);
/* Same contract with plain loops: the reference the tests compare with. */
void gm__sgemm_ref(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                   float alpha, const float *A, size_t lda, const float *B,
                   size_t ldb, float beta, float *C, size_t ldc);
/* Changes whenever gm_set_num_threads or gm__threads_changed is called. */
unsigned gm__threads_generation(void);
void gm__threads_changed(void); /* lock-free: callable in a fork child handler */
/* Largest size a single BLAS dimension or product may take. */
#define GM__BLAS_MAX ((size_t)0x7fffffff)

/* ---- Layers ---------------------------------------------------------- */
/* A layer's hyperparameters and layer-owned state, as a checkpoint stores
 * them: what its constructor needs to make the same layer again. */
typedef struct gm__hyper {
    uint64_t u[5]; /* sizes, seeds, counters; u[4]: spectral norm iterations */
    float f[3];    /* reals: alpha, p; f[2]: spectral norm eps */
} gm__hyper;

typedef struct gm__layer_vt {
    gm_layer_kind kind;
    const char *name;
    /* Writes the hyperparameters into h (zeroed by the caller); NULL for
     * layers that have none. */
    void (*save_hyper)(const gm_layer *l, gm__hyper *h);
    /* Makes a new layer from saved hyperparameters through the public
     * constructor, so hostile values are validated; parameters are zero. */
    gm_status (*load)(gm_layer **out, const gm__hyper *h);
    /* The parameters a layer of hyperparameters h has (0 when the sizes
     * overflow: the constructor then refuses them too); NULL: none. A
     * checkpoint compares it with the stored count before load runs. */
    size_t (*param_count)(const gm__hyper *h);
    /* Checks saved hyperparameters beyond what the constructor checks (the
     * bounds a file can set that no parameter count bounds), before load
     * allocates anything; errors name fn. NULL: nothing more to check. */
    gm_status (*validate_hyper)(const gm__hyper *h, const char *fn);
    /* Checks layer-owned state a checkpoint put into l->state (finite
     * already); errors name fn. NULL: any finite value is valid. */
    gm_status (*validate_state)(const gm_layer *l, const char *fn);
    /* 1 if the kind can be spectrally normalized (gm_layer_spectral_norm). */
    int spectral;
    /* Bytes of the kind's struct (layer_kinds.h), which starts with the
     * gm_layer; 0: a plain gm_layer. */
    size_t size;
    /* Per-sample output shape for a per-sample input shape (rank 1..3).
     * Returns GM_ESHAPE with a message naming `fn` if it does not fit. */
    gm_status (*shape)(const gm_layer *l, const char *fn, size_t in_nd,
                       const size_t *in, size_t *out_nd, size_t *out);
    /* Floats of per-batch cache for n samples of per-sample input shape
     * in[0 .. in_nd) (NULL: none). */
    size_t (*cache_floats)(const gm_layer *l, size_t n, size_t in_nd, const size_t *in);
    /* y[n x out_dim] = f(x[n x in_dim]). */
    void (*forward)(gm_layer *l, float *y, const float *x, size_t n,
                    int training);
    /* dx[n x in_dim] = df/dx^T dy (skipped when dx is NULL); parameter
     * gradients += when l->trainable. x, y are the forward's. */
    void (*backward)(gm_layer *l, float *dx, const float *dy, const float *x,
                     const float *y, size_t n);
    /* Optional (NULL: none): per-batch state besides the workspace, made
     * for n samples of per-sample shape in[0 .. in_nd) when the net sizes
     * its workspace (the oneDNN primitives of a convolution, conv_dnnl.c).
     * *state receives it, or NULL when the layer needs none for this
     * shape. Errors name fn. The net keeps the layer's old state until
     * the whole setup has succeeded, then frees it with release. */
    gm_status (*prepare)(const gm_layer *l, const char *fn, size_t n, size_t in_nd,
                         const size_t *in, void **state);
    void (*release)(void *state);
    /* Optional, with prepare: the bytes of scratch a state needs only while
     * one of its layer's forward or backward calls runs (oneDNN's reorder
     * buffers and scratchpads), and the call that points the state at
     * them (scratch has malloc's alignment; errors name fn and the layer). A
     * net's layers run one at a time, so the net gives all of them one
     * block, the largest need, at the end of its workspace. */
    size_t (*scratch_bytes)(const void *state);
    gm_status (*bind_scratch)(const gm_layer *l, void *state, void *scratch, const char *fn);
} gm__layer_vt;

struct gm_layer {
    const gm__layer_vt *vt;
    gm_net *owner;         /* NULL while the caller owns the layer */
    size_t in_dim, out_dim; /* per-sample element counts of the last setup */
    size_t in_nd, in_shape[GM_MAX_DIMS - 1];   /* per-sample input shape */
    size_t out_nd, out_shape[GM_MAX_DIMS - 1]; /* per-sample output shape */
    size_t nparams;
    float *params, *grads; /* own block while standalone, else views */
    int trainable;
    float *cache;          /* per-batch cache from the net's workspace */
    /* each kind's hyperparameters are in its own struct (layer_kinds.h);
     * what is here is state that a step's snapshot saves for every layer */
    uint64_t step;                    /* dropout: training forwards so far */
    int last_training;                /* dropout, batchnorm: mode of the last forward */
    float *state;                     /* layer-owned state that is not a parameter */
    size_t nstate;                    /* (batchnorm: running mean, running var) */
    /* spectral norm (dense, convolutions; spectral.c): 0 iterations = off.
     * state holds u, v; sn_work the normalized weight, then a scratch
     * gradient of the same size */
    size_t sn_iters;
    float sn_eps, sn_sigma;
    float *sn_work;
    /* vt->prepare's state for the net's current batch shape (accel) and
     * the one being set up (accel_next); accel_status is the first failed
     * status of a forward or backward that runs on it (oneDNN's
     * dnnl_status_t, 0 = none), which the net turns into an error
     * (gm__layer_accel_error) */
    void *accel, *accel_next;
    int accel_status;
};

/* l->vt->forward / backward, with the batch split across threads for the
 * layers that treat each sample alone (layer.c, par.h). */
void gm__layer_run_forward(gm_layer *l, float *y, const float *x, size_t n, int training);
void gm__layer_run_backward(gm_layer *l, float *dx, const float *dy, const float *x,
                            const float *y, size_t n);

/* Allocates a layer of type vt with nparams parameters (+ gradients), all
 * zero. Reports GM_ENOMEM under the name fn. */
gm_status gm__layer_new(gm_layer **out, const gm__layer_vt *vt,
                        size_t nparams, const char *fn);

/* vt->shape of layers that keep the per-sample shape. */
gm_status gm__same_shape_fn(const gm_layer *l, const char *fn, size_t in_nd,
                            const size_t *in, size_t *out_nd, size_t *out);

/* ---- Convolution backend (conv.c, conv_dnnl.c) ------------------------
 * Conv2D and ConvTranspose2D run on oneDNN (Debian libdnnl-dev, the
 * library PyTorch uses for CPU convolutions) when the build has it
 * (CMake GM_WITH_DNNL, which defines GM_DNNL=1): forward, backward-data
 * and backward-weights primitives, made once per batch shape by
 * vt->prepare and kept in l->accel with the reorder buffers a backward
 * reads from its forward; the buffers needed only while one call runs
 * (the other reorders, the scratchpads) share one scratch block per net
 * (vt->scratch_bytes, vt->bind_scratch). A train step in steady state
 * allocates nothing. Tensors stay
 * NCHW float32 at the layer's edges; inside, oneDNN picks its blocked
 * layouts (format `any`) and the layer reorders to and from them. Its
 * OpenMP threads follow gm_set_num_threads (set before every primitive
 * runs, so the count is the same in every calling thread); results are
 * deterministic for a given thread count and backend. Without oneDNN, or
 * when gm__conv_force_im2col(1) was called before the net was set up, the
 * convolutions run as im2col + sgemm (conv.c): the fallback and the
 * reference that the tests compare oneDNN with. */
/* 1 if this build has oneDNN. */
int gm__conv_dnnl_built(void);
/* Tests and benchmarks only: force (1) or stop forcing (0) im2col for the
 * nets set up from now on (the environment variable GM__CONV_IM2COL=1 sets
 * the initial value). Call while no other thread is inside the library.
 * Returns the previous value. */
int gm__conv_force_im2col(int force);
/* 1 if convolutions set up now run on oneDNN. */
int gm__conv_uses_dnnl(void);
/* vt->prepare and vt->release of both convolutions (conv_dnnl.c; without
 * oneDNN, conv_nodnnl.c). */
gm_status gm__conv_dnnl_prepare(const gm_layer *l, const char *fn, size_t n, size_t in_nd,
                                const size_t *in, void **state);
void gm__conv_dnnl_release(void *state);
/* oneDNN's OpenMP threads = the library's thread count (one in a fork
 * child, par.h), in the calling thread (OpenMP's count is per calling
 * thread): before every oneDNN call (conv_dnnl.c; blas.c's sgemm). */
void gm__dnnl_threads(void);
/* vt->scratch_bytes and vt->bind_scratch of both convolutions. */
size_t gm__conv_dnnl_scratch_bytes(const void *state);
gm_status gm__conv_dnnl_bind(const gm_layer *l, void *state, void *scratch, const char *fn);
/* The oneDNN paths of a layer whose l->accel is set; failures go to
 * l->accel_status. */
void gm__conv_dnnl_forward(gm_layer *l, float *y, const float *x, const float *W,
                           const float *b);
void gm__conv_dnnl_backward(gm_layer *l, float *dx, const float *dy, const float *x,
                            const float *W, float *dW, float *db);
/* GM_OK, or the error for a layer whose accel_status is set (which it
 * clears), naming fn and the layer. */
gm_status gm__layer_accel_error(gm_layer *l, const char *fn);

/* ---- Spectral normalization (spectral.c) ----------------------------- */
/* 1 if l's kind can be spectrally normalized. */
int gm__sn_supported(const gm_layer *l);
/* Element count of l's weight (its parameters without the bias). */
size_t gm__sn_weight_count(const gm_layer *l);
/* Turns spectral norm on with zeroed u, v (a checkpoint loader fills them). */
gm_status gm__sn_enable(gm_layer *l, size_t iters, float eps, const char *fn);
/* The weight a forward computes with: l->params, or (spectral norm) W /
 * sigma after the power iteration when training. */
const float *gm__sn_forward(gm_layer *l, int training);
/* The weight of the last forward, for the backward's input gradient. */
const float *gm__sn_weight(const gm_layer *l);
/* Where a backward accumulates the weight gradient: l->grads, or a zeroed
 * scratch G that gm__sn_grad_end then folds into l->grads through W / sigma. */
float *gm__sn_grad_begin(gm_layer *l);
void gm__sn_grad_end(gm_layer *l);

/* The vtable of a layer kind, or NULL for an unknown kind. */
const gm__layer_vt *gm__layer_vt_for(int32_t kind);
/* The hyperparameters of l (zero where unused). */
void gm__layer_save_hyper(const gm_layer *l, gm__hyper *h);
/* A new standalone layer of kind vt from saved hyperparameters h: checks
 * them (vt->validate_hyper, the spectral-norm settings u[4], f[2]), makes
 * the layer through vt->load and turns spectral norm on; parameters and
 * state are zero. Errors name fn; *out is NULL on failure. */
gm_status gm__layer_from_hyper(gm_layer **out, const gm__layer_vt *vt, const gm__hyper *h,
                               const char *fn);
/* The parameter count vt->param_count gives for h (0 if it is NULL). */
size_t gm__layer_hyper_params(const gm__layer_vt *vt, const gm__hyper *h);
/* GM_EINVAL naming fn unless 1 <= iters <= 100 and eps is in (0, 1]: the
 * bounds of gm_layer_spectral_norm, which checkpoints share. */
gm_status gm__sn_check_settings(uint64_t iters, float eps, const char *fn);

extern const gm__layer_vt gm__dense_vt, gm__relu_vt, gm__leaky_relu_vt,
    gm__sigmoid_vt, gm__tanh_vt, gm__softplus_vt, gm__elu_vt, gm__dropout_vt,
    gm__reshape_vt, gm__flatten_vt, gm__conv2d_vt, gm__conv_transpose2d_vt, gm__batchnorm_vt;

/* Stable scalar helpers shared by layers and losses. */
static inline float gm__sigmoidf(float x)
{
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    float e = expf(x);
    return e / (1.0f + e);
}
static inline float gm__softplusf(float x)
{
    return (x > 0.0f ? x : 0.0f) + log1pf(expf(-fabsf(x)));
}

/* Initializes a layer's parameters: weights params[0..nw) by `init` with
 * the given fans, biases params[nw..nw+nb) zero (GM_INIT_TORCH: weights
 * and biases U(+-1/sqrt(fan_in)) in one draw). rng may be NULL for ZEROS. */
void gm__init_weights(float *params, size_t nw, size_t nb, gm_init init, gm_rng *rng,
                      double fan_in, double fan_out);

/* ---- Optimizers (optim.c) ------------------------------------------- */
struct gm_optimizer {
    gm_optimizer_options o;
    uint64_t net_id;
    size_t n;
    float *m, *v; /* one block; v unused (NULL) by SGD */
    uint64_t t;
    /* Adam: the largest |parameter|, |first moment| and second moment the
     * last update wrote (over the layers it updated), valid while the net
     * is at version max_version with the same trainable layers (max_sig):
     * with them and the gradient norm, gm__optimizer_check bounds the next
     * update without a pass over the parameters and moments. */
    int have_max;
    uint64_t max_version, max_sig;
    float pmax, mmax, vmax;
};
/* Reads a caller's optimizer options (gm__read_options): size and kind
 * required, the other fields default to kind's. GM_EINVAL names fn and
 * the struct `name`; the settings themselves are validated on creation. */
gm_status gm__read_optimizer_options(const char *fn, const char *name,
                                     const gm_optimizer_options *src, gm_optimizer_options *o);
/* gm_optimizer_step without its argument checks, for models that made the
 * gradients and checked them finite already (one pass less over them):
 * opt was made for net, whose gradients are finite. The update is
 * computed first without writing (gm__optimizer_check): if a new
 * parameter or moment would not be finite, GM_ENUMERIC named fn and
 * `what` (the net's role) and nothing changes. */
gm_status gm__optimizer_update(gm_optimizer *opt, gm_net *net, const char *fn, const char *what);
/* The two halves of gm__optimizer_update, for a model that must check
 * both of its optimizers before applying either. */
gm_status gm__optimizer_check(const gm_optimizer *opt, const gm_net *net, const char *fn,
                              const char *what);
gm_status gm__optimizer_apply(gm_optimizer *opt, gm_net *net);
/* The checks gm_optimizer_create makes of every setting (GM_EINVAL named
 * fn, naming the field and value); for the checkpoint loader too. */
gm_status gm__optimizer_options_check(const char *fn, const gm_optimizer_options *o);
/* Floats of optimizer state per parameter: 1 (SGD momentum) or 2 (Adam). */
static inline size_t gm__optimizer_slots(const gm_optimizer *o) { return o->v ? 2 : 1; }

/* ---- Nets ------------------------------------------------------------ */
struct gm_net {
    gm_layer **layers;
    size_t n_layers;
    float *params, *grads; /* one block each, layer after layer */
    size_t nparams;
    uint64_t id;           /* identity for optimizers */
    uint64_t version;      /* bumped whenever parameters change */
    int training;
    /* batch workspace, sized for one input shape */
    size_t in_ndim, in_shape[GM_MAX_DIMS];
    size_t (*bshape)[GM_MAX_DIMS]; /* per boundary: per-sample shape */
    size_t *bnd;                   /* per boundary: per-sample rank */
    float **act;                   /* n_layers + 1 activations */
    float *dbuf[2];                /* ping-pong gradients */
    float *work;                   /* the one block behind act/dbuf/caches */
    int have_forward;
    uint64_t forward_version;
    unsigned threads_gen;  /* gm__threads_generation() when the workspace was set up */
    int input_grads_only; /* set by gm__net_backward_input during its call */
    int owned;            /* set while a model owns the net (it frees it) */
    /* gradient-penalty workspace (ggrad.c), grown once per batch shape */
    float *pen_work;
    size_t pen_cap;
};

/* Checks that `net` (named `what` in the message) has no owner yet (a
 * model, src/model/, sets `owned`); GM_ESTATE otherwise. */
gm_status gm__net_check_free(const char *fn, const gm_net *net, const char *what);

/* Whether a layer's backward accumulates its parameter gradients: it is
 * trainable and its net is not computing an input gradient only. */
static inline int gm__layer_accumulates(const gm_layer *l)
{
    return l->trainable && !(l->owner && l->owner->input_grads_only);
}

/* gm_net_backward that writes dx (required) and leaves every parameter
 * gradient as it is, with no GEMM for them: for differentiating through a
 * net that is not being trained in this pass (a GAN's discriminator in the
 * generator update, a VAE's decoder while inpainting). */
gm_status gm__net_backward_input(gm_net *net, const gm_tensor *dy, gm_tensor *dx);

/* Gradient penalties through the layer engine (ggrad.c). The net maps
 * x [n x ...] to one value per row. With g_i = grad_{x_i} D(x_i):
 * kind GM__PEN_R1: P = c/2 mean_i |g_i|^2; GM__PEN_GP: P = c mean_i
 * (|g_i| - 1)^2. Runs a forward on x (the net's last forward becomes x's),
 * writes P to *value and ADDS dP/dtheta to the parameter gradients of the
 * trainable layers. Errors name fn; batchnorm or spectral norm in the net
 * is GM_EUNSUPPORTED naming the layer. x's shape and values were checked
 * by the caller except against the net's shapes. */
enum { GM__PEN_R1 = 1, GM__PEN_GP = 2 };
/* With fake != NULL the penalty is taken at x^ = eps x + (1 - eps) fake
 * (fake shaped like x, eps per row drawn from rng after every check, or,
 * with rng NULL, read from eps[0 .. n)). */
gm_status gm__net_penalty(gm_net *net, const char *fn, const gm_tensor *x,
                          const gm_tensor *fake, gm_rng *rng, const float *eps, int kind,
                          double c, double *value);
/* GM_EUNSUPPORTED (naming fn and the layer) if a penalty cannot run on
 * net (batchnorm, spectral norm), GM_ESTATE for a net without layers. */
gm_status gm__net_penalty_check(const gm_net *net, const char *fn);

/* gm_net_forward for a caller that has already checked x's values (a
 * model's train step scans its batch once): the same shape checks, errors
 * named after fn, no second finiteness scan of x. */
gm_status gm__net_forward_checked_input(gm_net *net, const char *fn, const gm_tensor *x,
                                        gm_tensor *y);
/* A model's forward of one of its nets (`what`: "encoder", "decoder",
 * "generator", "discriminator"), errors named after the public function
 * fn (also GM_ENOMEM). x is checked finite when scan_x is set (a caller's
 * input; GM_EINVAL); the output always is: a non-finite value made inside
 * the net from finite input is GM_ENUMERIC naming `what` and the first
 * layer that produced one (layer state may have changed: the models undo
 * through their snapshots). */
gm_status gm__net_forward_model(gm_net *net, const char *fn, const char *what,
                                const gm_tensor *x, gm_tensor *y, int scan_x);

/* Notes that the parameters of `net` changed (forward caches are stale). */
static inline void gm__net_touch(gm_net *net) { net->version++; }

/* Sum of squares of the trainable gradients (double accumulation). */
double gm__net_grad_sumsq(const gm_net *net);

/* ---- performance helpers ---- */
/* GM__HOT marks the hot elementwise kernels (Adam, the Bernoulli
 * likelihood, the finiteness and norm scans, activations, batchnorm, the
 * convolutions' patch gather): GCC builds each for AVX-512, AVX2 and the
 * baseline, and the loader picks the widest the CPU has (function
 * multiversioning through an ifunc). Every clone runs the same IEEE
 * operations in the same order (no contraction: the library is built with
 * -ffp-contract=off; no reassociation), so every clone gives the same
 * bits, and a model trains to the same numbers on any x86-64. */
/* Not under ThreadSanitizer: its instrumented ifunc resolvers run while
 * the loader applies relocations, before the TSan runtime is up, and the
 * program crashes at start. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__ELF__) && \
    !defined(GM_NO_CLONES) && !defined(__SANITIZE_THREAD__)
#define GM__HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define GM__HOT
#endif
/* Elementwise loops run in blocks of GM__VB elements with a scalar tail:
 * GCC at -O2 (the default RelWithDebInfo build) vectorizes loops only when
 * their trip count is a known multiple of the vector width, which a fixed
 * inner block is and a loop to n is not. */
#define GM__VB 16
/* for (k = 0; k < m; k++) body, as full blocks of GM__VB then a tail. The
 * body's pointers should be restrict-qualified (function parameters):
 * -O2 adds no runtime overlap checks. */
#define GM__FOR_BLOCKED(m, k, body)                                           \
    do {                                                                      \
        size_t k##_b = 0;                                                     \
        for (; k##_b + GM__VB <= (m); k##_b += GM__VB)                        \
            for (size_t k##_j = 0; k##_j < GM__VB; k##_j++) {                 \
                const size_t k = k##_b + k##_j;                               \
                body;                                                         \
            }                                                                 \
        for (size_t k = k##_b; k < (m); k++) {                                \
            body;                                                             \
        }                                                                     \
    } while (0)

/* Float e^-a and log1p that vectorize (elbo.c's Bernoulli likelihood,
 * gm__sigmoid_array): plain arithmetic, no libm calls, a few ulps.
 * e^-a for a >= 0: x = -a = k ln2 + r with |r| <= ln2 / 2, e^x = 2^k e^r,
 * e^r by its Taylor series to r^7 (truncation below 6e-9 relative). a is
 * clamped to 87 (e^-87 ~ 1.6e-38 is still normal) as an integer: the bit
 * patterns of non-negative floats order as their values, and an integer
 * min stays a select, where a float ?: followed by float arithmetic
 * becomes a branch at -O2 and stops the block from vectorizing. */
static inline float gm__exp_neg(float a)
{
    union { float f; int32_t i; } u = {a}, s; /* C11: reading another member reinterprets */
    u.i = u.i < 0x42AE0000 ? u.i : 0x42AE0000; /* 87.0f */
    const float x = -u.f;
    /* k = round(x / ln2): adding 1.5 * 2^23 rounds to an integer */
    const float k = (x * 1.44269504f + 12582912.0f) - 12582912.0f;
    /* ln2 in two parts: k * 0.693359375 is exact for |k| < 2^15 */
    const float r = (x - k * 0.693359375f) - k * -2.12194440e-4f;
    const float p =
        1.0f +
        r * (1.0f +
             r * (0.5f +
                  r * (1.0f / 6 +
                       r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
    s.i = ((int32_t)k + 127) * (1 << 23); /* 2^k, k in [-126, 0] */
    return p * s.f;
}

/* log(1 + e) for e in [0, 1]: 2 atanh(s), s = e / (2 + e) <= 1/3, by its
 * series to s^15 (truncation below 1e-9). */
static inline float gm__log1p_unit(float e)
{
    const float s = e / (2.0f + e), w = s * s;
    const float p =
        1.0f / 3 +
        w * (1.0f / 5 +
             w * (1.0f / 7 + w * (1.0f / 9 + w * (1.0f / 11 + w * (1.0f / 13 + w * (1.0f / 15))))));
    return 2.0f * s + 2.0f * s * (w * p);
}

/* y[i] = sigmoid(x[i]) for finite x, vectorized (activation.c), within
 * ~2 ulps (below -87 it stays at ~1.6e-38 instead of going denormal): for
 * per-pixel means such as a Bernoulli decoder's, where a scalar expf per
 * value costs more than the decoder's GEMMs. */
void gm__sigmoid_array(float *y, const float *x, size_t n);
/* ---- end of performance helpers ---- */

#endif
