/* SPDX-License-Identifier: MIT */
/* Conv2D and ConvTranspose2D on oneDNN (engine.h, "Convolution backend").
 * Per layer and batch shape: an engine and a stream, the forward,
 * backward-data and backward-weights primitives (deconvolution ones for the
 * transposed conv), the reorders between the library's NCHW tensors and
 * the layouts oneDNN picked and their buffers; all made in
 * gm__conv_dnnl_prepare, so running them allocates nothing. The buffers a
 * forward or a backward needs only while it runs (the reordered output,
 * the reordered gradients, the scratchpad) live in a scratch block that
 * the net shares among its layers (gm__conv_dnnl_scratch_bytes, _bind):
 * its layers run one at a time. What a backward reads from the forward
 * before it (the reordered input, the reordered weights) is the layer's
 * own.
 * Weights: conv2d [O x C x k x k] is oneDNN's oihw; conv_transpose2d
 * [in x out x k x k] (PyTorch's layout) is oneDNN's deconvolution weights
 * {O = out, I = in} in the iohw layout. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/layer_kinds.h"
#include "engine/par.h"

/* The test switch: read GM__CONV_IM2COL once, then gm__conv_force_im2col. */
static int gm__im2col_forced = -1;

static int gm__im2col_flag(void)
{
    if (gm__im2col_forced < 0) {
        const char *e = getenv("GM__CONV_IM2COL");
        gm__im2col_forced = e != NULL && e[0] == '1';
    }
    return gm__im2col_forced;
}

int gm__conv_force_im2col(int force)
{
    const int old = gm__im2col_flag();
    gm__im2col_forced = force != 0;
    return old;
}

#if GM_DNNL

#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

int gm__conv_dnnl_built(void) { return 1; }
int gm__conv_uses_dnnl(void) { return !gm__im2col_flag(); }

/* Layouts oneDNN may choose inside a primitive (any, with reorders at its
 * edges) or plain NCHW throughout; GM__DNNL_PLAIN=1 picks plain, for
 * measuring one against the other. */
static int gm__dnnl_plain(void)
{
    const char *e = getenv("GM__DNNL_PLAIN");
    return e != NULL && e[0] == '1';
}

/* One tensor argument of a primitive: `user` wraps the library's buffer
 * (its handle set per call), `prim` what the primitive reads or writes.
 * Without a reorder they are the same object. With one, prim is over
 * `bytes` of the layer's own buf or of the net's scratch at `off`; a port
 * may instead share another port's prim (alias) when the data there is
 * already the same tensor in the same layout. */
typedef struct {
    dnnl_memory_t user, prim;
    dnnl_primitive_t reorder; /* user -> prim for inputs, prim -> user for outputs */
    dnnl_memory_t reorder_sp;
    void *buf;
    size_t bytes, off;
    int alias, scratch;
} gm__port;

typedef struct {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    int transpose;
    size_t nw, nb; /* weight and bias element counts */
    dnnl_primitive_t fwd, bwd_d, bwd_w;
    dnnl_memory_t sp_fwd, sp_bwd_d, sp_bwd_w; /* scratchpads, all over sp */
    gm__port src, w, dst;             /* forward */
    gm__port ddst, w2, dsrc;          /* backward data */
    gm__port src2, ddst2, dw;         /* backward weights */
    dnnl_memory_t bias, dbias;
    size_t sp_bytes;                  /* the scratchpads', at the scratch's start */
    size_t scratch_bytes;             /* all the scratch this layer needs */
    float *dwb;                       /* weight then bias gradient of one backward */
} gm__dnnl_conv;

static gm_status gm__dnnl_error(dnnl_status_t s, const char *fn, const char *name,
                                const char *what)
{
    if (s == dnnl_out_of_memory)
        return gm__set_error(GM_ENOMEM, fn, "%s layer: oneDNN is out of memory (%s)", name,
                             what);
    if (s == dnnl_unimplemented)
        return gm__set_error(GM_EUNSUPPORTED, fn, "%s layer: oneDNN has no %s for this shape",
                             name, what);
    return gm__set_error(GM_EINTERNAL, fn, "%s layer: oneDNN %s failed with status %d", name,
                         what, (int)s);
}

static void gm__port_free(gm__port *p)
{
    if (!p->alias && p->prim && p->prim != p->user) dnnl_memory_destroy(p->prim);
    if (p->user) dnnl_memory_destroy(p->user);
    if (p->reorder) dnnl_primitive_destroy(p->reorder);
    if (p->reorder_sp) dnnl_memory_destroy(p->reorder_sp);
    gm__free(p->buf);
    memset(p, 0, sizeof *p);
}

void gm__conv_dnnl_release(void *state)
{
    gm__dnnl_conv *c = state;
    if (c == NULL) return;
    gm__port *ports[] = {&c->src, &c->w, &c->dst, &c->ddst, &c->w2, &c->dsrc,
                         &c->src2, &c->ddst2, &c->dw};
    for (size_t i = 0; i < sizeof ports / sizeof *ports; i++) gm__port_free(ports[i]);
    dnnl_memory_t mems[] = {c->sp_fwd, c->sp_bwd_d, c->sp_bwd_w, c->bias, c->dbias};
    for (size_t i = 0; i < sizeof mems / sizeof *mems; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    dnnl_primitive_t prims[] = {c->fwd, c->bwd_d, c->bwd_w};
    for (size_t i = 0; i < 3; i++)
        if (prims[i]) dnnl_primitive_destroy(prims[i]);
    if (c->stream) dnnl_stream_destroy(c->stream);
    if (c->eng) dnnl_engine_destroy(c->eng);
    gm__free(c->dwb);
    gm__free(c);
}

/* The scratchpad bytes a primitive desc asks for. */
static size_t gm__sp_size(const_dnnl_primitive_desc_t pd)
{
    const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    return md ? dnnl_memory_desc_get_size(md) : 0;
}

/* A port between the user layout umd and the primitive's pmd, an input
 * (user -> prim) or an output. alias: a port whose prim already holds the
 * same tensor (NULL: none). The reorder's scratchpad bytes go into *sp. */
static dnnl_status_t gm__port_make(gm__dnnl_conv *c, gm__port *p, const dnnl_memory_desc_t *umd,
                                   const dnnl_memory_desc_t *pmd, int input,
                                   const gm__port *alias, const_dnnl_primitive_attr_t attr,
                                   size_t *sp)
{
    dnnl_status_t s = dnnl_memory_create(&p->user, umd, c->eng, DNNL_MEMORY_NONE);
    if (s != dnnl_success) return s;
    if (dnnl_memory_desc_equal(umd, pmd)) {
        p->prim = p->user;
        return dnnl_success;
    }
    if (alias != NULL && alias->reorder != NULL) {
        const dnnl_memory_desc_t *amd;
        if (dnnl_memory_get_memory_desc(alias->prim, &amd) == dnnl_success &&
            dnnl_memory_desc_equal(amd, pmd)) {
            p->prim = alias->prim;
            p->alias = 1;
            return dnnl_success;
        }
    }
    p->bytes = dnnl_memory_desc_get_size(pmd); /* buffer: gm__dnnl_buffers */
    if ((s = dnnl_memory_create(&p->prim, pmd, c->eng, DNNL_MEMORY_NONE)) != dnnl_success)
        return s;
    dnnl_primitive_desc_t rpd;
    s = input ? dnnl_reorder_primitive_desc_create(&rpd, umd, c->eng, pmd, c->eng, attr)
              : dnnl_reorder_primitive_desc_create(&rpd, pmd, c->eng, umd, c->eng, attr);
    if (s != dnnl_success) return s;
    const size_t need = gm__sp_size(rpd);
    if (need > *sp) *sp = need;
    s = dnnl_primitive_create(&p->reorder, rpd);
    dnnl_primitive_desc_destroy(rpd);
    return s;
}

/* A scratchpad memory for primitive p (over the scratch's start, set by
 * gm__conv_dnnl_bind), or NULL if it needs none. */
static dnnl_status_t gm__sp_make(gm__dnnl_conv *c, dnnl_primitive_t p, dnnl_memory_t *out)
{
    *out = NULL;
    if (p == NULL) return dnnl_success;
    const_dnnl_primitive_desc_t pd;
    dnnl_status_t s = dnnl_primitive_get_primitive_desc(p, &pd);
    if (s != dnnl_success || gm__sp_size(pd) == 0) return s;
    return dnnl_memory_create(out, dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0),
                              c->eng, DNNL_MEMORY_NONE);
}

static dnnl_status_t gm__md(dnnl_memory_desc_t *md, int nd, const dnnl_dims_t dims,
                            dnnl_format_tag_t tag)
{
    return dnnl_memory_desc_init_by_tag(md, nd, dims, dnnl_f32, tag);
}

void gm__dnnl_threads(void)
{
    const int t = gm__par_threads();
    if (omp_get_max_threads() != t) omp_set_num_threads(t);
}

/* The memory descriptors of one layer and batch shape: the user's NCHW
 * (u) and each primitive's (f forward, d backward data, w backward
 * weights), for source s, destination d and weights w; bu the bias. */
typedef struct {
    dnnl_memory_desc_t su, du, wu, bu, sf, df, wf, sd, dd, wd, sw, dw, ww;
    dnnl_dims_t strides, pad;
} gm__dnnl_mds;

/* A failed oneDNN call inside a setup step: its status, and *what names it. */
#define GM__DS(call, name)                                                     \
    do {                                                                       \
        dnnl_status_t gm__s = (call);                                          \
        if (gm__s != dnnl_success) {                                           \
            *what = (name);                                                    \
            return gm__s;                                                      \
        }                                                                      \
    } while (0)

static dnnl_status_t gm__dnnl_descs(const gm__conv *cv, int tr, size_t n, const size_t *in,
                                    const size_t *out, gm__dnnl_mds *m, const char **what)
{
    const dnnl_dim_t N = (dnnl_dim_t)n, C = (dnnl_dim_t)cv->in_ch, O = (dnnl_dim_t)cv->out_ch,
                     K = (dnnl_dim_t)cv->kernel;
    const dnnl_dims_t sdims = {N, C, (dnnl_dim_t)in[1], (dnnl_dim_t)in[2]},
                      ddims = {N, O, (dnnl_dim_t)out[1], (dnnl_dim_t)out[2]},
                      wdims = {O, C, K, K}, bdims = {O};
    m->strides[0] = m->strides[1] = (dnnl_dim_t)cv->stride;
    m->pad[0] = m->pad[1] = (dnnl_dim_t)cv->pad;
    /* conv weights [O x C x k x k] are oihw; the transposed conv's
     * [in x out x k x k] are the deconvolution's {O, I} as iohw */
    const dnnl_format_tag_t wtag = tr ? dnnl_iohw : dnnl_oihw, any = dnnl_format_tag_any;
    /* Per primitive: plain NCHW (the user layout, no reorders) or the
     * blocked layouts oneDNN picks (`any`). Blocked kernels work on
     * channel blocks of 16; a primitive that writes fewer channels (the
     * DCGAN's 1-channel image: the last transposed conv's forward, the
     * first conv's backward data) pads them and ran 3-7x slower than
     * plain on AVX-512, measured with DNNL_VERBOSE=1 on bench/dcgan28. So:
     * plain for those, blocked for the rest (GM__DNNL_PLAIN=1: plain
     * everywhere, for measuring). */
    const int plain = gm__dnnl_plain();
    const int blk_f = !plain && cv->out_ch >= 16, blk_d = !plain && cv->in_ch >= 16, blk_w = !plain;
    *what = "memory descriptor";
    dnnl_status_t s = gm__md(&m->su, 4, sdims, dnnl_nchw);
    if (s == dnnl_success) s = gm__md(&m->du, 4, ddims, dnnl_nchw);
    if (s == dnnl_success) s = gm__md(&m->wu, 4, wdims, wtag);
    if (s == dnnl_success) s = gm__md(&m->bu, 1, bdims, dnnl_a);
    if (s == dnnl_success) s = gm__md(&m->sf, 4, sdims, blk_f ? any : dnnl_nchw);
    if (s == dnnl_success) s = gm__md(&m->df, 4, ddims, blk_f ? any : dnnl_nchw);
    if (s == dnnl_success) s = gm__md(&m->wf, 4, wdims, blk_f ? any : wtag);
    if (s == dnnl_success) s = gm__md(&m->sd, 4, sdims, blk_d ? any : dnnl_nchw);
    if (s == dnnl_success) s = gm__md(&m->dd, 4, ddims, blk_d ? any : dnnl_nchw);
    if (s == dnnl_success) s = gm__md(&m->wd, 4, wdims, blk_d ? any : wtag);
    if (s == dnnl_success) s = gm__md(&m->sw, 4, sdims, blk_w ? any : dnnl_nchw);
    if (s == dnnl_success) s = gm__md(&m->dw, 4, ddims, blk_w ? any : dnnl_nchw);
    if (s == dnnl_success) s = gm__md(&m->ww, 4, wdims, blk_w ? any : wtag);
    return s;
}

/* The forward, backward-data and backward-weights primitive descs:
 * deconvolution ones for the transposed conv. */
static dnnl_status_t gm__dnnl_pds(gm__dnnl_conv *c, const gm__dnnl_mds *m,
                                  const_dnnl_primitive_attr_t attr, dnnl_primitive_desc_t pd[3],
                                  const char **what)
{
    if (c->transpose) {
        dnnl_deconvolution_desc_t f, d, w;
        GM__DS(dnnl_deconvolution_forward_desc_init(&f, dnnl_forward_training,
                                                    dnnl_deconvolution_direct, &m->sf, &m->wf,
                                                    &m->bu, &m->df, m->strides, m->pad, m->pad),
               "deconvolution");
        GM__DS(dnnl_primitive_desc_create(&pd[0], &f, attr, c->eng, NULL), "deconvolution forward");
        GM__DS(dnnl_deconvolution_backward_data_desc_init(&d, dnnl_deconvolution_direct, &m->sd,
                                                          &m->wd, &m->dd, m->strides, m->pad,
                                                          m->pad),
               "deconvolution");
        GM__DS(dnnl_primitive_desc_create(&pd[1], &d, attr, c->eng, pd[0]),
               "deconvolution backward data");
        GM__DS(dnnl_deconvolution_backward_weights_desc_init(&w, dnnl_deconvolution_direct, &m->sw,
                                                             &m->ww, &m->bu, &m->dw, m->strides,
                                                             m->pad, m->pad),
               "deconvolution");
        GM__DS(dnnl_primitive_desc_create(&pd[2], &w, attr, c->eng, pd[0]),
               "deconvolution backward weights");
        return dnnl_success;
    }
    dnnl_convolution_desc_t f, d, w;
    GM__DS(dnnl_convolution_forward_desc_init(&f, dnnl_forward_training, dnnl_convolution_direct,
                                              &m->sf, &m->wf, &m->bu, &m->df, m->strides, m->pad,
                                              m->pad),
           "convolution");
    GM__DS(dnnl_primitive_desc_create(&pd[0], &f, attr, c->eng, NULL), "convolution forward");
    GM__DS(dnnl_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &m->sd, &m->wd,
                                                    &m->dd, m->strides, m->pad, m->pad),
           "convolution");
    GM__DS(dnnl_primitive_desc_create(&pd[1], &d, attr, c->eng, pd[0]), "convolution backward data");
    GM__DS(dnnl_convolution_backward_weights_desc_init(&w, dnnl_convolution_direct, &m->sw, &m->ww,
                                                       &m->bu, &m->dw, m->strides, m->pad, m->pad),
           "convolution");
    GM__DS(dnnl_primitive_desc_create(&pd[2], &w, attr, c->eng, pd[0]),
           "convolution backward weights");
    return dnnl_success;
}

/* The ports between the user's layouts and the primitives'; *sp grows to
 * the largest scratchpad any primitive or reorder asks for. */
static dnnl_status_t gm__dnnl_ports(gm__dnnl_conv *c, const gm__dnnl_mds *m,
                                    dnnl_primitive_desc_t pd[3], const_dnnl_primitive_attr_t attr,
                                    size_t *sp, const char **what)
{
    for (int i = 0; i < 3; i++)
        if (gm__sp_size(pd[i]) > *sp) *sp = gm__sp_size(pd[i]);
#define GM__Q(k, q) dnnl_primitive_desc_query_md(pd[k], q, 0)
    GM__DS(gm__port_make(c, &c->src, &m->su, GM__Q(0, dnnl_query_src_md), 1, NULL, attr, sp), "reorder");
    GM__DS(gm__port_make(c, &c->w, &m->wu, GM__Q(0, dnnl_query_weights_md), 1, NULL, attr, sp), "reorder");
    GM__DS(gm__port_make(c, &c->dst, &m->du, GM__Q(0, dnnl_query_dst_md), 0, NULL, attr, sp), "reorder");
    GM__DS(gm__port_make(c, &c->ddst, &m->du, GM__Q(1, dnnl_query_diff_dst_md), 1, NULL, attr, sp), "reorder");
    GM__DS(gm__port_make(c, &c->w2, &m->wu, GM__Q(1, dnnl_query_weights_md), 1, &c->w, attr, sp), "reorder");
    GM__DS(gm__port_make(c, &c->dsrc, &m->su, GM__Q(1, dnnl_query_diff_src_md), 0, NULL, attr, sp), "reorder");
    GM__DS(gm__port_make(c, &c->src2, &m->su, GM__Q(2, dnnl_query_src_md), 1, &c->src, attr, sp), "reorder");
    GM__DS(gm__port_make(c, &c->ddst2, &m->du, GM__Q(2, dnnl_query_diff_dst_md), 1, &c->ddst, attr, sp), "reorder");
    GM__DS(gm__port_make(c, &c->dw, &m->wu, GM__Q(2, dnnl_query_diff_weights_md), 0, NULL, attr, sp), "reorder");
#undef GM__Q
    return dnnl_success;
}

/* 64-byte steps for the offsets in the scratch. */
static size_t gm__al64(size_t b) { return (b + 63) & ~(size_t)63; }

/* Where each reordered tensor lives. Own buffers: the forward's input
 * when the backward-weights primitive reads it from there (src2 is an
 * alias), and the weights (small). In the scratch, after the
 * scratchpads: the forward's other buffers side by side, and the
 * backward's side by side over the same bytes. */
static dnnl_status_t gm__dnnl_buffers(gm__dnnl_conv *c, const char **what)
{
    gm__port *fwd[] = {&c->src, &c->dst}, *bwd[] = {&c->ddst, &c->dsrc, &c->src2, &c->ddst2},
             *own[] = {&c->w, &c->w2, &c->dw, c->src2.alias ? &c->src : NULL};
    *what = "memory";
    for (size_t i = 0; i < sizeof own / sizeof *own; i++) {
        gm__port *p = own[i];
        if (p == NULL || p->alias || p->bytes == 0) continue;
        p->buf = gm__malloc(p->bytes);
        if (p->buf == NULL) return dnnl_out_of_memory;
        const dnnl_status_t s = dnnl_memory_set_data_handle(p->prim, p->buf);
        if (s != dnnl_success) return s;
    }
    const size_t base = gm__al64(c->sp_bytes);
    size_t f = base, b = base;
    for (size_t i = 0; i < sizeof fwd / sizeof *fwd; i++)
        if (fwd[i]->bytes && !fwd[i]->alias && fwd[i]->buf == NULL) {
            fwd[i]->scratch = 1;
            fwd[i]->off = f;
            f += gm__al64(fwd[i]->bytes);
        }
    for (size_t i = 0; i < sizeof bwd / sizeof *bwd; i++)
        if (bwd[i]->bytes && !bwd[i]->alias) {
            bwd[i]->scratch = 1;
            bwd[i]->off = b;
            b += gm__al64(bwd[i]->bytes);
        }
    c->scratch_bytes = f > b ? f : b;
    return dnnl_success;
}

/* The primitives, the bias memories and the scratchpad memories (over
 * the scratch, bound later). */
static dnnl_status_t gm__dnnl_prims(gm__dnnl_conv *c, const gm__dnnl_mds *m,
                                    dnnl_primitive_desc_t pd[3], const char **what)
{
    GM__DS(dnnl_primitive_create(&c->fwd, pd[0]), "forward primitive");
    GM__DS(dnnl_primitive_create(&c->bwd_d, pd[1]), "backward data primitive");
    GM__DS(dnnl_primitive_create(&c->bwd_w, pd[2]), "backward weights primitive");
    GM__DS(dnnl_memory_create(&c->bias, &m->bu, c->eng, DNNL_MEMORY_NONE), "memory");
    GM__DS(dnnl_memory_create(&c->dbias, &m->bu, c->eng, c->dwb + c->nw), "memory");
    GM__DS(gm__sp_make(c, c->fwd, &c->sp_fwd), "scratchpad");
    GM__DS(gm__sp_make(c, c->bwd_d, &c->sp_bwd_d), "scratchpad");
    GM__DS(gm__sp_make(c, c->bwd_w, &c->sp_bwd_w), "scratchpad");
    gm__port *ports[] = {&c->src, &c->w, &c->dst, &c->ddst, &c->w2, &c->dsrc,
                         &c->src2, &c->ddst2, &c->dw};
    for (size_t i = 0; i < sizeof ports / sizeof *ports; i++)
        GM__DS(gm__sp_make(c, ports[i]->reorder, &ports[i]->reorder_sp), "scratchpad");
    return dnnl_success;
}
#undef GM__DS

/* The engine, stream and primitives of one layer for its batch shape,
 * through the steps above; every buffer a run needs is allocated here. */
static gm_status gm__dnnl_setup(gm__dnnl_conv *c, const gm_layer *l, const char *fn, size_t n,
                                const size_t *in, const size_t *out)
{
    const gm__conv *cv = GM__CONV(l);
    c->transpose = l->vt->kind == GM_LAYER_CONV_TRANSPOSE2D;
    c->nw = cv->in_ch * cv->out_ch * cv->kernel * cv->kernel;
    c->nb = cv->out_ch;
    gm__dnnl_mds m;
    dnnl_primitive_desc_t pd[3] = {NULL, NULL, NULL};
    dnnl_primitive_attr_t attr = NULL;
    const char *what = "engine";
    size_t sp = 0;
    dnnl_status_t s = gm__dnnl_descs(cv, c->transpose, n, in, out, &m, &what);
    if (s == dnnl_success && (s = dnnl_engine_create(&c->eng, dnnl_cpu, 0)) != dnnl_success)
        what = "engine";
    if (s == dnnl_success &&
        (s = dnnl_stream_create(&c->stream, c->eng, dnnl_stream_default_flags)) != dnnl_success)
        what = "stream";
    if (s == dnnl_success && ((s = dnnl_primitive_attr_create(&attr)) != dnnl_success ||
                              (s = dnnl_primitive_attr_set_scratchpad_mode(
                                   attr, dnnl_scratchpad_mode_user)) != dnnl_success))
        what = "attributes";
    if (s == dnnl_success) s = gm__dnnl_pds(c, &m, attr, pd, &what);
    if (s == dnnl_success) s = gm__dnnl_ports(c, &m, pd, attr, &sp, &what);
    gm_status st = GM_OK;
    c->sp_bytes = sp;
    if (s == dnnl_success) s = gm__dnnl_buffers(c, &what);
    if (s == dnnl_success) {
        c->dwb = gm__malloc_array(c->nw + c->nb, sizeof(float));
        if (c->dwb == NULL)
            st = gm__set_error(GM_ENOMEM, fn, "%s layer: cannot allocate its weight gradient",
                               l->vt->name);
        else
            s = gm__dnnl_prims(c, &m, pd, &what);
    }
    if (st == GM_OK && s != dnnl_success) st = gm__dnnl_error(s, fn, l->vt->name, what);
    for (int i = 0; i < 3; i++)
        if (pd[i]) dnnl_primitive_desc_destroy(pd[i]);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}

gm_status gm__conv_dnnl_prepare(const gm_layer *l, const char *fn, size_t n, size_t in_nd,
                                const size_t *in, void **state)
{
    *state = NULL;
    if (!gm__conv_uses_dnnl()) return GM_OK;
    size_t out_nd, out[GM_MAX_DIMS - 1];
    GM_TRY(l->vt->shape(l, fn, in_nd, in, &out_nd, out));
    gm__dnnl_threads(); /* the primitives split their work for this count */
    gm__dnnl_conv *c = gm__malloc(sizeof *c);
    if (c == NULL)
        return gm__set_error(GM_ENOMEM, fn, "%s layer: cannot allocate its oneDNN state",
                             l->vt->name);
    memset(c, 0, sizeof *c);
    gm_status st = gm__dnnl_setup(c, l, fn, n, in, out);
    if (st != GM_OK) {
        gm__conv_dnnl_release(c);
        return st;
    }
    *state = c;
    return GM_OK;
}

size_t gm__conv_dnnl_scratch_bytes(const void *state)
{
    return ((const gm__dnnl_conv *)state)->scratch_bytes;
}

gm_status gm__conv_dnnl_bind(const gm_layer *l, void *state, void *scratch, const char *fn)
{
    gm__dnnl_conv *c = state;
    char *base = scratch;
    gm__port *ports[] = {&c->src, &c->w, &c->dst, &c->ddst, &c->w2, &c->dsrc,
                         &c->src2, &c->ddst2, &c->dw};
    dnnl_status_t s = dnnl_success;
    for (size_t i = 0; i < sizeof ports / sizeof *ports && s == dnnl_success; i++) {
        if (ports[i]->scratch) s = dnnl_memory_set_data_handle(ports[i]->prim, base + ports[i]->off);
        if (s == dnnl_success && ports[i]->reorder_sp)
            s = dnnl_memory_set_data_handle(ports[i]->reorder_sp, base);
    }
    dnnl_memory_t sps[] = {c->sp_fwd, c->sp_bwd_d, c->sp_bwd_w};
    for (size_t i = 0; i < 3 && s == dnnl_success; i++)
        if (sps[i]) s = dnnl_memory_set_data_handle(sps[i], base);
    return s == dnnl_success ? GM_OK : gm__dnnl_error(s, fn, l->vt->name, "scratch binding");
}

/* ---- running ---------------------------------------------------------- */

static void gm__run(gm_layer *l, gm__dnnl_conv *c, dnnl_primitive_t p, int nargs,
                    const dnnl_exec_arg_t *args)
{
    if (l->accel_status != 0) return;
    dnnl_status_t s = dnnl_primitive_execute(p, c->stream, nargs, args);
    if (s == dnnl_success) s = dnnl_stream_wait(c->stream);
    if (s != dnnl_success) l->accel_status = (int)s;
}

static void gm__set_handle(gm_layer *l, dnnl_memory_t m, const void *ptr)
{
    dnnl_status_t s = dnnl_memory_set_data_handle(m, (void *)(uintptr_t)ptr);
    if (s != dnnl_success && l->accel_status == 0) l->accel_status = (int)s;
}

/* Input port: its prim holds the tensor at ptr afterwards. */
static void gm__port_in(gm_layer *l, gm__dnnl_conv *c, gm__port *p, const void *ptr)
{
    if (p->alias) return;
    gm__set_handle(l, p->user, ptr);
    if (p->reorder) {
        dnnl_exec_arg_t a[3] = {{DNNL_ARG_FROM, p->user}, {DNNL_ARG_TO, p->prim},
                                {DNNL_ARG_SCRATCHPAD, p->reorder_sp}};
        gm__run(l, c, p->reorder, p->reorder_sp ? 3 : 2, a);
    }
}

/* Output port: before the primitive, point it at ptr; after, copy out. */
static void gm__port_out_begin(gm_layer *l, gm__port *p, void *ptr) { gm__set_handle(l, p->user, ptr); }

static void gm__port_out_end(gm_layer *l, gm__dnnl_conv *c, gm__port *p)
{
    if (p->reorder) {
        dnnl_exec_arg_t a[3] = {{DNNL_ARG_FROM, p->prim}, {DNNL_ARG_TO, p->user},
                                {DNNL_ARG_SCRATCHPAD, p->reorder_sp}};
        gm__run(l, c, p->reorder, p->reorder_sp ? 3 : 2, a);
    }
}

void gm__conv_dnnl_forward(gm_layer *l, float *y, const float *x, const float *W,
                           const float *b)
{
    gm__dnnl_conv *c = l->accel;
    gm__dnnl_threads();
    gm__port_in(l, c, &c->src, x);
    gm__port_in(l, c, &c->w, W);
    gm__set_handle(l, c->bias, b);
    gm__port_out_begin(l, &c->dst, y);
    dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, c->src.prim}, {DNNL_ARG_WEIGHTS, c->w.prim},
                            {DNNL_ARG_BIAS, c->bias}, {DNNL_ARG_DST, c->dst.prim},
                            {DNNL_ARG_SCRATCHPAD, c->sp_fwd}};
    gm__run(l, c, c->fwd, c->sp_fwd ? 5 : 4, a);
    gm__port_out_end(l, c, &c->dst);
}

void gm__conv_dnnl_backward(gm_layer *l, float *dx, const float *dy, const float *x,
                            const float *W, float *dW, float *db)
{
    gm__dnnl_conv *c = l->accel;
    gm__dnnl_threads();
    if (dx || c->ddst2.alias) gm__port_in(l, c, &c->ddst, dy);
    if (dW) {
        gm__port_in(l, c, &c->src2, x);
        gm__port_in(l, c, &c->ddst2, dy);
        gm__port_out_begin(l, &c->dw, c->dwb);
        dnnl_exec_arg_t a[5] = {{DNNL_ARG_SRC, c->src2.prim}, {DNNL_ARG_DIFF_DST, c->ddst2.prim},
                                {DNNL_ARG_DIFF_WEIGHTS, c->dw.prim},
                                {DNNL_ARG_DIFF_BIAS, c->dbias},
                                {DNNL_ARG_SCRATCHPAD, c->sp_bwd_w}};
        gm__run(l, c, c->bwd_w, c->sp_bwd_w ? 5 : 4, a);
        gm__port_out_end(l, c, &c->dw);
        if (l->accel_status == 0) {
            for (size_t i = 0; i < c->nw; i++) dW[i] += c->dwb[i];
            for (size_t i = 0; i < c->nb; i++) db[i] += c->dwb[c->nw + i];
        }
    }
    if (dx) {
        gm__port_in(l, c, &c->w2, W);
        gm__port_out_begin(l, &c->dsrc, dx);
        dnnl_exec_arg_t a[4] = {{DNNL_ARG_DIFF_DST, c->ddst.prim}, {DNNL_ARG_WEIGHTS, c->w2.prim},
                                {DNNL_ARG_DIFF_SRC, c->dsrc.prim},
                                {DNNL_ARG_SCRATCHPAD, c->sp_bwd_d}};
        gm__run(l, c, c->bwd_d, c->sp_bwd_d ? 4 : 3, a);
        gm__port_out_end(l, c, &c->dsrc);
    }
}

gm_status gm__layer_accel_error(gm_layer *l, const char *fn)
{
    if (l->accel_status == 0) return GM_OK;
    const dnnl_status_t s = (dnnl_status_t)l->accel_status;
    l->accel_status = 0;
    return gm__dnnl_error(s, fn, l->vt->name, "execution");
}

#endif /* GM_DNNL; the build without oneDNN: conv_nodnnl.c */

