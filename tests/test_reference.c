/* SPDX-License-Identifier: MIT */
/*
 * A property suite: it checks one property across modules. Each module's
 * other tests live in (tests/):
 *   core    test_core.c (errors, generator, allocator, tensors), test_abi_compat.c
 *   engine  test_engine.c, test_engine_layer_state.c, test_train.c, test_fit.c
 *           (the fit loop), test_api_names.c (new names)
 *   vae     test_vae.c, test_vae_mnist.c
 *   gan     test_gan.c, test_gan_loss.c
 *   io      test_checkpoint.c, test_png.c, test_folder.c, test_coverage_gaps.c
 *   eval    test_eval.c
 *   interp  test_interp.c
 *   all     test_badinput.c, test_gradcheck.c, test_reference.c,
 *           test_threads.c, test_reliability.c (the property suites)
 */
/*
 * Reference test: the numbers of a small fixed network, of the losses and
 * of short optimizer trajectories equal PyTorch's.
 *
 * The fixtures tests/data/reference_{net,loss,optim}.txt are written by
 * tests/reference/make_reference.py (torch, run once, committed as data):
 * inputs are float32 values, results are computed in float64 from them, so
 * a difference here is the library's own float32 rounding (or a bug).
 * Each comparison prints its max abs / rel difference (as llm.c's
 * check_tensor does) and fails on |got - ref| > atol + rtol |ref|.
 */
#include "engine/engine.h" /* layer state: spectral norm u, v; running statistics */
#include "gm_test.h"

#include <errno.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>

/* Tolerances |got - ref| <= ATOL + RTOL |ref|: forward, backward and
 * losses; optimizer trajectories. The values are O(1e-3 .. 1e2) and a
 * float32 implementation lands within ~1e-8 absolute of the float64
 * reference where rtol alone is too strict (sums that cancel), so
 * atol = 1e-7 keeps a 10x margin without hiding small-gradient errors. */
#define NET_ATOL 1e-7
#define NET_RTOL 1e-5
#define OPT_ATOL 1e-7
#define OPT_RTOL 1e-5
/* The conv net's batchnorm divides by batch standard deviations of ~0.3
 * and its sums run over hundreds of terms, so float32 rounding reaches
 * ~2e-7 absolute there (observed; either GEMM blocking): atol 1e-6. */
#define CONV_ATOL 1e-6
#define CONV_RTOL 1e-5

#define FX_MAGIC "genmodel-reference 1"
#define FX_NAME_MAX 64
#define FX_MAX_COUNT ((size_t)1 << 20)

/* Number of optimizer runs in reference_optim.txt (checked against it). */
#define OPT_RUNS 9

/* ------------------------------------------------------------------------
 * Fixture parser: "<magic>\n" then records "<name> <ndim> <dims...>"
 * followed by prod(dims) numbers; '#' comments run to the end of a line.
 */
typedef struct fx_rec {
    char name[FX_NAME_MAX];
    size_t ndim;
    size_t shape[GM_MAX_DIMS];
    size_t n;
    double *d; /* values as written (float64 reference) */
    float *f;  /* the same rounded to float32 */
} fx_rec;

typedef struct fx_file {
    char path[512];
    fx_rec *recs;
    size_t nrecs;
} fx_file;

typedef struct fx_lex {
    const char *p;
    size_t line;
    char tok[128];
} fx_lex;

static void fx_free(fx_file *f)
{
    for (size_t i = 0; i < f->nrecs; i++) {
        free(f->recs[i].d);
        free(f->recs[i].f);
    }
    free(f->recs);
    f->recs = NULL;
    f->nrecs = 0;
}

/* Next whitespace-separated token into lx->tok; 0 at end of input,
 * -1 if the token is too long. */
static int fx_next(fx_lex *lx)
{
    for (;;) {
        while (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\r' ||
               *lx->p == '\n') {
            if (*lx->p == '\n') lx->line++;
            lx->p++;
        }
        if (*lx->p != '#') break;
        while (*lx->p && *lx->p != '\n') lx->p++;
    }
    if (!*lx->p) return 0;
    size_t k = 0;
    while (*lx->p && *lx->p != ' ' && *lx->p != '\t' && *lx->p != '\r' &&
           *lx->p != '\n' && *lx->p != '#') {
        if (k + 1 >= sizeof lx->tok) return -1;
        lx->tok[k++] = *lx->p++;
    }
    lx->tok[k] = '\0';
    return 1;
}

static int fx_parse_size(const char *tok, size_t lo, size_t hi, size_t *out)
{
    if (tok[0] < '0' || tok[0] > '9') return 0;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(tok, &end, 10);
    if (errno || *end || v < lo || v > hi) return 0;
    *out = (size_t)v;
    return 1;
}

static int fx_valid_name(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))) return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '.'))
            return 0;
    return 1;
}

#define FX_FAIL(...)                                                        \
    do {                                                                    \
        snprintf(err, errlen, __VA_ARGS__);                                 \
        fx_free(f);                                                         \
        return 0;                                                           \
    } while (0)

/* Parses `text` (from `path`, for messages) into *f. Returns 1, or 0 with
 * a message "path:line: ..." in err and *f empty. */
static int fx_parse(fx_file *f, const char *path, const char *text,
                    char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s", path);
    size_t ml = strlen(FX_MAGIC);
    if (strncmp(text, FX_MAGIC, ml) != 0 ||
        (text[ml] != '\n' && text[ml] != '\r'))
        FX_FAIL("%s:1: first line is not \"%s\"", path, FX_MAGIC);
    fx_lex lx = { text + ml, 1, { 0 } };
    size_t cap = 0;
    int r;
    while ((r = fx_next(&lx)) != 0) {
        if (r < 0) FX_FAIL("%s:%zu: token too long", path, lx.line);
        if (strlen(lx.tok) >= FX_NAME_MAX || !fx_valid_name(lx.tok))
            FX_FAIL("%s:%zu: expected a record name, got '%s'", path,
                    lx.line, lx.tok);
        for (size_t i = 0; i < f->nrecs; i++)
            if (strcmp(f->recs[i].name, lx.tok) == 0)
                FX_FAIL("%s:%zu: duplicate record '%s'", path, lx.line,
                        lx.tok);
        if (f->nrecs == cap) {
            size_t nc = cap ? 2 * cap : 16;
            fx_rec *nr = realloc(f->recs, nc * sizeof *nr);
            if (!nr) FX_FAIL("%s: out of memory", path);
            f->recs = nr;
            cap = nc;
        }
        fx_rec *rec = &f->recs[f->nrecs++];
        memset(rec, 0, sizeof *rec);
        size_t rec_line = lx.line;
        /* length checked above (< FX_NAME_MAX); memcpy, not snprintf, whose
         * -Wformat-truncation cannot see that check at -O0 */
        memcpy(rec->name, lx.tok, strlen(lx.tok) + 1);
        if (fx_next(&lx) != 1 ||
            !fx_parse_size(lx.tok, 1, GM_MAX_DIMS, &rec->ndim))
            FX_FAIL("%s:%zu: record '%s': bad or missing ndim", path,
                    lx.line, rec->name);
        rec->n = 1;
        for (size_t i = 0; i < rec->ndim; i++) {
            if (fx_next(&lx) != 1 ||
                !fx_parse_size(lx.tok, 1, FX_MAX_COUNT, &rec->shape[i]))
                FX_FAIL("%s:%zu: record '%s': bad or missing dim %zu", path,
                        lx.line, rec->name, i);
            rec->n *= rec->shape[i];
            if (rec->n > FX_MAX_COUNT)
                FX_FAIL("%s:%zu: record '%s': too many values", path,
                        lx.line, rec->name);
        }
        rec->d = malloc(rec->n * sizeof *rec->d);
        rec->f = malloc(rec->n * sizeof *rec->f);
        if (!rec->d || !rec->f) FX_FAIL("%s: out of memory", path);
        for (size_t i = 0; i < rec->n; i++) {
            r = fx_next(&lx);
            if (r == 0)
                FX_FAIL("%s:%zu: record '%s': end of file after %zu of %zu "
                        "values", path, rec_line, rec->name, i, rec->n);
            char *end;
            double v = r > 0 ? strtod(lx.tok, &end) : 0.0;
            if (r < 0 || end == lx.tok || *end || !(fabs(v) <= FLT_MAX))
                FX_FAIL("%s:%zu: record '%s': value %zu is not a finite "
                        "number: '%s'", path, lx.line, rec->name, i,
                        r < 0 ? "(too long)" : lx.tok);
            rec->d[i] = v;
            rec->f[i] = (float)v;
        }
    }
    return 1;
}

static char *fx_read_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    while (buf) {
        if (len + 1 >= cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) { free(buf); buf = NULL; break; }
            buf = nb;
        }
        size_t k = fread(buf + len, 1, cap - len - 1, fp);
        len += k;
        if (k == 0) break;
    }
    if (buf && ferror(fp)) { free(buf); buf = NULL; }
    fclose(fp);
    if (buf) buf[len] = '\0';
    return buf;
}

/* Loads tests/data/<name> or fails the test with the parse error. */
static void fx_load(fx_file *f, const char *name)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s", GM_TEST_DATA_DIR, name);
    char *text = fx_read_file(path);
    ck_assert_msg(text != NULL, "cannot read fixture %s: %s", path,
                  strerror(errno));
    int ok = fx_parse(f, path, text, err, sizeof err);
    free(text);
    ck_assert_msg(ok, "fixture parse error: %s (regenerate with "
                  "tests/reference/make_reference.py)", err);
}

static const fx_rec *fx_get(const fx_file *f, const char *name)
{
    for (size_t i = 0; i < f->nrecs; i++)
        if (strcmp(f->recs[i].name, name) == 0) return &f->recs[i];
    ck_abort_msg("%s: missing record '%s'", f->path, name);
    return NULL;
}

/* The record `name`, which must hold exactly n values. */
static const fx_rec *fx_get_n(const fx_file *f, const char *name, size_t n)
{
    const fx_rec *r = fx_get(f, name);
    ck_assert_msg(r->n == n, "%s: record '%s' has %zu values, expected %zu",
                  f->path, name, r->n, n);
    return r;
}

/* The record named by fmt with `a` (e.g. "%s.x", "netA"). */
static const fx_rec *fx_getf(const fx_file *f, const char *fmt,
                             const char *a)
{
    char name[FX_NAME_MAX + 96];
    snprintf(name, sizeof name, fmt, a);
    return fx_get(f, name);
}

/* Same, and it must hold exactly n values. */
static const fx_rec *fx_getf_n(const fx_file *f, const char *fmt,
                               const char *a, size_t n)
{
    char name[FX_NAME_MAX + 96];
    snprintf(name, sizeof name, fmt, a);
    return fx_get_n(f, name, n);
}

/* An integer stored in a record. */
static long fx_int(const fx_rec *r, size_t i)
{
    ck_assert_msg(i < r->n, "record '%s': index %zu out of range", r->name,
                  i);
    double v = r->d[i];
    ck_assert_msg(v == floor(v) && fabs(v) < 1e9,
                  "record '%s'[%zu] = %.17g is not an integer", r->name, i,
                  v);
    return (long)v;
}

static gm_tensor *fx_tensor(const fx_rec *r)
{
    gm_tensor *t = NULL;
    GM_CK_OK(gm_tensor_from_data(&t, r->ndim, r->shape, r->f));
    return t;
}

/* ------------------------------------------------------------------------
 * Comparison: prints max abs and max rel difference (rel over |ref| >=
 * 1e-4, where it means something), then asserts the tolerance. */
static void check_close(const char *label, const float *got, const double *ref,
                        size_t n, double atol, double rtol)
{
    double max_abs = 0.0, max_rel = 0.0, need_atol = 0.0;
    float *ref_f = malloc((n ? n : 1) * sizeof *ref_f);
    ck_assert_ptr_nonnull(ref_f);
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (!(d <= max_abs)) max_abs = d; /* NaN propagates */
        if (fabs(ref[i]) >= 1e-4 && !(d / fabs(ref[i]) <= max_rel))
            max_rel = d / fabs(ref[i]);
        if (d - rtol * fabs(ref[i]) > need_atol)
            need_atol = d - rtol * fabs(ref[i]);
        ref_f[i] = (float)ref[i];
    }
    printf("  %-34s n=%4zu  max_abs %.2e  max_rel %.2e  atol needed %.2e\n",
           label, n, max_abs, max_rel, need_atol);
    fflush(stdout);
    gm_ck_close(got, ref_f, n, atol, rtol, label);
    free(ref_f);
}

static void check_rec(const char *label, const float *got, const fx_rec *ref,
                      double atol, double rtol)
{
    check_close(label, got, ref->d, ref->n, atol, rtol);
}

/* ------------------------------------------------------------------------
 * Nets built from an "arch" record: rows (gm_layer_kind, a, b, c). */
static gm_net *build_net(const fx_rec *arch)
{
    ck_assert_msg(arch->ndim == 2 && arch->shape[1] == 4,
                  "record '%s' must be [layers x 4]", arch->name);
    gm_net *net = NULL;
    GM_CK_OK(gm_net_create(&net));
    for (size_t i = 0; i < arch->shape[0]; i++) {
        const double *row = arch->d + 4 * i;
        long kind = fx_int(arch, 4 * i);
        gm_layer *l = NULL;
        switch (kind) {
        case GM_LAYER_DENSE:
            GM_CK_OK(gm_dense_create(&l, (size_t)fx_int(arch, 4 * i + 1),
                                     (size_t)fx_int(arch, 4 * i + 2),
                                     GM_INIT_ZEROS, NULL));
            break;
        case GM_LAYER_RELU: GM_CK_OK(gm_relu_create(&l)); break;
        case GM_LAYER_LEAKY_RELU:
            GM_CK_OK(gm_leaky_relu_create(&l, (float)row[1]));
            break;
        case GM_LAYER_SIGMOID: GM_CK_OK(gm_sigmoid_create(&l)); break;
        case GM_LAYER_TANH: GM_CK_OK(gm_tanh_create(&l)); break;
        case GM_LAYER_SOFTPLUS: GM_CK_OK(gm_softplus_create(&l)); break;
        case GM_LAYER_ELU: GM_CK_OK(gm_elu_create(&l, (float)row[1])); break;
        case GM_LAYER_DROPOUT:
            GM_CK_OK(gm_dropout_create(&l, (float)row[1], 1234));
            break;
        case GM_LAYER_RESHAPE: {
            size_t shape[GM_MAX_DIMS - 1], nd = 0;
            for (size_t k = 1; k < 4; k++)
                if (row[k] > 0) shape[nd++] = (size_t)fx_int(arch, 4 * i + k);
            GM_CK_OK(gm_reshape_create(&l, nd, shape));
            break;
        }
        case GM_LAYER_FLATTEN: GM_CK_OK(gm_flatten_create(&l)); break;
        default:
            ck_abort_msg("record '%s' row %zu: unknown layer kind %ld",
                         arch->name, i, kind);
        }
        ck_assert_int_eq(gm_layer_get_kind(l), kind);
        GM_CK_OK(gm_net_add(net, l));
    }
    return net;
}

/* Loads params into net and checks they read back exactly. */
static void set_params(gm_net *net, const fx_rec *params)
{
    ck_assert_msg(gm_net_param_count(net) == params->n,
                  "net has %zu params, fixture '%s' has %zu",
                  gm_net_param_count(net), params->name, params->n);
    GM_CK_OK(gm_net_set_params(net, params->f, params->n));
    float *back = malloc(params->n * sizeof *back);
    ck_assert_ptr_nonnull(back);
    GM_CK_OK(gm_net_get_params(net, back, params->n));
    ck_assert_msg(memcmp(back, params->f, params->n * sizeof *back) == 0,
                  "gm_net_get_params does not return what was set");
    free(back);
}

/* ------------------------------------------------------------------------
 * Parser self-test: malformed fixtures fail with a located message. */
START_TEST(test_parser)
{
    static const struct { const char *text, *expect; } bad[] = {
        { "genmodel-reference 2\nx 1 1\n1\n", "first line" },
        { "genmodel-reference 1\nx 1 3\n1 2\n", ":2: record 'x': end of file" },
        { "genmodel-reference 1\nx 1 2\n1 zz\n", "'zz'" },
        { "genmodel-reference 1\nx 1 2\n1 nan\n", "not a finite" },
        { "genmodel-reference 1\nx 1 1\n1e99\n", "not a finite" },
        { "genmodel-reference 1\nx 0\n", "ndim" },
        { "genmodel-reference 1\nx 2 3\n", "dim 1" },
        { "genmodel-reference 1\nx 1 1 1\nx 1 1 1\n", ":3: duplicate" },
        { "genmodel-reference 1\n1x 1 1 1\n", "record name" },
    };
    char err[512];
    fx_file f;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ck_assert_msg(!fx_parse(&f, "t", bad[i].text, err, sizeof err),
                      "case %zu parsed", i);
        ck_assert_msg(strstr(err, bad[i].expect) != NULL,
                      "case %zu: '%s' lacks '%s'", i, err, bad[i].expect);
        ck_assert_ptr_null(f.recs);
    }
    ck_assert(fx_parse(&f, "t",
                       "genmodel-reference 1\n# c\nab.c_1 2 1 2 # c\n"
                       "-1.5 2e-3\nz 1 1 7\n", err, sizeof err));
    ck_assert_uint_eq(f.nrecs, 2);
    ck_assert_uint_eq(f.recs[0].shape[1], 2);
    ck_assert(f.recs[0].d[0] == -1.5 && f.recs[0].d[1] == 2e-3);
    ck_assert(f.recs[1].d[0] == 7.0);
    fx_free(&f);
}
END_TEST

/* ------------------------------------------------------------------------
 * Forward / backward of nets A and B. */
static void run_net_case(const char *prefix)
{
    fx_file fx;
    fx_load(&fx, "reference_net.txt");
    printf("%s:\n", prefix);
    const fx_rec *x = fx_getf(&fx, "%s.x", prefix);
    const fx_rec *y = fx_getf(&fx, "%s.y", prefix);
    const fx_rec *dy = fx_getf(&fx, "%s.dy", prefix);
    const fx_rec *dx = fx_getf(&fx, "%s.dx", prefix);
    const fx_rec *params = fx_getf(&fx, "%s.params", prefix);
    const fx_rec *grads = fx_getf(&fx, "%s.grads", prefix);
    const fx_rec *training = fx_getf(&fx, "%s.training", prefix);
    ck_assert_msg(grads->n == params->n, "grads/params counts differ");
    ck_assert_msg(dy->n == y->n && dx->n == x->n, "dy/dx counts differ");

    gm_net *net = build_net(fx_getf(&fx, "%s.arch", prefix));
    set_params(net, params);
    GM_CK_OK(gm_net_set_training(net, (int)fx_int(training, 0)));

    size_t ond = 0, oshape[GM_MAX_DIMS] = { 0 };
    GM_CK_OK(gm_net_output_shape(net, x->ndim, x->shape, &ond, oshape));
    ck_assert_uint_eq(ond, y->ndim);
    for (size_t i = 0; i < ond; i++) ck_assert_uint_eq(oshape[i], y->shape[i]);

    gm_tensor *tx = fx_tensor(x), *tdy = fx_tensor(dy), *ty = NULL,
              *tdx = NULL;
    GM_CK_OK(gm_tensor_create(&ty, y->ndim, y->shape));
    GM_CK_OK(gm_tensor_create(&tdx, x->ndim, x->shape));
    size_t np = params->n;
    float *g = malloc(np * sizeof *g);
    double *g2 = malloc(np * sizeof *g2);
    ck_assert(g && g2);
    char label[160];

    GM_CK_OK(gm_net_forward(net, tx, ty));
    snprintf(label, sizeof label, "%s forward y", prefix);
    check_rec(label, gm_tensor_data(ty), y, NET_ATOL, NET_RTOL);

    GM_CK_OK(gm_net_zero_grad(net));
    GM_CK_OK(gm_net_backward(net, tdy, tdx));
    GM_CK_OK(gm_net_get_grads(net, g, np));
    snprintf(label, sizeof label, "%s backward param grads", prefix);
    check_rec(label, g, grads, NET_ATOL, NET_RTOL);
    snprintf(label, sizeof label, "%s backward dx", prefix);
    check_rec(label, gm_tensor_data(tdx), dx, NET_ATOL, NET_RTOL);

    /* Second pass without zero_grad: gradients accumulate (+=). */
    GM_CK_OK(gm_net_forward(net, tx, ty));
    GM_CK_OK(gm_net_backward(net, tdy, NULL));
    GM_CK_OK(gm_net_get_grads(net, g, np));
    for (size_t i = 0; i < np; i++) g2[i] = 2.0 * grads->d[i];
    snprintf(label, sizeof label, "%s accumulated grads (2x)", prefix);
    check_close(label, g, g2, np, 2 * NET_ATOL, NET_RTOL);

    /* A smaller batch (first 2 samples) reuses the net: rows are
     * independent, so y and dx are the first rows of the reference. */
    size_t nb = 2, xs = x->n / x->shape[0], ys = y->n / y->shape[0];
    size_t sx[GM_MAX_DIMS], sy[GM_MAX_DIMS];
    memcpy(sx, x->shape, sizeof sx);
    memcpy(sy, y->shape, sizeof sy);
    sx[0] = sy[0] = nb;
    gm_tensor *tx2 = NULL, *ty2 = NULL, *tdy2 = NULL, *tdx2 = NULL;
    GM_CK_OK(gm_tensor_from_data(&tx2, x->ndim, sx, x->f));
    GM_CK_OK(gm_tensor_from_data(&tdy2, y->ndim, sy, dy->f));
    GM_CK_OK(gm_tensor_create(&ty2, y->ndim, sy));
    GM_CK_OK(gm_tensor_create(&tdx2, x->ndim, sx));
    GM_CK_OK(gm_net_forward(net, tx2, ty2));
    snprintf(label, sizeof label, "%s forward y, batch 2", prefix);
    check_close(label, gm_tensor_data(ty2), y->d, nb * ys, NET_ATOL,
                NET_RTOL);
    GM_CK_OK(gm_net_backward(net, tdy2, tdx2));
    snprintf(label, sizeof label, "%s backward dx, batch 2", prefix);
    check_close(label, gm_tensor_data(tdx2), dx->d, nb * xs, NET_ATOL,
                NET_RTOL);
    /* ... and back to the full batch. */
    GM_CK_OK(gm_net_forward(net, tx, ty));
    snprintf(label, sizeof label, "%s forward y, batch 4 again", prefix);
    check_rec(label, gm_tensor_data(ty), y, NET_ATOL, NET_RTOL);

    gm_tensor_free(tx2);
    gm_tensor_free(ty2);
    gm_tensor_free(tdy2);
    gm_tensor_free(tdx2);
    free(g);
    free(g2);
    gm_tensor_free(tx);
    gm_tensor_free(ty);
    gm_tensor_free(tdy);
    gm_tensor_free(tdx);
    gm_net_free(net);
    fx_free(&fx);
}

START_TEST(test_net_mlp) { run_net_case("netA"); }
END_TEST

START_TEST(test_net_shapes) { run_net_case("netB"); }
END_TEST

/* ------------------------------------------------------------------------
 * Losses. */
static const char *const RED_NAME[] = { "batch_mean", "mean", "sum" };
static const gm_reduction RED[] = { GM_REDUCE_BATCH_MEAN, GM_REDUCE_MEAN,
                                    GM_REDUCE_SUM };

typedef enum { L_MSE, L_BCE, L_XENT } loss_kind;

static gm_status call_loss(loss_kind k, const gm_tensor *p,
                           const gm_tensor *t, const int32_t *labels,
                           size_t n_labels, gm_reduction r, float *loss,
                           gm_tensor *grad, size_t *correct)
{
    switch (k) {
    case L_MSE: return gm_loss_mse(p, t, r, loss, grad);
    case L_BCE: return gm_loss_bce_logits(p, t, r, loss, grad);
    default:
        return gm_loss_softmax_xent(p, labels, n_labels, r, loss, grad,
                                    correct);
    }
}

static void run_loss_case(const char *name, loss_kind k)
{
    fx_file fx;
    fx_load(&fx, "reference_loss.txt");
    printf("loss %s:\n", name);
    const fx_rec *pred = fx_getf(&fx, "%s.pred", name);
    gm_tensor *tp = fx_tensor(pred), *tt = NULL, *tg = NULL;
    int32_t *labels = NULL;
    size_t n_labels = 0, want_correct = 0;
    if (k == L_XENT) {
        const fx_rec *lr = fx_get_n(&fx, "xent.labels", pred->shape[0]);
        n_labels = lr->n;
        labels = malloc(n_labels * sizeof *labels);
        ck_assert_ptr_nonnull(labels);
        for (size_t i = 0; i < n_labels; i++)
            labels[i] = (int32_t)fx_int(lr, i);
        want_correct = (size_t)fx_int(fx_get_n(&fx, "xent.correct", 1), 0);
    } else {
        const fx_rec *t = fx_getf_n(&fx, "%s.target", name, pred->n);
        tt = fx_tensor(t);
    }
    GM_CK_OK(gm_tensor_create(&tg, pred->ndim, pred->shape));
    char label[160], rn[48];
    for (size_t r = 0; r < 3; r++) {
        snprintf(rn, sizeof rn, "%s.%s", name, RED_NAME[r]);
        const fx_rec *lv = fx_getf_n(&fx, "%s.loss", rn, 1);
        const fx_rec *lg = fx_getf_n(&fx, "%s.grad", rn, pred->n);
        float loss = NAN, loss_nograd = NAN;
        size_t correct = 0;
        GM_CK_OK(gm_tensor_fill(tg, 12345.0f)); /* grad is written, not += */
        GM_CK_OK(call_loss(k, tp, tt, labels, n_labels, RED[r], &loss, tg,
                           k == L_XENT ? &correct : NULL));
        snprintf(label, sizeof label, "%s value", rn);
        check_rec(label, &loss, lv, NET_ATOL, NET_RTOL);
        snprintf(label, sizeof label, "%s grad", rn);
        check_rec(label, gm_tensor_data(tg), lg, NET_ATOL, NET_RTOL);
        if (k == L_XENT) ck_assert_uint_eq(correct, want_correct);
        GM_CK_OK(call_loss(k, tp, tt, labels, n_labels, RED[r], &loss_nograd,
                           NULL, NULL));
        ck_assert_msg(loss_nograd == loss, "%s: value without grad %.9g, "
                      "with grad %.9g", rn, loss_nograd, loss);
    }
    free(labels);
    gm_tensor_free(tp);
    gm_tensor_free(tt);
    gm_tensor_free(tg);
    fx_free(&fx);
}

START_TEST(test_loss_mse) { run_loss_case("mse", L_MSE); }
END_TEST

START_TEST(test_loss_mse_4d) { run_loss_case("mse4d", L_MSE); }
END_TEST

START_TEST(test_loss_bce_logits) { run_loss_case("bce", L_BCE); }
END_TEST

START_TEST(test_loss_softmax_xent) { run_loss_case("xent", L_XENT); }
END_TEST

/* ------------------------------------------------------------------------
 * Optimizer trajectories: per step zero_grad, forward, backward(dy),
 * step; compare the params after step 1 and after the last step. */
START_TEST(test_optim_run_count)
{
    fx_file fx;
    fx_load(&fx, "reference_optim.txt");
    ck_assert_int_eq(fx_int(fx_get_n(&fx, "optim.runs", 1), 0), OPT_RUNS);
    fx_free(&fx);
}
END_TEST

START_TEST(test_optim_run)
{
    fx_file fx;
    fx_load(&fx, "reference_optim.txt");
    char run[32];
    snprintf(run, sizeof run, "run%d", _i);
    const fx_rec *p0 = fx_get(&fx, "optim.params0");
    const fx_rec *x = fx_get(&fx, "optim.x"), *dy = fx_get(&fx, "optim.dy");
    const fx_rec *cfg = fx_getf_n(&fx, "%s.config", run, 10);
    size_t steps = (size_t)fx_int(cfg, 9);
    const fx_rec *lr = fx_getf_n(&fx, "%s.lr", run, steps);
    const fx_rec *p1 = fx_getf_n(&fx, "%s.params_step1", run, p0->n);
    const fx_rec *pf = fx_getf_n(&fx, "%s.params_final", run, p0->n);

    gm_optimizer_kind kind = (gm_optimizer_kind)fx_int(cfg, 0);
    long frozen = fx_int(cfg, 8);
    printf("optim %s: kind %d momentum %g nesterov %ld wd %g clip %g "
           "frozen %ld steps %zu\n", run, (int)kind, cfg->d[1],
           fx_int(cfg, 2), cfg->d[6], cfg->d[7], frozen, steps);

    gm_net *net = build_net(fx_get(&fx, "optim.arch"));
    set_params(net, p0);
    if (frozen >= 0) GM_CK_OK(gm_net_set_trainable(net, (size_t)frozen, 0));

    gm_optimizer_options o;
    GM_CK_OK(gm_optimizer_options_init(&o, kind));
    o.lr = lr->f[0];
    o.momentum = cfg->f[1];
    o.nesterov = (int32_t)fx_int(cfg, 2);
    o.beta1 = cfg->f[3];
    o.beta2 = cfg->f[4];
    o.eps = cfg->f[5];
    o.weight_decay = cfg->f[6];
    o.clip_norm = cfg->f[7];
    gm_optimizer *opt = NULL;
    GM_CK_OK(gm_optimizer_create(&opt, net, &o));

    gm_tensor *tx = fx_tensor(x), *tdy = fx_tensor(dy), *ty = NULL;
    GM_CK_OK(gm_tensor_create(&ty, dy->ndim, dy->shape));
    float *p = malloc(p0->n * sizeof *p);
    ck_assert_ptr_nonnull(p);
    char label[160];
    for (size_t s = 0; s < steps; s++) {
        GM_CK_OK(gm_optimizer_set_lr(opt, lr->f[s]));
        GM_CK_OK(gm_net_zero_grad(net));
        GM_CK_OK(gm_net_forward(net, tx, ty));
        GM_CK_OK(gm_net_backward(net, tdy, NULL));
        GM_CK_OK(gm_optimizer_step(opt, net));
        if (s == 0 || s + 1 == steps) {
            GM_CK_OK(gm_net_get_params(net, p, p0->n));
            snprintf(label, sizeof label, "%s params after step %zu", run,
                     s + 1);
            check_rec(label, p, s == 0 ? p1 : pf, OPT_ATOL, OPT_RTOL);
        }
    }
    ck_assert_uint_eq(gm_optimizer_step_count(opt), steps);

    free(p);
    gm_tensor_free(tx);
    gm_tensor_free(ty);
    gm_tensor_free(tdy);
    gm_optimizer_free(opt);
    gm_net_free(net);
    fx_free(&fx);
}
END_TEST

/* ------------------------------------------------------------------------
 * Convolutions, batchnorm and spectral norm: the net of conv_case in
 * make_reference.py, two training forwards, a backward, an eval forward. */
START_TEST(test_conv_bn_spectral)
{
    fx_file fx;
    fx_load(&fx, "reference_conv.txt");
    printf("conv net:\n");
    /* spectral norm on layers 0, 3 and 6, its u | v then set to torch's */
    const size_t sn_at[3] = {0, 3, 6};
    gm_rng *rng;
    gm_net *net;
    gm_layer *l[7];
    GM_CK_OK(gm_rng_create(&rng, 1));
    GM_CK_OK(gm_conv2d_create(&l[0], 2, 4, 3, 2, 1, GM_INIT_ZEROS, NULL));
    GM_CK_OK(gm_batchnorm_create(&l[1], 4, 0.1f, 1e-5f));
    GM_CK_OK(gm_leaky_relu_create(&l[2], 0.2f));
    GM_CK_OK(gm_conv_transpose2d_create(&l[3], 4, 3, 4, 2, 1, GM_INIT_ZEROS, NULL));
    GM_CK_OK(gm_tanh_create(&l[4]));
    GM_CK_OK(gm_flatten_create(&l[5]));
    GM_CK_OK(gm_dense_create(&l[6], 108, 5, GM_INIT_ZEROS, NULL));
    GM_CK_OK(gm_net_create(&net));
    for (size_t k = 0; k < 3; k++) {
        gm_layer *sl = l[sn_at[k]];
        GM_CK_OK(gm_layer_spectral_norm(sl, 1, 1e-12f, rng));
        char name[16];
        snprintf(name, sizeof name, "%zu", k);
        memcpy(sl->state, fx_getf_n(&fx, "conv.uv0_%s", name, sl->nstate)->f,
               sl->nstate * sizeof(float));
    }
    for (size_t i = 0; i < 7; i++) GM_CK_OK(gm_net_add(net, l[i]));
    set_params(net, fx_get(&fx, "conv.params"));

    const fx_rec *x = fx_get(&fx, "conv.x"), *y = fx_get(&fx, "conv.y"),
                 *dy = fx_get(&fx, "conv.dy"), *dx = fx_get(&fx, "conv.dx"),
                 *grads = fx_get_n(&fx, "conv.grads", gm_net_param_count(net));
    gm_tensor *tx = fx_tensor(x), *tdy = fx_tensor(dy), *ty, *tdx;
    GM_CK_OK(gm_tensor_create(&ty, y->ndim, y->shape));
    GM_CK_OK(gm_tensor_create(&tdx, x->ndim, x->shape));
    GM_CK_OK(gm_net_set_training(net, 1));
    GM_CK_OK(gm_net_forward(net, tx, ty));
    GM_CK_OK(gm_net_forward(net, tx, ty));
    check_rec("second training forward y", gm_tensor_data(ty), y, CONV_ATOL, CONV_RTOL);
    GM_CK_OK(gm_net_zero_grad(net));
    GM_CK_OK(gm_net_backward(net, tdy, tdx));
    float *g = malloc(grads->n * sizeof *g);
    ck_assert_ptr_nonnull(g);
    GM_CK_OK(gm_net_get_grads(net, g, grads->n));
    check_rec("param grads", g, grads, CONV_ATOL, CONV_RTOL);
    check_rec("dx", gm_tensor_data(tdx), dx, CONV_ATOL, CONV_RTOL);
    for (size_t k = 0; k < 3; k++) {
        gm_layer *sl = l[sn_at[k]];
        char label[64], name[16];
        snprintf(label, sizeof label, "u|v of layer %zu after 2 forwards", sn_at[k]);
        snprintf(name, sizeof name, "%zu", k);
        check_rec(label, sl->state, fx_getf_n(&fx, "conv.uv2_%s", name, sl->nstate), CONV_ATOL,
                  CONV_RTOL);
    }
    check_rec("batchnorm running mean|var", l[1]->state,
              fx_get_n(&fx, "conv.running", 8), CONV_ATOL, CONV_RTOL);
    GM_CK_OK(gm_net_set_training(net, 0));
    GM_CK_OK(gm_net_forward(net, tx, ty));
    check_rec("evaluation forward y", gm_tensor_data(ty), fx_get(&fx, "conv.y_eval"), CONV_ATOL,
              CONV_RTOL);
    free(g);
    gm_tensor_free(tx);
    gm_tensor_free(ty);
    gm_tensor_free(tdy);
    gm_tensor_free(tdx);
    gm_net_free(net);
    gm_rng_free(rng);
    fx_free(&fx);
}
END_TEST

/* The convolution tests run on the build's backend (oneDNN when built
 * with it) and again on im2col + sgemm, the fallback. */
static int gm_saved_im2col;
static void force_im2col(void) { gm_saved_im2col = gm__conv_force_im2col(1); }
static void restore_backend(void) { gm__conv_force_im2col(gm_saved_im2col); }

int main(void)
{
    Suite *s = suite_create("reference");
    TCase *tc = tcase_create("parser");
    tcase_add_test(tc, test_parser);
    suite_add_tcase(s, tc);

    tc = tcase_create("net");
    tcase_add_test(tc, test_net_mlp);
    tcase_add_test(tc, test_net_shapes);
    tcase_add_test(tc, test_conv_bn_spectral);
    suite_add_tcase(s, tc);
    if (gm__conv_dnnl_built()) {
        tc = tcase_create("net, convolutions on im2col");
        tcase_add_checked_fixture(tc, force_im2col, restore_backend);
        tcase_add_test(tc, test_conv_bn_spectral);
        suite_add_tcase(s, tc);
    }

    tc = tcase_create("loss");
    tcase_add_test(tc, test_loss_mse);
    tcase_add_test(tc, test_loss_mse_4d);
    tcase_add_test(tc, test_loss_bce_logits);
    tcase_add_test(tc, test_loss_softmax_xent);
    suite_add_tcase(s, tc);

    tc = tcase_create("optim");
    tcase_add_test(tc, test_optim_run_count);
    tcase_add_loop_test(tc, test_optim_run, 0, OPT_RUNS);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
