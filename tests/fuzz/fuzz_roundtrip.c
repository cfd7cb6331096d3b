/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: checkpoint round trips (as zstd's round-trip targets).
 *
 * Each input is parsed as a net, a VAE and a GAN checkpoint
 * (gm__X_load_buffer, src/io/checkpoint.h). For every kind that loads:
 *   save it (gm_X_save, the public atomic writer) to file A, load A back
 *   (from memory, as gm_X_load does), which must succeed, save that to
 *   file B, and require A == B byte for byte: save(load(save(x))) ==
 *   save(x), so that nothing the loader accepts is lost, changed or
 *   written in a form it cannot read back. The parameters of the two
 *   loaded objects must agree bit for bit as well.
 * Every call must return GM_OK or a documented error naming the function
 * and leave gm_live_allocations() where it was; ASan/UBSan/LSan check the
 * rest. The scratch files live in /dev/shm when it exists (one pair per
 * process, removed at exit).
 *
 * Seeds: tests/fuzz/corpus/roundtrip/ (the checkpoint seeds); dictionary:
 * checkpoint.dict. Build: see tests/fuzz/CMakeLists.txt.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <genmodel/genmodel.h>

#include "io/checkpoint.h"

#include "fuzz_common.h"

static char g_path[2][256];

static void remove_scratch(void)
{
    unlink(g_path[0]);
    unlink(g_path[1]);
}

static void scratch_init(void)
{
    if (g_path[0][0]) return;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    for (int k = 0; k < 2; k++)
        snprintf(g_path[k], sizeof g_path[k], "%s/gm-fuzz-rt-%ld-%c.ckpt", dir, (long)getpid(),
                 'a' + k);
    atexit(remove_scratch);
}

/* The whole file at path, malloc'd (*len); aborts if it cannot be read. */
static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    FUZZ_ASSERT(f != NULL);
    FUZZ_ASSERT(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    FUZZ_ASSERT(n >= 0 && fseek(f, 0, SEEK_SET) == 0);
    uint8_t *buf = malloc((size_t)n + 1);
    FUZZ_ASSERT(buf != NULL);
    FUZZ_ASSERT(fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* The parameters of a net (malloc'd, *n floats). */
static float *params_of(const gm_net *net, size_t *n)
{
    *n = gm_net_param_count(net);
    float *p = malloc((*n + 1) * sizeof *p);
    FUZZ_ASSERT(p != NULL);
    FUZZ_ASSERT(gm_net_get_params(net, p, *n) == GM_OK);
    return p;
}

/* Both nets' parameters equal bit for bit (NULL nets: both NULL). */
static void same_params(const gm_net *a, const gm_net *b)
{
    FUZZ_ASSERT((a == NULL) == (b == NULL));
    if (a == NULL) return;
    size_t na, nb;
    float *pa = params_of(a, &na), *pb = params_of(b, &nb);
    FUZZ_ASSERT(na == nb && memcmp(pa, pb, na * sizeof *pa) == 0);
    FUZZ_ASSERT(gm_net_num_layers(a) == gm_net_num_layers(b));
    free(pa);
    free(pb);
}

/* One kind: load_buffer / save / free / the nets to compare. */
typedef struct kind {
    const char *load_name, *save_name;
    gm_status (*load)(void **out, const void *buf, size_t len, const char *fn);
    gm_status (*save)(const void *obj, const char *path);
    void (*free_)(void *obj);
    void (*nets)(const void *obj, const gm_net **a, const gm_net **b);
} kind;

static gm_status net_load(void **o, const void *b, size_t n, const char *fn)
{
    return gm__net_load_buffer((gm_net **)o, b, n, fn);
}
static gm_status vae_load(void **o, const void *b, size_t n, const char *fn)
{
    return gm__vae_load_buffer((gm_vae **)o, b, n, fn);
}
static gm_status gan_load(void **o, const void *b, size_t n, const char *fn)
{
    return gm__gan_load_buffer((gm_gan **)o, b, n, fn);
}
static gm_status net_save(const void *o, const char *p) { return gm_net_save(o, p); }
static gm_status vae_save(const void *o, const char *p) { return gm_vae_save(o, p); }
static gm_status gan_save(const void *o, const char *p) { return gm_gan_save(o, p); }
static void net_free(void *o) { gm_net_free(o); }
static void vae_free(void *o) { gm_vae_free(o); }
static void gan_free(void *o) { gm_gan_free(o); }
static void net_nets(const void *o, const gm_net **a, const gm_net **b)
{
    *a = o;
    *b = NULL;
}
static void vae_nets(const void *o, const gm_net **a, const gm_net **b)
{
    *a = gm_vae_encoder((gm_vae *)o);
    *b = gm_vae_decoder((gm_vae *)o);
}
static void gan_nets(const void *o, const gm_net **a, const gm_net **b)
{
    *a = gm_gan_generator((gm_gan *)o);
    *b = gm_gan_discriminator((gm_gan *)o);
}

static const kind k_kinds[3] = {
    {"gm_net_load", "gm_net_save", net_load, net_save, net_free, net_nets},
    {"gm_vae_load", "gm_vae_save", vae_load, vae_save, vae_free, vae_nets},
    {"gm_gan_load", "gm_gan_save", gan_load, gan_save, gan_free, gan_nets},
};

static void round_trip(const kind *k, const uint8_t *data, size_t size)
{
    void *first = NULL;
    gm_status st = k->load(&first, data, size, k->load_name);
    fuzz_check_status(k->load_name, st);
    FUZZ_ASSERT((st == GM_OK) == (first != NULL));
    if (first == NULL) return;

    st = k->save(first, g_path[0]);
    if (st != GM_OK) {
        fprintf(stderr, "%s of a loaded object failed: %s\n", k->save_name, gm_last_error());
        abort();
    }
    size_t la, lb;
    uint8_t *a = read_all(g_path[0], &la);
    void *second = NULL;
    st = k->load(&second, a, la, k->load_name);
    if (st != GM_OK) {
        fprintf(stderr, "%s cannot load what %s wrote: %s\n", k->load_name, k->save_name,
                gm_last_error());
        abort();
    }
    FUZZ_ASSERT(k->save(second, g_path[1]) == GM_OK);
    uint8_t *b = read_all(g_path[1], &lb);
    if (la != lb || memcmp(a, b, la) != 0) {
        fprintf(stderr, "%s: saving the reloaded object gives other bytes (%zu vs %zu)\n",
                k->save_name, la, lb);
        abort();
    }
    const gm_net *n1a, *n1b, *n2a, *n2b;
    k->nets(first, &n1a, &n1b);
    k->nets(second, &n2a, &n2b);
    same_params(n1a, n2a);
    same_params(n1b, n2b);
    free(a);
    free(b);
    k->free_(first);
    k->free_(second);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    scratch_init();
    gm_set_num_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scratch_init();
    size_t live = gm_live_allocations();
    for (int i = 0; i < 3; i++) {
        round_trip(&k_kinds[i], data, size);
        FUZZ_ASSERT(gm_live_allocations() == live);
    }
    return 0;
}
