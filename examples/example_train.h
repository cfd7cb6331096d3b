/*
 * example_train.h: what the two Fashion-MNIST training examples
 * (vae_fashion.c, dcgan_fashion.c) share around their training loops:
 * metric logs as CSV files that survive a resumed run, the check that a
 * checkpoint was made by the same architecture flags, and the output
 * folder. Header-only (static inline), C11.
 *
 * Errors are the example's to report: each function returns 0 on success
 * and -1 with a message in `why`, naming the file and the value.
 */
#ifndef EXAMPLE_TRAIN_H
#define EXAMPLE_TRAIN_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <genmodel/genmodel.h>

/* Makes the folder `dir` (one level) unless it exists. */
static inline int ex_make_dir(const char *dir, char *why, size_t cap)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) return 0;
    snprintf(why, cap, "cannot create %s: %s", dir, strerror(errno));
    return -1;
}

/*
 * Opens the CSV log `path` for appending rows whose first column is the
 * global training step, with `header` (column names, no newline) as its
 * first line. A fresh run (resume_step 0) starts a new file. A run resumed
 * at step S keeps the rows of steps <= S of an existing file with the same
 * header (an earlier run's rows past S, e.g. of a run killed after its
 * last save, are dropped) and appends after them; otherwise it starts a
 * new file. Returns the open file (the caller fcloses it) or NULL with
 * `why` filled.
 */
static inline FILE *ex_csv_open(const char *path, const char *header,
                                unsigned long long resume_step, char *why, size_t cap)
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
            if (mem == NULL) {
                fclose(old);
                snprintf(why, cap, "cannot read %s: %s", path, strerror(errno));
                return NULL;
            }
            while (fgets(line, sizeof line, old))
                if (strtoull(line, NULL, 10) <= resume_step) fputs(line, mem);
            fclose(mem);
        }
        fclose(old);
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        free(kept);
        snprintf(why, cap, "cannot write %s: %s", path, strerror(errno));
        return NULL;
    }
    fprintf(f, "%s\n", header);
    if (kept != NULL) fwrite(kept, 1, kept_len, f);
    free(kept);
    fflush(f);
    return f;
}

/*
 * Whether the net `saved` (of a checkpoint) and `made` (built from this
 * run's flags) have the same layers: kinds and parameter counts, layer by
 * layer. `what` names the net in the message ("encoder").
 */
static inline int ex_nets_match(gm_net *saved, gm_net *made, const char *what, char *why,
                                size_t cap)
{
    const size_t n = gm_net_num_layers(saved);
    if (n != gm_net_num_layers(made)) {
        snprintf(why, cap, "its %s has %zu layers, the flags make %zu", what, n,
                 gm_net_num_layers(made));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const gm_layer *a = gm_net_layer(saved, i), *b = gm_net_layer(made, i);
        if (gm_layer_get_kind(a) != gm_layer_get_kind(b) ||
            gm_layer_param_count(a) != gm_layer_param_count(b)) {
            snprintf(why, cap,
                     "its %s's layer %zu is %s with %zu parameters, the flags make %s with %zu",
                     what, i, gm_layer_name(a), gm_layer_param_count(a), gm_layer_name(b),
                     gm_layer_param_count(b));
            return -1;
        }
    }
    return 0;
}

/*
 * The number of whole epochs a checkpoint at `step` steps has trained,
 * with `steps_per_epoch` steps an epoch; -1 with `why` filled if `step` is
 * not a whole number of epochs (the batch size or the training images
 * differ from the run that saved it: a checkpoint does not record them).
 */
static inline long long ex_epochs_done(unsigned long long step, unsigned long long steps_per_epoch,
                                       char *why, size_t cap)
{
    if (step % steps_per_epoch == 0) return (long long)(step / steps_per_epoch);
    snprintf(why, cap,
             "it is at step %llu, not a whole number of epochs of %llu steps: --batch-size and "
             "--train-limit must be those of the run that saved it",
             step, steps_per_epoch);
    return -1;
}

#endif /* EXAMPLE_TRAIN_H */
