/* SPDX-License-Identifier: MIT */
/* The image set gm_image_folder_load makes (folder.c), its readers and
 * the folder options (image_set.c). Not installed. */
#ifndef GM_IO_IMAGE_SET_H
#define GM_IO_IMAGE_SET_H

#include <stddef.h>
#include <stdint.h>

#include <genmodel/io.h>

#define GM__FOLDER_MAX_SIDE 4096
#define GM__FOLDER_MAX_THREADS 1024

/* Reads the caller's options (opts NULL: the defaults) into o and checks
 * them; errors name fn. */
gm_status gm__image_folder_options(const char *fn, const gm_image_folder_options *opts,
                                   gm_image_folder_options *o);

struct gm_image_set {
    size_t n, c, s, skipped;
    unsigned char *data; /* n x c x s x s */
    int32_t *labels;     /* n, or NULL */
    char **names;        /* n */
    size_t nclasses;
    char **classes;      /* nclasses */
};

#endif
