/* Checkpoint reading from memory: what gm_net_load, gm_vae_load and
 * gm_gan_load do after reading the whole file, exposed inside the library
 * (and to the fuzz targets, which link the static library). Not installed. */
#ifndef GM_IO_CHECKPOINT_H
#define GM_IO_CHECKPOINT_H

#include <stddef.h>

#include <genmodel/gan.h>
#include <genmodel/net.h>
#include <genmodel/vae.h>

/* Each parses the len bytes at buf (any content: it is checked) as a
 * checkpoint of its kind, reporting errors under the name fn. *out is the
 * new object or NULL. */
gm_status gm__net_load_buffer(gm_net **out, const void *buf, size_t len, const char *fn);
gm_status gm__vae_load_buffer(gm_vae **out, const void *buf, size_t len, const char *fn);
gm_status gm__gan_load_buffer(gm_gan **out, const void *buf, size_t len, const char *fn);

/* What the checkpoint code reads and restores of a VAE or GAN, given by
 * the model's own module (vae.c, gan.c) so that its struct stays private.
 * The pointers are the model's own. */
typedef struct gm__model_view {
    gm_net *net[2];          /* encoder, decoder / generator, discriminator */
    gm_optimizer *opt[2];    /* their optimizers */
    gm_rng *train_rng, *aux_rng;
    uint64_t *steps;
    int pending;             /* gradients of a compute call await an apply */
} gm__model_view;

void gm__vae_model_view(const gm_vae *vae, gm__model_view *mv, gm_vae_options *opts);
void gm__gan_model_view(const gm_gan *gan, gm__model_view *mv, gm_gan_options *opts);

#endif
