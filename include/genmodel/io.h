/*
 * libgenmodel — reading data sets, writing sample pictures.
 *
 * IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed,
 * are read through zlib. Every size in a header is checked against the
 * file's actual content before anything is allocated: a truncated, corrupt
 * or mismatched file gives GM_EFORMAT, never a crash or a huge allocation.
 *
 * Grids of images are written as PNG pictures through libpng.
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

/* ---- PNG sample grids ------------------------------------------------------ */

/** Largest width or height, in pixels, of a picture gm_png_write_grid
 *  writes (padding included). */
#define GM_PNG_MAX_SIDE 65536

/**
 * Writes N images as one 8-bit PNG picture (through libpng): a grid of
 * rows x cols cells filled row-major with images 0 .. N-1, cells past N
 * filled with pad_value, and `padding` pixels of pad_value between cells
 * and around the border. Picture size:
 *   width  = cols * W + (cols + 1) * padding,
 *   height = rows * H + (rows + 1) * padding.
 * A value v becomes the byte floor(255 * clamp(v, 0, 1) + 0.5).
 *
 * The picture is written to a new file "<path>.tmp-XXXXXX" in the same
 * directory (mode 0666 less the umask), flushed to disk and renamed over
 * `path`: readers see the old file or the whole new one. On any error the
 * temporary file is removed and `path` is left as it was.
 *
 * @param path     file to write or replace; the caller keeps ownership.
 * @param images   [N x C x H x W] with C = 1 (grayscale) or 3 (RGB,
 *                 channel planes as the engine stores them); only read.
 * @param rows     number of rows of the grid, >= 1.
 * @param cols     number of columns of the grid, >= 1; rows * cols >= N.
 * @param padding  pixels between cells and around the border (0 = none).
 * @param pad_value  value of the padding and empty cells, in [0, 1].
 * Threading: keeps no state; calls may run on several threads at once,
 * also for the same path (the last rename wins).
 * @return GM_OK;
 *         GM_EINVAL (path or images NULL, path empty, rows or cols 0,
 *         more than rows * cols images, a width or height above
 *         GM_PNG_MAX_SIDE, pad_value outside [0, 1] or not finite, a
 *         NaN or infinite pixel value; nothing is written);
 *         GM_ESHAPE (images not of rank 4, or C not 1 or 3);
 *         GM_EIO (the temporary file cannot be created, written, synced
 *         or renamed; the message carries the system's reason);
 *         GM_ENOMEM (an allocation failed, also inside libpng);
 *         GM_EINTERNAL (libpng refused the call: a bug, please report).
 */
GM_API gm_status gm_png_write_grid(const char *path, const gm_tensor *images,
                                   size_t rows, size_t cols, size_t padding,
                                   float pad_value);

#ifdef __cplusplus
}
#endif

#endif /* GENMODEL_IO_H */
