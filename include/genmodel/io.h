/*
 * libgenmodel — reading data sets.
 *
 * IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed,
 * are read through zlib. Every size in a header is checked against the
 * file's actual content before anything is allocated: a truncated, corrupt
 * or mismatched file gives GM_EFORMAT, never a crash or a huge allocation.
 *
 * Threading: these functions keep no state; they may run on several
 * threads at once.
 */
#ifndef GENMODEL_IO_H
#define GENMODEL_IO_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Loads an IDX image file (unsigned bytes, 3 dimensions N x H x W) as a
 * new tensor [N x 1 x H x W] with values byte / 255 in [0, 1].
 * @param[out] out     the new tensor, owned by the caller.
 * @param path         file name (gzip or plain).
 * @param max_items    read at most this many images; 0 = all. Reading
 *                     stops there: the file must hold the images read,
 *                     what follows them is not checked.
 * @return GM_OK; GM_EINVAL (NULL); GM_EIO (cannot open or read);
 *         GM_EFORMAT (not an IDX image file, truncated, sizes absurd);
 *         GM_ENOMEM.
 */
GM_API gm_status gm_idx_load_images(gm_tensor **out, const char *path,
                                    size_t max_items);

/**
 * Loads an IDX label file (unsigned bytes, 1 dimension) as int32 values.
 * Call with dst NULL to learn the count (the labels are still read and
 * checked to be there), then with a buffer.
 * @param[out] dst       NULL, or an array of `capacity` elements.
 * @param[out] count     receives the number of labels in the file (capped
 *                       by max_items); with dst, the number written.
 * @param max_items      read at most this many; 0 = all (as for images).
 * @return GM_OK; GM_EINVAL (NULL path/count); GM_ESHAPE (capacity too
 *         small: nothing is written); GM_EIO; GM_EFORMAT; GM_ENOMEM.
 */
GM_API gm_status gm_idx_load_labels(const char *path, size_t max_items,
                                    int32_t *dst, size_t capacity,
                                    size_t *count);

#ifdef __cplusplus
}
#endif

#endif /* GENMODEL_IO_H */
