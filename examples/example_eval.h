/* SPDX-License-Identifier: MIT */
/*
 * example_eval.h: the evaluation table that evaluate.c (Fashion-MNIST) and
 * evaluate_colour.c (image folders) print: one row per set of images, a
 * gm_eval_report each, as a Markdown table and as key=value pairs.
 * Header-only (static inline), C11.
 */
#ifndef EXAMPLE_EVAL_H
#define EXAMPLE_EVAL_H

#include <math.h>
#include <stdio.h>

#include <genmodel/genmodel.h>

/* One row of the table: its name, its report, whether it was measured. */
typedef struct {
    const char *name;
    gm_eval_report r;
    int done;
} row;

static inline void print_row(const row *w)
{
    if (!w->done) {
        printf("| %-19s | %8s | %9s | %6s | %7s | %8s | %22s | %12s |\n", w->name, "-", "-", "-",
               "-", "-", "(no model)", "-");
        return;
    }
    char iwae[32] = "-";
    if (!isnan(w->r.iwae_nll)) snprintf(iwae, sizeof iwae, "%.2f", w->r.iwae_nll);
    printf("| %-19s | %8.2f | %9.3f | %6.3f | %7.3f | %8.3f | %6.2f / %5.2f / %5.2f | %12s |\n",
           w->name, w->r.frechet, w->r.precision, w->r.recall, w->r.density, w->r.coverage,
           w->r.nearest.mean, w->r.nearest.q05, w->r.nearest.min, iwae);
}

/* The table's header and rows table[0..n). */
static inline void print_table(const row *table, int n)
{
    printf("\n| %-19s | %8s | %9s | %6s | %7s | %8s | %22s | %12s |\n", "images", "Frechet",
           "precision", "recall", "density", "coverage", "NN dist mean/q05/min", "IWAE -log p");
    printf("|%s|%s|%s|%s|%s|%s|%s|%s|\n", "---------------------", "----------", "-----------",
           "--------", "---------", "----------", "------------------------", "--------------");
    for (int r = 0; r < n; r++) print_row(&table[r]);
}

/* " KEY_fd=... KEY_precision=..." for each measured row (keys[r] names
 * row r), on the current line. */
static inline void print_keys(const row *table, const char *const *keys, int n)
{
    for (int r = 0; r < n; r++)
        if (table[r].done)
            printf(" %s_fd=%.3f %s_precision=%.4f %s_recall=%.4f %s_density=%.4f "
                   "%s_coverage=%.4f", keys[r], table[r].r.frechet, keys[r], table[r].r.precision,
                   keys[r], table[r].r.recall, keys[r], table[r].r.density, keys[r],
                   table[r].r.coverage);
}

/* Whether the model rows 2, 3 and 6 to n - 1 (those measured) have
 * Frechet distances between the best reference (row 0) and the better of
 * the two bad ones (rows 4 and 5); prints a line per model saying so. */
static inline int print_between(const row *table, int n)
{
    const double best = table[0].r.frechet;
    const double bad = fmin(table[4].r.frechet, table[5].r.frechet);
    int between = 1;
    for (int r = 2; r < n; r++) {
        if (!table[r].done || r == 4 || r == 5) continue;
        const int ok = best < table[r].r.frechet && table[r].r.frechet < bad;
        between &= ok;
        printf("%s: Frechet distance %.2f %s between the best reference (%.2f) and the bad ones "
               "(from %.2f)\n",
               table[r].name, table[r].r.frechet, ok ? "lies" : "does NOT lie", best, bad);
    }
    return between;
}

/* Whether the file exists and can be read. */
static inline int exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

#endif /* EXAMPLE_EVAL_H */
