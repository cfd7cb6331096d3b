/* SPDX-License-Identifier: MIT */
/* Conv2D and ConvTranspose2D (NCHW, square kernel, stride, zero padding)
 * on oneDNN when the build has it (conv_dnnl.c; l->accel set by
 * vt->prepare), else through im2col / col2im and one sgemm per batch.
 * Parameters (PyTorch's layouts):
 *   conv2d:           W [out_ch x in_ch x k x k], then b [out_ch]
 *   conv_transpose2d: W [in_ch x out_ch x k x k], then b [out_ch]
 * A conv maps [C x H x W] to [O x Ho x Wo], Ho = (H + 2p - k) / s + 1; a
 * transposed conv is its adjoint, [C x H x W] to [O x Ho x Wo] with
 * Ho = (H - 1) s - 2p + k. */
#include <math.h>
#include <string.h>
#include <stdint.h>

#include "engine/engine.h"
#include "engine/layer_kinds.h"

/* Geometry of one direct convolution: image [C x H x W], output Ho x Wo. */
typedef struct {
    size_t C, H, W, k, s, p, Ho, Wo;
} gm__geom;

/* Where each patch element comes from: for kernel offset q = ki k + kj and
 * output position s = oh Wo + ow of the direct convolution, the offset
 * ih W + iw in the input plane that it reads, or -1 in the zero padding.
 * idx holds k k x Ho Wo entries; it is built once per call (cheap next to
 * the C k k x Ho Wo moves per sample it serves), so that im2col and
 * col2im run as one long loop per (channel, q) with no bounds tests. The
 * shape check keeps the plane below 2^31. */
static void gm__patch_index(const gm__geom *g, int32_t *idx)
{
    const size_t S = g->Ho * g->Wo;
    for (size_t ki = 0; ki < g->k; ki++)
        for (size_t kj = 0; kj < g->k; kj++) {
            int32_t *r = idx + (ki * g->k + kj) * S;
            for (size_t oh = 0; oh < g->Ho; oh++) {
                /* input row ih = oh s + ki - p, column iw = ow s + kj - p */
                const ptrdiff_t ih = (ptrdiff_t)(oh * g->s + ki) - (ptrdiff_t)g->p;
                for (size_t ow = 0; ow < g->Wo; ow++) {
                    const ptrdiff_t iw = (ptrdiff_t)(ow * g->s + kj) - (ptrdiff_t)g->p;
                    const int in = ih >= 0 && ih < (ptrdiff_t)g->H && iw >= 0 &&
                                   iw < (ptrdiff_t)g->W;
                    r[oh * g->Wo + ow] = in ? (int32_t)(ih * (ptrdiff_t)g->W + iw) : -1;
                }
            }
        }
}

/* One row of the patch matrix: out[s] = plane[r[s]], 0 where r[s] < 0.
 * The index is clamped before the load and the value's bits are masked
 * after it (an integer and, where a float ?: would become a branch), so
 * the block has no branch: the index and mask work runs in vectors, the
 * loads one by one (GCC's generic tuning emits no gather instructions). */
GM__HOT static void gm__gather_row(const int32_t *restrict r, const float *restrict plane,
                                   float *restrict out, size_t S)
{
    GM__FOR_BLOCKED(S, s, {
        const int32_t j = r[s];
        const int32_t pad = -(int32_t)(j < 0); /* -1 in the padding, else 0 */
        union { float f; int32_t i; } v = {plane[j & ~pad]};
        v.i &= ~pad;
        out[s] = v.f;
    });
}

/* The k x k patches of n images [C x H x W] (image i at x + i dim) as the
 * [C k k x n Ho Wo] matrix col. The batch is the inner loop: each row of
 * col is written front to back, while the n planes of one channel that it
 * reads stay in cache. Zero outside the image. */
static void gm__im2col(const gm__geom *g, const int32_t *idx, const float *x, size_t n,
                       size_t dim, float *col)
{
    const size_t kk = g->k * g->k, S = g->Ho * g->Wo, A = g->H * g->W;
    for (size_t c = 0; c < g->C; c++)
        for (size_t q = 0; q < kk; q++) {
            float *row = col + (c * kk + q) * n * S;
            for (size_t i = 0; i < n; i++)
                gm__gather_row(idx + q * S, x + i * dim + c * A, row + i * S, S);
        }
}

/* The n images at x (image i at x + i dim) += the patches in col, the
 * adjoint of gm__im2col, in the same order. For one q the map
 * s -> r[s] is one-to-one, so the adds of a row never meet; padding
 * entries add into a scratch float. */
static void gm__col2im(const gm__geom *g, const int32_t *idx, const float *col, size_t n,
                       size_t dim, float *x)
{
    const size_t kk = g->k * g->k, S = g->Ho * g->Wo, A = g->H * g->W;
    float scratch = 0.0f;
    for (size_t c = 0; c < g->C; c++)
        for (size_t q = 0; q < kk; q++) {
            const int32_t *r = idx + q * S;
            const float *row = col + (c * kk + q) * n * S;
            for (size_t i = 0; i < n; i++) {
                float *plane = x + i * dim + c * A;
                const float *seg = row + i * S;
                for (size_t s = 0; s < S; s++) {
                    float *dst = r[s] >= 0 ? plane + r[s] : &scratch;
                    *dst += seg[s];
                }
            }
        }
}

/* Batch layout [n x C x S] <-> channel-major [C x n S], where the GEMMs
 * of a whole batch work. */
static void gm__to_channel_major(const float *x, size_t n, size_t C, size_t S, float *t)
{
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < C; c++)
            memcpy(t + c * n * S + i * S, x + (i * C + c) * S, S * sizeof(float));
}

static void gm__from_channel_major(const float *t, size_t n, size_t C, size_t S, float *x)
{
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < C; c++)
            memcpy(x + (i * C + c) * S, t + c * n * S + i * S, S * sizeof(float));
}

/* y [n x O x S] = t [O x n S] + b[o], the permutation fused with the bias. */
static void gm__from_channel_major_bias(const float *t, const float *b, size_t n, size_t O,
                                        size_t S, float *y)
{
    for (size_t i = 0; i < n; i++)
        for (size_t o = 0; o < O; o++) {
            const float *src = t + o * n * S + i * S;
            float *dst = y + (i * O + o) * S;
            const float bo = b[o];
            for (size_t s = 0; s < S; s++) dst[s] = src[s] + bo;
        }
}

/* db[o] += the sum of row o of t [O x m] */
static void gm__row_sums_add(const float *t, size_t O, size_t m, float *db)
{
    for (size_t o = 0; o < O; o++) {
        double sum = 0.0;
        for (size_t j = 0; j < m; j++) sum += t[o * m + j];
        db[o] += (float)sum;
    }
}

static int gm__is_transpose(const gm_layer *l) { return l->vt->kind == GM_LAYER_CONV_TRANSPOSE2D; }

/* The direct convolution behind the layer: for a conv, input -> output;
 * for a transposed conv, output -> input. */
static gm__geom gm__conv_geom(const gm_layer *l)
{
    const size_t *in = l->in_shape, *out = l->out_shape;
    gm__geom g = {0, 0, 0, GM__CONV(l)->kernel, GM__CONV(l)->stride, GM__CONV(l)->pad, 0, 0};
    if (gm__is_transpose(l)) {
        g.C = out[0], g.H = out[1], g.W = out[2], g.Ho = in[1], g.Wo = in[2];
    } else {
        g.C = in[0], g.H = in[1], g.W = in[2], g.Ho = out[1], g.Wo = out[2];
    }
    return g;
}

static gm_status conv_shape(const gm_layer *l, const char *fn, size_t in_nd, const size_t *in,
                            size_t *out_nd, size_t *out)
{
    const char *name = l->vt->name;
    if (in_nd != 3 || in[0] != GM__CONV(l)->in_ch)
        return gm__set_error(GM_ESHAPE, fn, "%s layer expects samples of %zu x H x W, got %s%zu",
                             name, GM__CONV(l)->in_ch, in_nd == 3 ? "" : "rank ",
                             in_nd == 3 ? in[0] : in_nd);
    const size_t k = GM__CONV(l)->kernel, s = GM__CONV(l)->stride, p = GM__CONV(l)->pad;
    for (int d = 1; d <= 2; d++) {
        size_t o;
        if (gm__is_transpose(l)) {
            /* (H - 1) s - 2p + k, which must be >= 1 */
            size_t a;
            if (!gm__mul_ok(in[d] - 1, s, &a) || a + k < 2 * p + 1 || a + k - 2 * p > 65536)
                return gm__set_error(GM_ESHAPE, fn, "%s layer: input size %zu gives no valid output",
                                     name, in[d]);
            o = a + k - 2 * p;
        } else {
            if (in[d] + 2 * p < k)
                return gm__set_error(GM_ESHAPE, fn,
                                     "%s layer: input size %zu with padding %zu is smaller than "
                                     "the kernel %zu",
                                     name, in[d], p, k);
            o = (in[d] + 2 * p - k) / s + 1;
        }
        out[d] = o;
    }
    out[0] = GM__CONV(l)->out_ch;
    *out_nd = 3;
    /* the im2col matrix must fit one BLAS operand */
    const size_t rows = (gm__is_transpose(l) ? GM__CONV(l)->out_ch : GM__CONV(l)->in_ch) * k * k;
    size_t area, m;
    if (!gm__mul_ok(gm__is_transpose(l) ? in[1] : out[1], gm__is_transpose(l) ? in[2] : out[2],
                    &area) ||
        !gm__mul_ok(rows, area, &m) || m > GM__BLAS_MAX)
        return gm__set_error(GM_ESHAPE, fn, "%s layer: the patch matrix is too large", name);
    /* the patch index addresses the direct convolution's input plane */
    size_t plane;
    if (!gm__mul_ok(gm__is_transpose(l) ? out[1] : in[1], gm__is_transpose(l) ? out[2] : in[2],
                    &plane) ||
        plane > (size_t)INT32_MAX)
        return gm__set_error(GM_ESHAPE, fn, "%s layer: the image plane is too large", name);
    return GM_OK;
}

/* Per-batch cache (the whole batch goes through one GEMM per product):
 *   conv2d: col [C k k x n S] of the forward (kept for the weight
 *           gradient), dcol of the same size, t [O x n S];
 *   conv_transpose2d: x' [C x n S] of the forward (kept), col [O k k x n S],
 *           t [C x n S];
 * S the area of the direct convolution's output; then the k k x S
 * patch index (gm__patch_index, int32 in float-sized slots, only ever
 * accessed as int32). Sizes fit: K S and n S were checked against 2^31 by
 * the shape check and the net's batch check. */
static size_t gm__conv_main_floats(const gm_layer *l, size_t nS)
{
    const size_t kk = GM__CONV(l)->kernel * GM__CONV(l)->kernel;
    return gm__is_transpose(l) ? (2 * GM__CONV(l)->in_ch + GM__CONV(l)->out_ch * kk) * nS
                               : (2 * GM__CONV(l)->in_ch * kk + GM__CONV(l)->out_ch) * nS;
}

static size_t conv_cache(const gm_layer *l, size_t n, size_t in_nd, const size_t *in)
{
    (void)in_nd;
    if (gm__conv_uses_dnnl()) return 0; /* oneDNN keeps its own buffers */
    size_t out_nd, out[GM_MAX_DIMS - 1];
    if (conv_shape(l, __func__, 3, in, &out_nd, out) != GM_OK) return 0;
    const size_t S = gm__is_transpose(l) ? in[1] * in[2] : out[1] * out[2];
    return gm__conv_main_floats(l, n * S) + GM__CONV(l)->kernel * GM__CONV(l)->kernel * S;
}

/* The patch index for this call's geometry, built in its cache slot. */
static const int32_t *gm__conv_index(gm_layer *l, const gm__geom *g, size_t n)
{
    int32_t *idx = (int32_t *)(void *)(l->cache + gm__conv_main_floats(l, n * g->Ho * g->Wo));
    gm__patch_index(g, idx);
    return idx;
}

/* The oneDNN backward of either conv: weight gradient (through spectral
 * norm's scratch when on) and bias gradient += when the layer accumulates. */
static void gm__conv_accel_backward(gm_layer *l, float *dx, const float *dy, const float *x,
                                    const float *W, size_t nw)
{
    const int acc = gm__layer_accumulates(l);
    gm__conv_dnnl_backward(l, dx, dy, x, W, acc ? gm__sn_grad_begin(l) : NULL, l->grads + nw);
    if (acc) gm__sn_grad_end(l);
}

/* Y [O x n S] = W [O x Ckk] col [Ckk x n S]; y = Y + b in batch layout */
static void conv_forward(gm_layer *l, float *y, const float *x, size_t n, int training)
{
    const gm__geom g = gm__conv_geom(l);
    const size_t O = GM__CONV(l)->out_ch, K = g.C * g.k * g.k, S = g.Ho * g.Wo, nS = n * S;
    const float *W = gm__sn_forward(l, training), *b = l->params + O * K;
    if (l->accel) {
        gm__conv_dnnl_forward(l, y, x, W, b);
        return;
    }
    float *col = l->cache, *t = l->cache + 2 * K * nS;
    gm__im2col(&g, gm__conv_index(l, &g, n), x, n, l->in_dim, col);
    gm__sgemm(0, 0, O, nS, K, 1.0f, W, K, col, nS, 0.0f, t, nS);
    gm__from_channel_major_bias(t, b, n, O, S, y);
}

static void conv_backward(gm_layer *l, float *dx, const float *dy, const float *x,
                          const float *y, size_t n)
{
    (void)x;
    (void)y;
    const gm__geom g = gm__conv_geom(l);
    const size_t O = GM__CONV(l)->out_ch, K = g.C * g.k * g.k, S = g.Ho * g.Wo, nS = n * S;
    const float *W = gm__sn_weight(l), *col = l->cache;
    if (l->accel) {
        gm__conv_accel_backward(l, dx, dy, x, W, O * K);
        return;
    }
    float *dcol = l->cache + K * nS, *t = l->cache + 2 * K * nS;
    gm__to_channel_major(dy, n, O, S, t); /* dY [O x n S] */
    if (gm__layer_accumulates(l)) {
        /* dW [O x Ckk] += dY col^T; db += row sums of dY */
        gm__sgemm(0, 1, O, K, nS, 1.0f, t, nS, col, nS, 1.0f, gm__sn_grad_begin(l), K);
        gm__sn_grad_end(l);
        gm__row_sums_add(t, O, nS, l->grads + O * K);
    }
    if (dx) {
        /* dcol [Ckk x n S] = W^T dY; dx = col2im(dcol) sample by sample */
        gm__sgemm(1, 0, K, nS, O, 1.0f, W, K, t, nS, 0.0f, dcol, nS);
        memset(dx, 0, n * l->in_dim * sizeof(float));
        gm__col2im(&g, gm__conv_index(l, &g, n), dcol, n, l->in_dim, dx);
    }
}

/* y = col2im(W^T x) + b: W [C x Okk] seen from the direct conv over y */
static void convt_forward(gm_layer *l, float *y, const float *x, size_t n, int training)
{
    const gm__geom g = gm__conv_geom(l); /* g.C = out_ch, g.Ho x g.Wo = input area */
    const size_t C = GM__CONV(l)->in_ch, K = g.C * g.k * g.k, S = g.Ho * g.Wo, nS = n * S,
                 A = g.H * g.W;
    const float *W = gm__sn_forward(l, training), *b = l->params + C * K;
    if (l->accel) {
        gm__conv_dnnl_forward(l, y, x, W, b);
        return;
    }
    float *xt = l->cache, *col = l->cache + C * nS;
    gm__to_channel_major(x, n, C, S, xt); /* X [C x n S] */
    /* col [Okk x n S] = W^T [Okk x C] X */
    gm__sgemm(1, 0, K, nS, C, 1.0f, W, K, xt, nS, 0.0f, col, nS);
    for (size_t i = 0; i < n; i++) {
        float *yi = y + i * l->out_dim;
        for (size_t o = 0; o < g.C; o++)
            for (size_t a = 0; a < A; a++) yi[o * A + a] = b[o];
    }
    gm__col2im(&g, gm__conv_index(l, &g, n), col, n, l->out_dim, y);
}

static void convt_backward(gm_layer *l, float *dx, const float *dy, const float *x,
                           const float *y, size_t n)
{
    (void)x;
    (void)y;
    const gm__geom g = gm__conv_geom(l);
    const size_t C = GM__CONV(l)->in_ch, K = g.C * g.k * g.k, S = g.Ho * g.Wo, nS = n * S,
                 A = g.H * g.W;
    const float *W = gm__sn_weight(l), *xt = l->cache;
    if (l->accel) {
        gm__conv_accel_backward(l, dx, dy, x, W, C * K);
        return;
    }
    float *dcol = l->cache + C * nS, *t = dcol + K * nS;
    gm__im2col(&g, gm__conv_index(l, &g, n), dy, n, l->out_dim, dcol);
    if (gm__layer_accumulates(l)) {
        /* dW [C x Okk] += X dcol^T; db[o] += sums of dy over samples and area */
        gm__sgemm(0, 1, C, K, nS, 1.0f, xt, nS, dcol, nS, 1.0f, gm__sn_grad_begin(l), K);
        gm__sn_grad_end(l);
        float *db = l->grads + C * K;
        for (size_t o = 0; o < g.C; o++) {
            double sum = 0.0;
            for (size_t i = 0; i < n; i++) {
                const float *p = dy + i * l->out_dim + o * A;
                for (size_t a = 0; a < A; a++) sum += p[a];
            }
            db[o] += (float)sum;
        }
    }
    if (dx) {
        /* dX [C x n S] = W [C x Okk] dcol, back to batch layout */
        gm__sgemm(0, 0, C, nS, K, 1.0f, W, K, dcol, nS, 0.0f, t, nS);
        gm__from_channel_major(t, n, C, S, dx);
    }
}

static void conv_save(const gm_layer *l, gm__hyper *h)
{
    h->u[0] = GM__CONV(l)->in_ch;
    h->u[1] = GM__CONV(l)->out_ch;
    h->u[2] = GM__CONV(l)->kernel;
    h->u[3] = (uint64_t)GM__CONV(l)->stride << 32 | GM__CONV(l)->pad;
}

static gm_status conv_load(gm_layer **out, const gm__hyper *h)
{
    return gm_conv2d_create(out, (size_t)h->u[0], (size_t)h->u[1], (size_t)h->u[2],
                            (size_t)(h->u[3] >> 32), (size_t)(h->u[3] & 0xffffffffu),
                            GM_INIT_ZEROS, NULL);
}

static gm_status convt_load(gm_layer **out, const gm__hyper *h)
{
    return gm_conv_transpose2d_create(out, (size_t)h->u[0], (size_t)h->u[1], (size_t)h->u[2],
                                      (size_t)(h->u[3] >> 32),
                                      (size_t)(h->u[3] & 0xffffffffu), GM_INIT_ZEROS, NULL);
}

/* in_ch x out_ch x k x k weights + out_ch biases (both directions) */
static size_t conv_param_count(const gm__hyper *h)
{
    size_t a, b;
    if (h->u[0] > SIZE_MAX || h->u[1] > SIZE_MAX || h->u[2] > SIZE_MAX) return 0;
    if (!gm__mul_ok((size_t)h->u[0], (size_t)h->u[1], &a) ||
        !gm__mul_ok(a, (size_t)h->u[2], &b) || !gm__mul_ok(b, (size_t)h->u[2], &a))
        return 0;
    return a > SIZE_MAX - h->u[1] ? 0 : a + (size_t)h->u[1];
}

const gm__layer_vt gm__conv2d_vt = {.kind = GM_LAYER_CONV2D,
                                    .name = "conv2d",
                                    .size = sizeof(gm__conv),
                                    .save_hyper = conv_save,
                                    .load = conv_load,
                                    .param_count = conv_param_count,
                                    .spectral = 1,
                                    .shape = conv_shape,
                                    .cache_floats = conv_cache,
                                    .forward = conv_forward,
                                    .backward = conv_backward,
                                    .prepare = gm__conv_dnnl_prepare,
                                    .release = gm__conv_dnnl_release,
                                    .scratch_bytes = gm__conv_dnnl_scratch_bytes,
                                    .bind_scratch = gm__conv_dnnl_bind};
const gm__layer_vt gm__conv_transpose2d_vt = {.kind = GM_LAYER_CONV_TRANSPOSE2D,
                                              .name = "conv_transpose2d",
                                              .size = sizeof(gm__conv),
                                              .save_hyper = conv_save,
                                              .load = convt_load,
                                              .param_count = conv_param_count,
                                              .spectral = 1,
                                              .shape = conv_shape,
                                              .cache_floats = conv_cache,
                                              .forward = convt_forward,
                                              .backward = convt_backward,
                                              .prepare = gm__conv_dnnl_prepare,
                                              .release = gm__conv_dnnl_release,
                                              .scratch_bytes = gm__conv_dnnl_scratch_bytes,
                                              .bind_scratch = gm__conv_dnnl_bind};

/* Shared constructor: validation, allocation, initialization. */
static gm_status gm__conv_create(gm_layer **out, const gm__layer_vt *vt, size_t in_ch,
                                 size_t out_ch, size_t kernel, size_t stride, size_t padding,
                                 gm_init init, gm_rng *rng, const char *fn)
{
#define GM__REQ(cond, ...) \
    do { if (!(cond)) return gm__set_error(GM_EINVAL, fn, __VA_ARGS__); } while (0)
    GM__REQ(out != NULL, "out must not be NULL");
    *out = NULL;
    GM__REQ(in_ch >= 1 && in_ch <= 65536, "in_channels must be in [1, 65536], got %zu", in_ch);
    GM__REQ(out_ch >= 1 && out_ch <= 65536, "out_channels must be in [1, 65536], got %zu", out_ch);
    GM__REQ(kernel >= 1 && kernel <= 64, "kernel must be in [1, 64], got %zu", kernel);
    GM__REQ(stride >= 1 && stride <= 64, "stride must be in [1, 64], got %zu", stride);
    GM__REQ(padding < kernel, "padding must be < kernel (%zu), got %zu", kernel, padding);
    size_t nw = in_ch * out_ch * kernel * kernel; /* <= 2^32 * 2^12: fits size_t */
    GM__REQ(nw <= GM__BLAS_MAX, "in_channels * out_channels * kernel^2 = %zu is too large", nw);
    GM__REQ(init >= GM_INIT_HE && init <= GM_INIT_ZEROS, "init must be a gm_init value, got %d",
            (int)init);
    GM__REQ(rng != NULL || init == GM_INIT_ZEROS, "rng must not be NULL unless init is GM_INIT_ZEROS");
#undef GM__REQ
    gm_layer *l;
    GM_TRY(gm__layer_new(&l, vt, nw + out_ch, fn));
    GM__CONV(l)->in_ch = in_ch;
    GM__CONV(l)->out_ch = out_ch;
    GM__CONV(l)->kernel = kernel;
    GM__CONV(l)->stride = stride;
    GM__CONV(l)->pad = padding;
    /* torch's fan_in: weight.size(1) * k * k */
    const int transpose = vt->kind == GM_LAYER_CONV_TRANSPOSE2D;
    const double kk = (double)(kernel * kernel);
    const double fan_in = (transpose ? out_ch : in_ch) * kk, fan_out = (transpose ? in_ch : out_ch) * kk;
    gm__init_weights(l->params, nw, out_ch, init, rng, fan_in, fan_out);
    *out = l;
    return GM_OK;
}

gm_status gm_conv2d_create(gm_layer **out, size_t in_channels, size_t out_channels,
                           size_t kernel, size_t stride, size_t padding, gm_init init,
                           gm_rng *rng)
{
    return gm__conv_create(out, &gm__conv2d_vt, in_channels, out_channels, kernel, stride,
                           padding, init, rng, __func__);
}

gm_status gm_conv_transpose2d_create(gm_layer **out, size_t in_channels, size_t out_channels,
                                     size_t kernel, size_t stride, size_t padding, gm_init init,
                                     gm_rng *rng)
{
    return gm__conv_create(out, &gm__conv_transpose2d_vt, in_channels, out_channels, kernel,
                           stride, padding, init, rng, __func__);
}
