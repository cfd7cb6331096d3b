/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the checkpoint loader, from memory
 * (gm__net_load_buffer, gm__vae_load_buffer, gm__gan_load_buffer of
 * src/io/checkpoint.h: what gm_net_load / gm_vae_load / gm_gan_load do
 * after reading the file).
 *
 * Each input is parsed as all three kinds. A load must return GM_OK or a
 * documented error naming the function, and leave no allocation behind
 * (gm_live_allocations, and LeakSanitizer). What loads is used, to reach
 * the restored state: a net runs a forward and a backward pass (training
 * mode as saved) on a small batch; a VAE or GAN samples and takes one
 * train step (restored optimizer moments and generators). Shapes are
 * taken from the loaded layers; nets whose activations would exceed
 * FUZZ_MAX_FLOATS per sample are only freed (a big but valid net is not a
 * bug, and the fuzzer's memory limit would report it).
 *
 * Seeds: tests/fuzz/corpus/checkpoint/ (tiny saved nets, VAEs and GANs:
 * tests/fuzz/make_seeds.c); dictionary: checkpoint.dict.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <genmodel/genmodel.h>

#include "engine/engine.h"
#include "engine/layer_kinds.h"
#include "io/checkpoint.h"

#include "fuzz_common.h"

/* GM_FUZZ_VERBOSE=1 in the environment: say what each input reached. */
static int g_verbose;
#define SAY(...) do { if (g_verbose) fprintf(stderr, __VA_ARGS__); } while (0)

#define FUZZ_MAX_FLOATS (1u << 15) /* per sample, per layer boundary */
#define FUZZ_BATCH 2

/* Elements of a per-sample shape, 0 if a dimension is 0 or the count
 * exceeds FUZZ_MAX_FLOATS. */
static size_t bounded_numel(size_t nd, const size_t *shape)
{
    size_t n = 1;
    for (size_t k = 0; k < nd; k++) {
        if (shape[k] == 0 || n > FUZZ_MAX_FLOATS / shape[k]) return 0;
        n *= shape[k];
    }
    return n;
}

/* Walks net's layers from the per-sample input shape (nd, in): the
 * per-sample output shape into (*ond, out) and its element count, or 0 if
 * a layer refuses its input or a boundary exceeds FUZZ_MAX_FLOATS. */
static size_t walk(const gm_net *net, size_t nd, const size_t *in, size_t *ond, size_t *out)
{
    size_t cnd = nd, cur[GM_MAX_DIMS - 1], next[GM_MAX_DIMS - 1];
    memcpy(cur, in, nd * sizeof *in);
    for (size_t i = 0; i < net->n_layers; i++) {
        if (bounded_numel(cnd, cur) == 0) return 0;
        const gm_layer *l = net->layers[i];
        size_t nnd = 0;
        if (l->vt->shape(l, "fuzz", cnd, cur, &nnd, next) != GM_OK) return 0;
        if (nnd < 1 || nnd > GM_MAX_DIMS - 1) return 0;
        cnd = nnd;
        memcpy(cur, next, cnd * sizeof *cur);
    }
    *ond = cnd;
    memcpy(out, cur, cnd * sizeof *cur);
    return bounded_numel(cnd, cur);
}

/* A per-sample input shape (rank 1 or 3) that every layer of net accepts
 * with no boundary above FUZZ_MAX_FLOATS, guessed from the first layer
 * that fixes it; with the output shape. 0 if none is found. */
static int input_shape(const gm_net *net, size_t *nd, size_t *shape, size_t *ond, size_t *out)
{
    if (net == NULL || net->n_layers == 0) return 0;
    for (size_t i = 0; i < net->n_layers; i++) {
        const gm_layer *l = net->layers[i];
        switch ((int)gm_layer_get_kind(l)) {
        case GM_LAYER_DENSE:
            *nd = 1;
            shape[0] = GM__DENSE(l)->in_features;
            return walk(net, *nd, shape, ond, out) != 0;
        case GM_LAYER_BATCHNORM: /* [F] or [F x H x W] */
            *nd = 1;
            shape[0] = GM__BN(l)->features;
            if (walk(net, *nd, shape, ond, out)) return 1;
            *nd = 3;
            for (size_t s = 1; s <= 8; s++) {
                shape[1] = shape[2] = s;
                if (walk(net, *nd, shape, ond, out)) return 1;
            }
            return 0;
        case GM_LAYER_CONV2D:
        case GM_LAYER_CONV_TRANSPOSE2D:
            *nd = 3;
            shape[0] = GM__CONV(l)->in_ch;
            for (size_t s = 1; s <= 32; s++) {
                shape[1] = shape[2] = s;
                if (walk(net, *nd, shape, ond, out)) return 1;
            }
            return 0;
        case GM_LAYER_RESHAPE: {
            const gm__reshape *r = GM__RESHAPE(l);
            *nd = 1;
            shape[0] = bounded_numel(r->rndim < GM_MAX_DIMS ? r->rndim : 0, r->rshape);
            return shape[0] != 0 && walk(net, *nd, shape, ond, out) != 0;
        }
        default: /* keeps the shape: look further */
            break;
        }
    }
    *nd = 1;
    shape[0] = 8;
    return walk(net, *nd, shape, ond, out) != 0;
}

/* A batch tensor of FUZZ_BATCH samples of the per-sample shape. */
static gm_tensor *batch_tensor(size_t nd, const size_t *shape, float value)
{
    size_t full[GM_MAX_DIMS];
    full[0] = FUZZ_BATCH;
    memcpy(full + 1, shape, nd * sizeof *shape);
    gm_tensor *t = NULL;
    if (gm_tensor_create(&t, nd + 1, full) != GM_OK) return NULL;
    gm_tensor_fill(t, value);
    return t;
}

static void use_net(gm_net *net)
{
    size_t nd, shape[GM_MAX_DIMS - 1], ond, oshape[GM_MAX_DIMS - 1];
    if (!input_shape(net, &nd, shape, &ond, oshape)) return;
    gm_tensor *x = batch_tensor(nd, shape, 0.5f);
    gm_tensor *y = batch_tensor(ond, oshape, 0.0f);
    gm_tensor *dx = x ? batch_tensor(nd, shape, 0.0f) : NULL;
    if (x && y && dx) {
        gm_status st = gm_net_forward(net, x, y);
        fuzz_check_status("gm_net_forward", st);
        SAY("  net forward: %s\n", gm_status_string(st));
        if (st == GM_OK) {
            gm_tensor_fill(y, 1.0f); /* as dy */
            fuzz_check_status("gm_net_zero_grad", gm_net_zero_grad(net));
            st = gm_net_backward(net, y, dx);
            fuzz_check_status("gm_net_backward", st);
            SAY("  net backward: %s\n", gm_status_string(st));
        }
    }
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_tensor_free(dx);
}

/* Labels 0, 1 for a conditional model (C >= 2), tried when NULL is refused. */
static const int32_t k_labels[FUZZ_BATCH] = {0, 1};

static void use_vae(gm_vae *vae)
{
    gm_net *enc = gm_vae_encoder(vae), *dec = gm_vae_decoder(vae);
    size_t end, eshape[GM_MAX_DIMS - 1], eond, eout[GM_MAX_DIMS - 1];
    size_t dnd, dshape[GM_MAX_DIMS - 1], dond, dout[GM_MAX_DIMS - 1];
    if (!input_shape(enc, &end, eshape, &eond, eout) ||
        !input_shape(dec, &dnd, dshape, &dond, dout))
        return;
    /* encoder [D + C] -> [2L], decoder [L + C] -> [D] or [2D] (learned
     * variance): C from the two, the data shape from C */
    size_t L = bounded_numel(eond, eout) / 2, dec_in = bounded_numel(dnd, dshape);
    if (dnd != 1 || dec_in < L) return;
    size_t C = dec_in - L;
    if (C != 0 && (end != 1 || eshape[0] <= C)) return;
    const int32_t *labels = C >= 2 ? k_labels : NULL;
    eshape[0] -= C;

    gm_tensor *out = batch_tensor(dond, dout, 0.0f);
    if (out) {
        gm_status st = gm_vae_sample(vae, FUZZ_BATCH, labels, out);
        if (st == GM_ESHAPE && dond == 1 && dout[0] % 2 == 0) { /* learned variance */
            gm_tensor_free(out);
            dout[0] /= 2;
            out = batch_tensor(dond, dout, 0.0f);
            st = out ? gm_vae_sample(vae, FUZZ_BATCH, labels, out) : GM_OK;
        }
        fuzz_check_status("gm_vae_sample", st);
        SAY("  vae sample: %s\n", gm_status_string(st));
    }
    gm_tensor_free(out);
    /* one train step on data in [0, 1], which fits every likelihood */
    gm_tensor *x = batch_tensor(end, eshape, 0.25f);
    if (x) {
        gm_status st = gm_vae_train_step(vae, x, labels, NULL);
        fuzz_check_status("gm_vae_train_step", st);
        SAY("  vae train step: %s\n", gm_status_string(st));
    }
    gm_tensor_free(x);
}

static void use_gan(gm_gan *gan)
{
    gm_net *g = gm_gan_generator(gan), *d = gm_gan_discriminator(gan);
    size_t gnd, gshape[GM_MAX_DIMS - 1], gond, gout[GM_MAX_DIMS - 1];
    size_t dnd, dshape[GM_MAX_DIMS - 1], dond, dout[GM_MAX_DIMS - 1];
    if (!input_shape(g, &gnd, gshape, &gond, gout) || !input_shape(d, &dnd, dshape, &dond, dout))
        return;
    gm_tensor *fake = batch_tensor(gond, gout, 0.0f);
    if (fake) {
        gm_status st = gm_gan_sample(gan, FUZZ_BATCH, NULL, fake);
        if (st == GM_EINVAL) st = gm_gan_sample(gan, FUZZ_BATCH, k_labels, fake);
        fuzz_check_status("gm_gan_sample", st);
        SAY("  gan sample: %s\n", gm_status_string(st));
        /* a train step on "real" data of G's output shape */
        gm_tensor_fill(fake, 0.25f);
        st = gm_gan_train_step(gan, fake, NULL, NULL);
        if (st == GM_EINVAL) st = gm_gan_train_step(gan, fake, k_labels, NULL);
        fuzz_check_status("gm_gan_train_step", st);
        SAY("  gan train step: %s\n", gm_status_string(st));
    }
    gm_tensor_free(fake);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *v = getenv("GM_FUZZ_VERBOSE");
    g_verbose = v != NULL && v[0] == '1';
    gm_set_num_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t live = gm_live_allocations();

    gm_net *net = (gm_net *)&live; /* must become NULL on failure */
    gm_status st = gm__net_load_buffer(&net, data, size, "gm_net_load");
    fuzz_check_status("gm_net_load", st);
    SAY("net load: %s%s%s\n", gm_status_string(st), st ? ": " : "", st ? gm_last_error() : "");
    FUZZ_ASSERT((st == GM_OK) == (net != NULL));
    if (net) use_net(net);
    gm_net_free(net);
    FUZZ_ASSERT(gm_live_allocations() == live);

    gm_vae *vae = (gm_vae *)&live;
    st = gm__vae_load_buffer(&vae, data, size, "gm_vae_load");
    fuzz_check_status("gm_vae_load", st);
    SAY("vae load: %s%s%s\n", gm_status_string(st), st ? ": " : "", st ? gm_last_error() : "");
    FUZZ_ASSERT((st == GM_OK) == (vae != NULL));
    if (vae) use_vae(vae);
    gm_vae_free(vae);
    FUZZ_ASSERT(gm_live_allocations() == live);

    gm_gan *gan = (gm_gan *)&live;
    st = gm__gan_load_buffer(&gan, data, size, "gm_gan_load");
    fuzz_check_status("gm_gan_load", st);
    SAY("gan load: %s%s%s\n", gm_status_string(st), st ? ": " : "", st ? gm_last_error() : "");
    FUZZ_ASSERT((st == GM_OK) == (gan != NULL));
    if (gan) use_gan(gan);
    gm_gan_free(gan);
    FUZZ_ASSERT(gm_live_allocations() == live);
    return 0;
}
