/* SPDX-License-Identifier: MIT */
/* Snapshots of what a train step changes besides gradients, so a step that
 * fails (non-finite loss or gradients) can leave a model exactly as it was
 * (see gm__snapshot in model.h). */
#include <string.h>

#include "model/model.h"

/* Floats and counters of one net's share of a snapshot. */
static void gm__snap_count(const gm_net *net, const gm_optimizer *opt, size_t *nf, size_t *nu)
{
    if (net == NULL) return;
    for (size_t i = 0; i < net->n_layers; i++) {
        *nf += net->layers[i]->nstate + 1; /* state, sigma */
        *nu += 2;                          /* dropout step, last mode */
    }
    if (opt != NULL) {
        *nf += net->nparams + opt->n * gm__optimizer_slots(opt);
        *nu += 1;
    }
}

gm_status gm__snapshot_init(gm__snapshot *s, gm_net *a, gm_optimizer *oa, gm_net *b,
                            gm_optimizer *ob, const char *fn)
{
    memset(s, 0, sizeof *s);
    s->net[0] = a, s->opt[0] = oa;
    s->net[1] = b, s->opt[1] = ob;
    for (int k = 0; k < 2; k++) gm__snap_count(s->net[k], s->opt[k], &s->nf, &s->nu);
    s->f = gm__malloc_array(s->nf ? s->nf : 1, sizeof *s->f);
    s->u = gm__malloc_array(s->nu ? s->nu : 1, sizeof *s->u);
    if (s->f == NULL || s->u == NULL) {
        gm__snapshot_free(s);
        return gm__set_error(GM_ENOMEM, fn, "cannot allocate a step snapshot of %zu values",
                             s->nf);
    }
    return GM_OK;
}

/* Copies between the models and the snapshot: out = 1 takes, 0 restores. */
static void gm__snap_copy(gm__snapshot *s, int out)
{
#define GM__MOVE(model, saved, n)                                                  \
    do {                                                                           \
        if ((n) > 0) {                                                             \
            if (out) memcpy((saved), (model), (n) * sizeof *(model));              \
            else memcpy((model), (saved), (n) * sizeof *(model));                  \
        }                                                                          \
    } while (0)
    float *f = s->f;
    uint64_t *u = s->u;
    for (int k = 0; k < 2; k++) {
        gm_net *net = s->net[k];
        if (net == NULL) continue;
        for (size_t i = 0; i < net->n_layers; i++) {
            gm_layer *l = net->layers[i];
            GM__MOVE(l->state, f, l->nstate);
            f += l->nstate;
            GM__MOVE(&l->sn_sigma, f, 1);
            f++;
            GM__MOVE(&l->step, u, 1);
            u++;
            uint64_t mode = (uint64_t)l->last_training;
            if (out) *u = mode;
            else l->last_training = (int)*u;
            u++;
        }
        gm_optimizer *opt = s->opt[k];
        if (opt != NULL) {
            GM__MOVE(net->params, f, net->nparams);
            f += net->nparams;
            GM__MOVE(opt->m, f, opt->n * gm__optimizer_slots(opt));
            f += opt->n * gm__optimizer_slots(opt);
            GM__MOVE(&opt->t, u, 1);
            u++;
            if (!out) gm__net_touch(net);
        }
    }
#undef GM__MOVE
}

void gm__snapshot_take(gm__snapshot *s) { gm__snap_copy(s, 1); }

void gm__snapshot_restore(gm__snapshot *s) { gm__snap_copy(s, 0); }

void gm__snapshot_free(gm__snapshot *s)
{
    gm__free(s->f);
    gm__free(s->u);
    s->f = NULL;
    s->u = NULL;
}
