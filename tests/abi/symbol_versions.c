/* SPDX-License-Identifier: MIT */
/*
 * The symbol versions of the shared library, seen the way a program built
 * against an older release sees them: through the dynamic linker. Resolves
 * gm_gan_options_init at each published version with dlvsym and checks
 * that each one fills the struct that release's callers know (1.0 ended
 * at num_classes, 1.1 at ema_decay, 1.2 is today's) and writes nothing
 * past it, that the unversioned name binds to the newest (GM_1.2), and
 * that gm_gan_create accepts what the 1.0 version filled. A linker script
 * that dropped a version node, or a .symver that pointed at the wrong
 * body, fails here; tests/test_gan.c checks the bodies themselves through
 * the static library. Exit 0: passed, 1: failed (with a message).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <genmodel/genmodel.h>

typedef gm_status (*init_fn)(gm_gan_options *);

static int failures;

#define EXPECT(cond, ...)                       \
    do {                                        \
        if (!(cond)) {                          \
            fprintf(stderr, "FAIL: " __VA_ARGS__); \
            fputc('\n', stderr);                \
            failures++;                         \
        }                                       \
    } while (0)

/* Calls f on a struct of 0xA5 bytes: the size it wrote, and whether the
 * bytes from `end` on are untouched. */
static size_t fill(init_fn f, size_t end, int *tail_ok)
{
    unsigned char buf[sizeof(gm_gan_options) + 64];
    memset(buf, 0xA5, sizeof buf);
    gm_gan_options *o = (gm_gan_options *)(void *)buf;
    if (f(o) != GM_OK) return 0;
    *tail_ok = 1;
    for (size_t i = end; i < sizeof buf; i++)
        if (buf[i] != 0xA5) *tail_ok = 0;
    return o->size;
}

int main(void)
{
    const char *ver[3] = {"GM_1.0", "GM_1.1", "GM_1.2"};
    const size_t a = _Alignof(gm_gan_options);
    const size_t end[3] = {offsetof(gm_gan_options, ema_decay),
                           (offsetof(gm_gan_options, ema_decay) + sizeof(float) + a - 1) / a * a,
                           sizeof(gm_gan_options)};
    init_fn f[3];
    for (int v = 0; v < 3; v++) {
        f[v] = (init_fn)dlvsym(RTLD_DEFAULT, "gm_gan_options_init", ver[v]);
        EXPECT(f[v] != NULL, "gm_gan_options_init@%s not found: %s", ver[v], dlerror());
    }
    if (failures) return 1;
    EXPECT(f[0] != f[1] && f[1] != f[2] && f[0] != f[2], "the three versions are not distinct");
    EXPECT(f[2] == (init_fn)dlsym(RTLD_DEFAULT, "gm_gan_options_init"),
           "the unversioned gm_gan_options_init is not @GM_1.2");
    EXPECT(f[2] == gm_gan_options_init, "this program's gm_gan_options_init is not @GM_1.2");
    for (int v = 0; v < 3; v++) {
        int tail_ok = 0;
        const size_t got = fill(f[v], end[v], &tail_ok);
        EXPECT(got == end[v], "gm_gan_options_init@%s wrote size %zu, want %zu", ver[v], got,
               end[v]);
        EXPECT(tail_ok, "gm_gan_options_init@%s wrote past byte %zu", ver[v], end[v]);
    }
    /* what a 1.0 program does next */
    gm_gan_options o;
    memset(&o, 0, sizeof o);
    EXPECT(f[0](&o) == GM_OK, "gm_gan_options_init@GM_1.0 failed");
    o.latent = 2;
    gm_net *g = NULL, *d = NULL;
    gm_layer *l = NULL;
    gm_rng *rng = NULL;
    gm_gan *gan = NULL;
    int ok = gm_rng_create(&rng, 1) == GM_OK && gm_net_create(&g) == GM_OK &&
             gm_net_create(&d) == GM_OK &&
             gm_dense_create(&l, 2, 2, GM_INIT_XAVIER, rng) == GM_OK && gm_net_add(g, l) == GM_OK &&
             gm_dense_create(&l, 2, 1, GM_INIT_XAVIER, rng) == GM_OK && gm_net_add(d, l) == GM_OK;
    EXPECT(ok, "building the nets failed: %s", gm_last_error());
    if (ok) {
        const gm_status st = gm_gan_create(&gan, g, d, &o);
        EXPECT(st == GM_OK, "gm_gan_create refused a 1.0 caller's options: %s", gm_last_error());
        if (st == GM_OK) g = d = NULL; /* the GAN owns them now */
    }
    gm_gan_free(gan);
    gm_net_free(g);
    gm_net_free(d);
    gm_rng_free(rng);
    if (failures == 0) printf("symbol versions: GM_1.0, GM_1.1, GM_1.2 of gm_gan_options_init ok\n");
    return failures ? 1 : 0;
}
