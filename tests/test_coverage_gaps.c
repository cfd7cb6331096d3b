/* SPDX-License-Identifier: MIT */
/*
 * Error paths of src/io that the other suites leave uncovered (issue 18,
 * scripts/test.sh stage coverage): every allocation of the IDX reader
 * failing in turn (plain and gzip, images and labels), a directory read
 * as an IDX file, and a file name too long for the atomic writer.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "gm_test.h"

static char g_dir[256];

static void make_dir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/gm-gaps.XXXXXX", base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(g_dir) != NULL, "mkdtemp: %s", strerror(errno));
}

static const char *path_in_dir(const char *name)
{
    static char p[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", g_dir, name);
    return p[k];
}

static void remove_dir(void)
{
    const char *names[] = {"img.idx", "img.idx.gz", "lab.idx", "lab.idx.gz"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) unlink(path_in_dir(names[i]));
    rmdir(g_dir);
}

/* An IDX file of n items of `item` bytes (ndim 3 for images, 1 for
 * labels), plain or gzip. */
static const char *write_idx(const char *name, int gz, unsigned ndim, unsigned n, unsigned h,
                             unsigned w)
{
    size_t item = ndim == 3 ? (size_t)h * w : 1, len = 4 + 4 * ndim + n * item;
    unsigned char *buf = malloc(len);
    ck_assert_ptr_nonnull(buf);
    unsigned dims[3] = {n, h, w};
    buf[0] = buf[1] = 0;
    buf[2] = 0x08;
    buf[3] = (unsigned char)ndim;
    for (unsigned d = 0; d < ndim; d++)
        for (int b = 0; b < 4; b++) buf[4 + 4 * d + b] = (unsigned char)(dims[d] >> (24 - 8 * b));
    for (size_t i = 4 + 4 * ndim; i < len; i++) buf[i] = (unsigned char)(i * 7 % 10);
    const char *path = path_in_dir(name);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzwrite(f, buf, (unsigned)len), (int)len);
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
    }
    free(buf);
    return path;
}

/* ---- an allocator failing the k-th call ---------------------------------------- */


typedef gm_status (*op_fn)(const char *path, void **made);

static gm_status op_images(const char *path, void **made)
{
    return gm_idx_load_images((gm_tensor **)made, path, 0);
}

static gm_status op_labels(const char *path, void **made)
{
    static int32_t dst[4096];
    size_t count = 0;
    (void)made;
    return gm_idx_load_labels(path, 0, dst, sizeof dst / sizeof *dst, &count);
}

/* Fails allocation 0, 1, 2, ... until op succeeds: each failure is
 * GM_ENOMEM naming fn, with *made NULL and nothing leaked. Returns the
 * number of failure points. */
static long sweep(op_fn op, const char *path, const char *fn)
{
    const gm_allocator a = GM_TEST_OOM_ALLOCATOR;
    GM_CK_OK(gm_set_allocator(&a));
    long k = 0;
    for (;; k++) {
        size_t live = gm_live_allocations();
        void *made = NULL;
        gm_test_oom_arm(k);
        gm_clear_error();
        gm_status st = op(path, &made);
        gm_test_oom_arm(-1);
        if (st == GM_OK) {
            gm_tensor_free(made);
            break;
        }
        ck_assert_msg(st == GM_ENOMEM, "%s: failing allocation %ld gave %s (%s)", fn, k,
                      gm_status_string(st), gm_last_error());
        ck_assert_msg(strstr(gm_last_error(), fn) != NULL, "message '%s'", gm_last_error());
        ck_assert_ptr_null(made);
        ck_assert_uint_eq(gm_live_allocations(), live);
        ck_assert_int_lt(k, 10000);
    }
    GM_CK_OK(gm_set_allocator(NULL));
    return k;
}

START_TEST(test_idx_out_of_memory_everywhere)
{
    make_dir();
    /* more than one 1 MiB growth step of the body buffer: a realloc too */
    const unsigned n = 1400, h = 28, w = 28;
    const char *plain = write_idx("img.idx", 0, 3, n, h, w);
    const char *gz = write_idx("img.idx.gz", 1, 3, n, h, w);
    const char *lab = write_idx("lab.idx", 0, 1, 3000, 0, 0);
    const char *labgz = write_idx("lab.idx.gz", 1, 1, 3000, 0, 0);
    long p1 = sweep(op_images, plain, "gm_idx_load_images");
    long p2 = sweep(op_images, gz, "gm_idx_load_images");
    long p3 = sweep(op_labels, lab, "gm_idx_load_labels");
    long p4 = sweep(op_labels, labgz, "gm_idx_load_labels");
    /* body, its growth and the tensor; gzip adds inflate's state */
    ck_assert_int_ge(p1, 3);
    ck_assert_int_gt(p2, p1);
    ck_assert_int_ge(p3, 1);
    ck_assert_int_gt(p4, p3);
    /* and the loads give the data */
    gm_tensor *t = NULL;
    GM_CK_OK(gm_idx_load_images(&t, gz, 0));
    ck_assert_uint_eq(gm_tensor_dim(t, 0), n);
    ck_assert_float_eq(gm_tensor_data(t)[0], (16 * 7 % 10) / 255.0f);
    gm_tensor_free(t);
    remove_dir();
}
END_TEST

START_TEST(test_idx_directory_is_a_read_error)
{
    make_dir();
    gm_tensor *t = (gm_tensor *)&t;
    GM_CK_ERR(GM_EIO, "gm_idx_load_images", gm_idx_load_images(&t, g_dir, 0));
    ck_assert_ptr_null(t);
    size_t count = 7;
    GM_CK_ERR(GM_EIO, "gm_idx_load_labels", gm_idx_load_labels(g_dir, 0, NULL, 0, &count));
    ck_assert_uint_eq(count, 7);
    remove_dir();
}
END_TEST

START_TEST(test_atomic_path_too_long)
{
    make_dir();
    size_t len = 8192;
    char *path = malloc(len + 1);
    ck_assert_ptr_nonnull(path);
    int k = snprintf(path, len + 1, "%s/", g_dir);
    memset(path + k, 'a', len - (size_t)k);
    path[len] = '\0';
    size_t shape[4] = {1, 1, 2, 2};
    gm_tensor *img = NULL;
    GM_CK_OK(gm_tensor_create(&img, 4, shape));
    /* a name longer than NAME_MAX: the system refuses it (ENAMETOOLONG) */
    GM_CK_ERR(GM_EIO, "gm_png_write_grid", gm_png_write_grid(path, img, 1, 1, 0, 0.0f));
    ck_assert_int_ne(access(path, F_OK), 0);
    gm_tensor_free(img);
    free(path);
    remove_dir();
}
END_TEST

static Suite *gaps_suite(void)
{
    Suite *s = suite_create("coverage_gaps");
    TCase *tc = tcase_create("io");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_idx_out_of_memory_everywhere);
    tcase_add_test(tc, test_idx_directory_is_a_read_error);
    tcase_add_test(tc, test_atomic_path_too_long);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return gm_run_suite(gaps_suite()); }
