/* SPDX-License-Identifier: MIT */
/*
 * example_train.h: what the two Fashion-MNIST training examples
 * (vae_fashion.c, dcgan_fashion.c) share around their training loops:
 * metric logs as CSV files that survive a resumed run, the check that a
 * checkpoint was made by the same architecture flags, and the output
 * folder. Header-only (static inline), C11.
 *
 * Each function takes the program's name `prog`: on an error it prints
 * "PROG: what went wrong" (naming the file and the value) to stderr and
 * exits 1, so that the examples stay about training.
 */
#ifndef EXAMPLE_TRAIN_H
#define EXAMPLE_TRAIN_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <genmodel/genmodel.h>

/* Prints "PROG: " and the printf-style message to stderr, exits 1. */
static inline void ex_fail(const char *prog, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static inline void ex_fail(const char *prog, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* Makes the folder `dir` (one level) unless it exists. */
static inline void ex_make_dir(const char *prog, const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        ex_fail(prog, "cannot create %s: %s", dir, strerror(errno));
}

/*
 * Opens the CSV log `path` for appending rows whose first column is the
 * global training step, with `header` (column names, no newline) as its
 * first line. A fresh run (resume_step 0) starts a new file. A run resumed
 * at step S keeps the rows of steps <= S of an existing file with the same
 * header (an earlier run's rows past S, e.g. of a run killed after its
 * last save, are dropped) and appends after them; otherwise it starts a
 * new file. Returns the open file; the caller fcloses it.
 */
static inline FILE *ex_csv_open(const char *prog, const char *path, const char *header,
                                unsigned long long resume_step)
{
    char *kept = NULL;
    size_t kept_len = 0;
    FILE *old = resume_step > 0 ? fopen(path, "r") : NULL;
    if (old != NULL) {
        char line[4096];
        size_t hlen = strlen(header);
        if (fgets(line, sizeof line, old) && strncmp(line, header, hlen) == 0 &&
            (line[hlen] == '\n' || line[hlen] == '\0')) {
            FILE *mem = open_memstream(&kept, &kept_len);
            if (mem == NULL) ex_fail(prog, "cannot read %s: %s", path, strerror(errno));
            while (fgets(line, sizeof line, old))
                if (strtoull(line, NULL, 10) <= resume_step) fputs(line, mem);
            fclose(mem);
        }
        fclose(old);
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) ex_fail(prog, "cannot write %s: %s", path, strerror(errno));
    fprintf(f, "%s\n", header);
    if (kept != NULL) fwrite(kept, 1, kept_len, f);
    free(kept);
    fflush(f);
    return f;
}

/*
 * Checks that the net `saved` of the checkpoint `file` and `made` (built
 * from this run's flags, named in `flags`, e.g. "--hidden 400") have the
 * same layers: kinds and parameter counts, layer by layer. `what` names
 * the net in the message ("encoder").
 */
static inline void ex_check_net(const char *prog, const char *file, gm_net *saved, gm_net *made,
                                const char *what, const char *flags)
{
    const size_t n = gm_net_num_layers(saved);
    if (n != gm_net_num_layers(made))
        ex_fail(prog, "%s does not fit %s: its %s has %zu layers, the flags make %zu", file, flags,
                what, n, gm_net_num_layers(made));
    for (size_t i = 0; i < n; i++) {
        const gm_layer *a = gm_net_layer(saved, i), *b = gm_net_layer(made, i);
        if (gm_layer_get_kind(a) != gm_layer_get_kind(b) ||
            gm_layer_param_count(a) != gm_layer_param_count(b))
            ex_fail(prog, "%s does not fit %s: its %s's layer %zu is %s with %zu parameters, the "
                    "flags make %s with %zu", file, flags, what, i, gm_layer_name(a),
                    gm_layer_param_count(a), gm_layer_name(b), gm_layer_param_count(b));
    }
}

/*
 * The number of whole epochs the checkpoint `file`, at `step` steps, has
 * trained, with `steps_per_epoch` steps an epoch; fails if `step` is not a
 * whole number of epochs (the batch size or the training images differ
 * from the run that saved it: a checkpoint does not record them). Prints
 * "resumed from FILE: epoch E, step S".
 */
static inline int ex_epochs_done(const char *prog, const char *file, unsigned long long step,
                                 unsigned long long steps_per_epoch)
{
    if (step % steps_per_epoch != 0)
        ex_fail(prog, "%s is at step %llu, not a whole number of epochs of %llu steps: "
                "--batch-size and --train-limit must be those of the run that saved it",
                file, step, steps_per_epoch);
    printf("resumed from %s: epoch %llu, step %llu\n", file, step / steps_per_epoch, step);
    return (int)(step / steps_per_epoch);
}

#endif /* EXAMPLE_TRAIN_H */
