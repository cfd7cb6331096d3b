/* SPDX-License-Identifier: MIT */
/* Losses with their gradients; accumulation in double. */
#include <math.h>

#include "engine/engine.h"

/* Shared argument checks; *scale receives the reduction's factor. */
static gm_status gm__loss_check(const char *fn, const gm_tensor *pred,
                                const gm_tensor *target, gm_reduction red,
                                const float *loss, const gm_tensor *grad,
                                double *scale)
{
    if (pred == NULL) return gm__set_error(GM_EINVAL, fn, "prediction must not be NULL");
    if (loss == NULL) return gm__set_error(GM_EINVAL, fn, "loss must not be NULL");
    if (target != NULL && !gm__same_shape(pred, target))
        return gm__set_error(GM_ESHAPE, fn,
                             "target must have the prediction's shape (%zu elements, got %zu)",
                             pred->numel, target->numel);
    if (grad != NULL && !gm__same_shape(pred, grad))
        return gm__set_error(GM_ESHAPE, fn,
                             "grad must have the prediction's shape (%zu elements, got %zu)",
                             pred->numel, grad->numel);
    switch (red) {
    case GM_REDUCE_BATCH_MEAN: *scale = 1.0 / (double)pred->shape[0]; break;
    case GM_REDUCE_MEAN: *scale = 1.0 / (double)pred->numel; break;
    case GM_REDUCE_SUM: *scale = 1.0; break;
    default:
        return gm__set_error(GM_EINVAL, fn, "reduction must be a gm_reduction, got %d",
                             (int)red);
    }
    GM_TRY(gm__check_all_finite(fn, "prediction", pred->data, pred->numel));
    if (target != NULL) GM_TRY(gm__check_all_finite(fn, "target", target->data, target->numel));
    return GM_OK;
}

gm_status gm_loss_mse(const gm_tensor *pred, const gm_tensor *target,
                      gm_reduction reduction, float *loss, gm_tensor *grad)
{
    double scale;
    GM_CHECK_NULL(target);
    GM_TRY(gm__loss_check(__func__, pred, target, reduction, loss, grad, &scale));
    const float *p = pred->data, *t = target->data;
    double s = 0.0;
    for (size_t i = 0; i < pred->numel; i++) {
        double d = (double)p[i] - t[i];
        s += d * d;
    }
    if (grad) {
        const float g = (float)(2.0 * scale);
        for (size_t i = 0; i < pred->numel; i++) grad->data[i] = g * (p[i] - t[i]);
    }
    *loss = (float)(s * scale);
    return GM_OK;
}

gm_status gm_loss_bce_logits(const gm_tensor *logits, const gm_tensor *target,
                             gm_reduction reduction, float *loss,
                             gm_tensor *grad)
{
    double scale;
    GM_CHECK_NULL(target);
    GM_TRY(gm__loss_check(__func__, logits, target, reduction, loss, grad, &scale));
    const float *z = logits->data, *t = target->data;
    for (size_t i = 0; i < logits->numel; i++)
        GM_CHECK(t[i] >= 0.0f && t[i] <= 1.0f, GM_EINVAL,
                 "target[%zu] must be in [0, 1], got %g", i, (double)t[i]);
    double s = 0.0;
    for (size_t i = 0; i < logits->numel; i++) {
        /* max(z, 0) - z t + log(1 + exp(-|z|)) */
        double zi = z[i];
        s += (zi > 0.0 ? zi : 0.0) - zi * t[i] + log1p(exp(-fabs(zi)));
    }
    if (grad) {
        const float g = (float)scale;
        for (size_t i = 0; i < logits->numel; i++)
            grad->data[i] = g * (gm__sigmoidf(z[i]) - t[i]);
    }
    *loss = (float)(s * scale);
    return GM_OK;
}

gm_status gm_loss_softmax_xent(const gm_tensor *logits, const int32_t *labels,
                               size_t n_labels, gm_reduction reduction,
                               float *loss, gm_tensor *grad, size_t *correct)
{
    double scale;
    GM_CHECK_NULL(labels);
    GM_TRY(gm__loss_check(__func__, logits, NULL, reduction, loss, grad, &scale));
    const size_t N = logits->shape[0], C = logits->numel / N;
    GM_CHECK(n_labels == N, GM_ESHAPE,
             "n_labels must equal the batch size %zu, got %zu", N, n_labels);
    for (size_t i = 0; i < N; i++)
        GM_CHECK(labels[i] >= 0 && (size_t)labels[i] < C, GM_EINVAL,
                 "labels[%zu] must be in [0, %zu), got %d", i, C, (int)labels[i]);
    if (reduction != GM_REDUCE_SUM) scale = 1.0 / (double)N;
    double s = 0.0;
    size_t hits = 0;
    for (size_t i = 0; i < N; i++) {
        const float *z = logits->data + i * C;
        size_t arg = 0;
        for (size_t c = 1; c < C; c++)
            if (z[c] > z[arg]) arg = c;
        double m = z[arg], sum = 0.0;
        for (size_t c = 0; c < C; c++) sum += exp((double)z[c] - m);
        double lse = m + log(sum);
        s += lse - z[labels[i]];
        hits += arg == (size_t)labels[i];
        if (grad) {
            float *g = grad->data + i * C;
            for (size_t c = 0; c < C; c++)
                g[c] = (float)(scale * (exp((double)z[c] - lse) -
                                        (c == (size_t)labels[i])));
        }
    }
    if (correct) *correct = hits;
    *loss = (float)(s * scale);
    return GM_OK;
}
