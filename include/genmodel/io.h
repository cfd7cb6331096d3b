/* SPDX-License-Identifier: MIT */
/**
 * @file
 * libgenmodel — reading data sets, writing sample pictures.
 *
 * IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed
 * (also a gzip file of several members, as RFC 1952 allows), are read
 * through zlib. Every size in a header is checked against the
 * file's actual content before anything is allocated: a truncated, corrupt
 * or mismatched file gives GM_EFORMAT, never a crash or a huge allocation.
 *
 * Grids of images are written as PNG pictures through libpng.
 *
 * Checkpoints save and load a whole net, VAE or GAN (see "Checkpoints"
 * below for the format and its guarantees).
 *
 * Threading: these functions keep no state; they may run on several
 * threads at once.
 */
#ifndef GENMODEL_IO_H
#define GENMODEL_IO_H

#include "core.h"
#include "tensor.h"
#include "net.h"
#include "vae.h"
#include "gan.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Most data bytes an IDX file may claim (N x H x W for images, N for
 *  labels, after max_items), 1 GiB: a header claiming more is refused with
 *  GM_EFORMAT before anything is read or allocated. A gzip file is
 *  decompressed only as far as its header claims (what follows is not
 *  read), so a small compressed file cannot make the loader decompress or
 *  allocate more than this limit (and, as data arrive, at most twice what
 *  arrived, plus the float tensor of the result). */
#define GM_IDX_MAX_BYTES ((uint64_t)1 << 30)

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
 * The picture is written to a temporary file in the same directory (mode
 * 0666 less the umask; its name is described under "Checkpoints" below),
 * flushed to disk and renamed over `path`: readers see the old file or the
 * whole new one. On any error the temporary file is removed and `path` is
 * left as it was.
 *
 * @param path     file to write or replace; the caller keeps ownership.
 * @param images   [N x C x H x W] with C = 1 (grayscale) or 3 (RGB,
 *                 channel planes as the engine stores them); only read.
 * @param rows     number of rows of the grid, >= 1.
 * @param cols     number of columns of the grid, >= 1; rows * cols >= N.
 * @param padding  pixels between cells and around the border (0 = none).
 * @param pad_value  value of the padding and empty cells, in [0, 1].
 * Threading: keeps no state; calls may run on several threads (or
 * processes) at once, also for the same path: writes of one path take
 * turns on its temporary file, and the last rename wins.
 * @return GM_OK;
 *         GM_EINVAL (path or images NULL, path empty, rows or cols 0,
 *         more than rows * cols images, a width or height above
 *         GM_PNG_MAX_SIDE, pad_value outside [0, 1] or not finite, a
 *         NaN or infinite pixel value; nothing is written);
 *         GM_ESHAPE (images not of rank 4, or C not 1 or 3);
 *         GM_EIO (the temporary file cannot be created, written, synced
 *         or renamed, or `path` exists and is not a regular file: a
 *         symlink or device is never replaced; the message carries the
 *         system's reason);
 *         GM_ENOMEM (an allocation failed, also inside libpng);
 *         GM_EINTERNAL (libpng refused the call: a bug, please report).
 */
GM_API gm_status gm_png_write_grid(const char *path, const gm_tensor *images,
                                   size_t rows, size_t cols, size_t padding,
                                   float pad_value);

/* ---- Checkpoints --------------------------------------------------------- */
/*
 * A checkpoint holds everything needed to go on training exactly where a
 * model stopped: the architecture (layer kinds and hyperparameters), the
 * parameters, layer state (batchnorm running statistics, spectral-norm
 * vectors, dropout stream positions), trainable flags and training mode;
 * for a VAE or GAN also the options, both optimizers (settings, moments,
 * step counts), both random generators and the step count. Training N
 * steps, saving, loading (in the same or another process) and training M
 * more gives parameters byte-identical to training N + M steps straight.
 *
 * Format (version 2): the 8 bytes "GMCKPT\r\n", a little-endian header
 * (format version, model kind, section count), then sections, each with a
 * tag, a byte length and the CRC-32 (zlib) of its payload. Every number is
 * written little-endian whatever the host. A VAE's or GAN's options are
 * tagged records (id, type, length, value): a file written before an
 * option existed loads with that option's default (docs/ARCHITECTURE.md,
 * "Checkpoints"). This library reads versions 1 and 2 and writes 2; a
 * reader of version V refuses files of a later version with GM_EVERSION.
 *
 * Saving writes a temporary file in the same directory, flushes and
 * fsyncs it, renames it over `path` and fsyncs the directory: a crash or
 * kill during a save leaves the previous file whole.
 *
 * The temporary file has one fixed name per target: ".gm.tmp-" followed by
 * 16 hex digits of a 64-bit hash (FNV-1a) of the target's base name, e.g.
 * "dir/.gm.tmp-3b1f0c9e2d4a5f60" for "dir/model.gmck". The name is 24
 * bytes whatever the target's, so every valid file name can be saved. A
 * save that is killed leaves at most that one file per target (never one
 * per kill): the next save of the same target reuses it and renames it
 * away. Saves to the same target from several threads or processes hold
 * an exclusive flock(2) on the temporary file from opening to the rename,
 * so they take turns (the last rename wins); a waiting save opens the
 * file anew when the one before renamed it. (A fixed name was chosen over
 * unique names plus a clean-up of stale ones because a stale file cannot
 * be told from a live one without the lock anyway, and the fixed name
 * bounds the litter by construction.) The file system must support
 * flock; a symlink or other non-regular file at the temporary name is
 * refused with GM_EIO, not followed. Only a regular file is
 * replaced: if `path` is a symlink, directory, device or pipe the save
 * fails with GM_EIO and writes nothing. Loading checks every
 * count against fixed bounds and against the bytes left in the file before
 * allocating anything: a truncated, corrupt, hostile or future-version
 * file gives GM_EFORMAT with a message naming the section and the value.
 *
 * Threading: save only reads the model (no other thread may change it
 * meanwhile); load makes a new object. Different objects may be saved or
 * loaded on different threads at once.
 */

/** Magic bytes that start every checkpoint. */
#define GM_CHECKPOINT_MAGIC "GMCKPT\r\n"
/** The checkpoint format version this library writes (and the newest it reads). */
#define GM_CHECKPOINT_VERSION 2u

/**
 * Saves a net (architecture, parameters, layer state, trainable flags,
 * training mode). Gradients and activations are not saved.
 * @param net   only read; the caller keeps ownership.
 * @param path  file to write or replace atomically (see above).
 * @return GM_OK; GM_EINVAL (NULL, empty path); GM_ESTATE (a net without
 *         layers); GM_EIO (cannot create, write, sync or rename; the
 *         message carries the system's reason; `path` is left as it was);
 *         GM_ENOMEM.
 */
GM_API gm_status gm_net_save(const gm_net *net, const char *path);

/**
 * Loads a net saved by gm_net_save (a VAE or GAN file is refused).
 * @param[out] out  the new net, owned by the caller (gm_net_free); NULL on
 *                  failure.
 * @return GM_OK; GM_EINVAL (NULL); GM_EIO (cannot open or read);
 *         GM_EFORMAT (not a net checkpoint, truncated, a CRC mismatch, a
 *         value out of range); GM_EVERSION (written by a later library
 *         with a newer format); GM_ENOMEM.
 */
GM_API gm_status gm_net_load(gm_net **out, const char *path);

/**
 * Saves a VAE with both nets, optimizers, generators, options and step
 * count. The VAE is only read and stays the caller's; path is only read.
 * Refused with GM_ESTATE while gradients of gm_vae_compute_grads await
 * gm_vae_apply_grads. Errors as gm_net_save.
 */
GM_API gm_status gm_vae_save(const gm_vae *vae, const char *path);

/** Loads a VAE saved by gm_vae_save. *out is a new VAE owned by the
 *  caller (gm_vae_free), which owns its nets as one from gm_vae_create;
 *  NULL on failure. Errors as gm_net_load. */
GM_API gm_status gm_vae_load(gm_vae **out, const char *path);

/**
 * Saves a GAN with both nets, optimizers, generators, options and step
 * count. The GAN is only read and stays the caller's; path is only read.
 * Refused with GM_ESTATE while computed gradients await
 * gm_gan_apply_grads. Errors as gm_net_save.
 */
GM_API gm_status gm_gan_save(const gm_gan *gan, const char *path);

/** Loads a GAN saved by gm_gan_save. *out is a new GAN owned by the
 *  caller (gm_gan_free), which owns its nets as one from gm_gan_create;
 *  NULL on failure. Errors as gm_net_load. */
GM_API gm_status gm_gan_load(gm_gan **out, const char *path);

/* ---- Image folders ----------------------------------------------------------- */
/*
 * A directory tree of PNG and JPEG files loaded as one in-memory set of
 * N images [N x C x S x S] of bytes (channel planes, as the engine stores
 * tensors), for training on pictures of any size: every image is composited
 * on a background colour where it has alpha, converted to RGB (C = 3) or
 * grey (C = 1, ITU-R 601-2 luma as PIL's convert("L")), centre-cropped to
 * a square and resized by exact area averaging to S x S. Batches are
 * turned into float tensors only when needed (gm_image_set_batch).
 *
 * Files: every regular file under the directory (sub-directories
 * included; names starting with '.' and symbolic links to directories are
 * ignored), in sorted path order (byte-wise strcmp of the path relative to
 * the directory), so results are the same on every run and for any thread
 * count. PNG: every colour type and bit depth (palette, grey, grey + alpha,
 * RGB, RGBA, tRNS transparency, 1 to 16 bits; 16-bit samples rounded to 8
 * bits) and interlaced files; JPEG: grey, YCbCr and RGB (baseline or
 * progressive); the format comes from the file's signature, not its name.
 * A file that is not a PNG or JPEG, is corrupt or truncated (libjpeg's
 * "corrupt data" warnings count), has a CMYK colour space, more than
 * opts->max_pixels pixels, or cannot be opened or read, is a bad file:
 * the load is refused naming it, or it is skipped and counted
 * (opts->skip_bad).
 */

/** An image set: N images of C x S x S bytes, with their file names and,
 *  optionally, labels. Opaque; read through the gm_image_set_* getters,
 *  freed with gm_image_set_free. Never changed after loading: one set may
 *  be read from several threads at once. */
typedef struct gm_image_set gm_image_set;

/** Options of gm_image_folder_load (the conventions of every options
 *  struct: see core.h). Every field has a default. */
typedef struct gm_image_folder_options {
    size_t size;            /**< sizeof(gm_image_folder_options) (set by _init) */
    size_t side;            /**< S, side of the square images, 1 .. 4096 (default 64) */
    uint32_t channels;      /**< 3: RGB, 1: grey (default 3) */
    uint32_t background;    /**< colour under transparent pixels, 0xRRGGBB
                                 (default 0xFFFFFF, white) */
    uint32_t labels;        /**< non-zero: each file's label is the index of its
                                 top-level sub-folder among the directory's sorted
                                 sub-folders; a file directly in the directory is
                                 then a bad file (default 0: no labels) */
    uint32_t skip_bad;      /**< 0: a bad file refuses the load (default); non-zero:
                                 bad files are skipped and counted */
    uint64_t max_pixels;    /**< a file with more than this many pixels (width x
                                 height) is a bad file; >= 1 (default 2^24 = 4096^2) */
    uint32_t threads;       /**< decoding threads, 1 .. 1024; 0 (default) = the
                                 library's setting, gm_get_num_threads() */
    size_t max_files;       /**< look at the first max_files files of the sorted
                                 list only; 0 (default) = all */
} gm_image_folder_options;

/** Fills opts with the defaults. @return GM_OK or GM_EINVAL (NULL). */
GM_API gm_status gm_image_folder_options_init(gm_image_folder_options *opts);

/**
 * Progress of gm_image_folder_load: `done` of `total` files decoded (bad
 * ones included). Called on the thread that called gm_image_folder_load
 * only, never concurrently, with `done` increasing, and a last time with
 * done == total when the load gets there. Return 0 to go on, non-zero to
 * cancel the load (gm_image_folder_load then returns GM_ESTATE).
 */
typedef int (*gm_image_progress_fn)(void *user, size_t done, size_t total);

/**
 * Loads every image file under directory `dir` (see above) into a new set.
 * @param[out] out    the new set, owned by the caller (gm_image_set_free);
 *                    NULL on failure.
 * @param dir         the directory; only read.
 * @param opts        NULL for the defaults (gm_image_folder_options_init).
 * @param progress    NULL or the progress callback; `user` is passed to it.
 * Threading: decodes on opts->threads threads it starts and joins before
 * returning (the result is the same bytes for any count); keeps no state:
 * calls may run on several threads at once. libpng and libjpeg errors are
 * caught per call; nothing is printed.
 * @return GM_OK (at least one image loaded); GM_EINVAL (out or dir NULL,
 *         an option out of range); GM_EIO (dir or one of its
 *         sub-directories cannot be opened or read, or, without skip_bad, a
 *         file cannot be opened or read: the message names it);
 *         GM_EFORMAT (without skip_bad: a bad file, named in the message
 *         with the reason, the first one in sorted order; also when no
 *         image is left: an empty directory or every file skipped);
 *         GM_ESTATE (the progress callback cancelled the load);
 *         GM_ENOMEM.
 */
GM_API gm_status gm_image_folder_load(gm_image_set **out, const char *dir,
                                      const gm_image_folder_options *opts,
                                      gm_image_progress_fn progress, void *user);

/** Frees a set. NULL is ignored. Pointers from its getters die with it. */
GM_API void gm_image_set_free(gm_image_set *set);

/** Number of images N (0 for NULL). */
GM_API size_t gm_image_set_count(const gm_image_set *set);
/** Channels C, 1 or 3 (0 for NULL). */
GM_API size_t gm_image_set_channels(const gm_image_set *set);
/** Side S of the square images (0 for NULL). */
GM_API size_t gm_image_set_side(const gm_image_set *set);
/** Number of bad files skipped by the load (0 for NULL). */
GM_API size_t gm_image_set_skipped(const gm_image_set *set);

/** The images, N x C x S x S bytes, image-major then channel planes, rows
 *  top to bottom. Owned by the set; NULL for NULL. */
GM_API const uint8_t *gm_image_set_data(const gm_image_set *set);

/** The N labels (values 0 .. classes - 1), or NULL when the set was
 *  loaded without labels (or set is NULL). Owned by the set. */
GM_API const int32_t *gm_image_set_labels(const gm_image_set *set);

/** Path of image i relative to the directory ('/'-separated, as found on
 *  disk); NULL when i >= N or set is NULL. Owned by the set. */
GM_API const char *gm_image_set_name(const gm_image_set *set, size_t i);

/** Number of classes (the directory's sub-folders) of a set loaded with
 *  labels; 0 otherwise. */
GM_API size_t gm_image_set_num_classes(const gm_image_set *set);

/** Name of class k (a sub-folder name); NULL when k is out of range.
 *  Owned by the set. */
GM_API const char *gm_image_set_class_name(const gm_image_set *set, size_t k);

/** How gm_image_set_batch maps a byte v to a float. */
typedef enum gm_image_range {
    GM_IMAGE_RANGE_UNIT = 0,      /**< v / 255, in [0, 1] */
    GM_IMAGE_RANGE_SYMMETRIC = 1  /**< v / 127.5 - 1, in [-1, 1] */
} gm_image_range;

/**
 * Fills `out`, a tensor [count x C x S x S], with the images
 * indices[0], ..., indices[count - 1] of the set as floats (`range`). With flip_rng non-NULL, each
 * image is mirrored left-right when a uniform draw u from flip_rng
 * (gm_rng_uniform, one value per image, in order) is < 0.5; the generator
 * advances by count draws. With flip_rng NULL nothing is flipped and no
 * generator is used.
 * Ownership: set and indices are only read; out and flip_rng are the
 * caller's, written. Threading: as any call on out and flip_rng (one
 * thread at a time for each); the set may be shared.
 * @return GM_OK; GM_EINVAL (set, indices or out NULL, count 0, an index >=
 *         N, range unknown); GM_ESHAPE (out is not [count x C x S x S]).
 *         On failure out and flip_rng are unchanged.
 */
GM_API gm_status gm_image_set_batch(const gm_image_set *set, const size_t *indices,
                                    size_t count, gm_image_range range, gm_rng *flip_rng,
                                    gm_tensor *out);

#ifdef __cplusplus
}
#endif

#endif /* GENMODEL_IO_H */
