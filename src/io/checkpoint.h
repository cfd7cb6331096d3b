/* SPDX-License-Identifier: MIT */
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

#endif
