/* SPDX-License-Identifier: MIT */
/*
 * example_args.h: the command-line parser every example program shares, so
 * that each one gets the same `--help` (each option's meaning, range and
 * default) and the same treatment of mistakes, without a copy of the
 * parsing loop in every file. Header-only (static inline), C11 and C++17.
 *
 * Use: describe the options in an array, with each variable holding its
 * default, then parse:
 *
 *     int epochs = 10;
 *     const char *out = "out";
 *     ex_option opts[] = {
 *         EX_INT("--epochs", &epochs, 1, 100000, "passes over the training images"),
 *         EX_STR("--out", &out, "DIR", "where the pictures go"),
 *     };
 *     ex_parse(argc, argv, "prog", "One line or more about what prog does.",
 *              opts, EX_COUNT(opts));
 *
 * ex_parse accepts `--name VALUE` and `--name=VALUE` in any order (a later
 * one wins), and `--help` or `-h`: it prints "usage: prog [options]", the
 * about text and a line per option with its default, to stdout, and exits
 * 0. An unknown option, a missing value, a value that is not a number of
 * the option's kind (the whole word must be one) or one outside the
 * option's range prints what is wrong and the same help to stderr and
 * exits 2. Nothing is written to a variable unless its value is valid.
 * Positional arguments are not accepted.
 *
 * Because the arguments are read in order and --help stops there,
 * `prog ARGS... --help` exits 0 exactly when ARGS are valid: a script can
 * check options before a long run (scripts/demo.sh does).
 *
 * ex_given(opts, n, "--name") tells whether an option was on the command
 * line (e.g. to keep a checkpoint's setting unless the user overrode it).
 */
#ifndef EXAMPLE_ARGS_H
#define EXAMPLE_ARGS_H

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    EX_KIND_INT,    /* int, whole numbers in [min, max] */
    EX_KIND_SIZE,   /* size_t, whole numbers >= 0 in [min, max] */
    EX_KIND_U64,    /* unsigned long long, any whole number >= 0 */
    EX_KIND_FLOAT,  /* float, finite numbers in [min, max] */
    EX_KIND_DOUBLE, /* double, finite numbers in [min, max] */
    EX_KIND_STR,    /* const char *, any word (NULL default: "none") */
    EX_KIND_FLAG    /* int set to 1 by the option alone (no value) */
} ex_kind;

/* One option. Make it with the EX_ macros below, which fill every field
 * and check the variable's type; `given` is set by ex_parse. */
typedef struct {
    const char *name; /* "--epochs" */
    ex_kind kind;
    int *i;           /* EX_KIND_INT and EX_KIND_FLAG */
    size_t *z;
    unsigned long long *u;
    float *f;
    double *d;
    const char **s;
    const char *meta; /* what the value is called in the help: N, DIR, FILE */
    double min, max;  /* range of a number (both ends allowed) */
    const char *help; /* what it does, one sentence */
    int given;        /* set by ex_parse: the option was on the command line */
} ex_option;

/* name: "--x"; dst: the variable (holding its default); lo, hi: the range;
 * meta: the value's name in the help; help: what the option does. */
#define EX_INT(name, dst, lo, hi, help) \
    {name, EX_KIND_INT, (dst), NULL, NULL, NULL, NULL, NULL, "N", (lo), (hi), help, 0}
#define EX_SIZE(name, dst, lo, hi, help) \
    {name, EX_KIND_SIZE, NULL, (dst), NULL, NULL, NULL, NULL, "N", (lo), (hi), help, 0}
#define EX_U64(name, dst, help) \
    {name, EX_KIND_U64, NULL, NULL, (dst), NULL, NULL, NULL, "N", 0, 0, help, 0}
#define EX_FLOAT(name, dst, lo, hi, help) \
    {name, EX_KIND_FLOAT, NULL, NULL, NULL, (dst), NULL, NULL, "X", (lo), (hi), help, 0}
#define EX_DOUBLE(name, dst, lo, hi, help) \
    {name, EX_KIND_DOUBLE, NULL, NULL, NULL, NULL, (dst), NULL, "X", (lo), (hi), help, 0}
#define EX_STR(name, dst, meta, help) \
    {name, EX_KIND_STR, NULL, NULL, NULL, NULL, NULL, (dst), meta, 0, 0, help, 0}
#define EX_FLAG(name, dst, help) \
    {name, EX_KIND_FLAG, (dst), NULL, NULL, NULL, NULL, NULL, "", 0, 0, help, 0}

#define EX_COUNT(array) (sizeof(array) / sizeof((array)[0]))

/* The option's current value as text (its default before parsing). */
static inline void ex_value_text(const ex_option *o, char *buf, size_t cap)
{
    switch (o->kind) {
    case EX_KIND_INT: snprintf(buf, cap, "%d", *o->i); break;
    case EX_KIND_SIZE: snprintf(buf, cap, "%zu", *o->z); break;
    case EX_KIND_U64: snprintf(buf, cap, "%llu", *o->u); break;
    case EX_KIND_FLOAT: snprintf(buf, cap, "%g", (double)*o->f); break;
    case EX_KIND_DOUBLE: snprintf(buf, cap, "%g", *o->d); break;
    case EX_KIND_STR: snprintf(buf, cap, "%s", *o->s ? *o->s : "none"); break;
    case EX_KIND_FLAG: snprintf(buf, cap, "%s", *o->i ? "on" : "off"); break;
    }
}

/* Prints the help: usage line, about text, one entry per option (its
 * meaning, range and default, wrapped to 80 columns). */
static inline void ex_print_help(FILE *f, const char *prog, const char *about,
                                 const ex_option *opts, size_t n)
{
    enum { INDENT = 25, WIDTH = 79 };
    fprintf(f, "usage: %s [options]\n\n%s\n\noptions:\n", prog, about);
    for (size_t k = 0; k <= n; k++) {
        char head[64], def[256], range[96] = "", text[1024];
        if (k == n) { /* --help itself */
            snprintf(head, sizeof head, "--help");
            snprintf(text, sizeof text, "print this help and exit");
        } else {
            const ex_option *o = &opts[k];
            snprintf(head, sizeof head, "%s%s%s", o->name, o->meta[0] ? " " : "", o->meta);
            ex_value_text(o, def, sizeof def);
            if (o->kind == EX_KIND_INT || o->kind == EX_KIND_SIZE)
                snprintf(range, sizeof range, "%.0f to %.0f; ", o->min, o->max);
            else if (o->kind == EX_KIND_FLOAT || o->kind == EX_KIND_DOUBLE)
                snprintf(range, sizeof range, "%g to %g; ", o->min, o->max);
            snprintf(text, sizeof text, "%s (%sdefault %s)", o->help, range, def);
        }
        fprintf(f, "  %-*s", INDENT - 3, head);
        int col = INDENT - 1;
        if (strlen(head) > INDENT - 3) { /* a long name: its text on the next line */
            fprintf(f, "\n%*s", INDENT - 1, "");
        }
        for (const char *w = text; *w;) { /* word by word */
            size_t len = strcspn(w, " ");
            if (col > INDENT - 1 && col + 1 + (int)len > WIDTH) {
                fprintf(f, "\n%*s", INDENT - 1, "");
                col = INDENT - 1;
            }
            fprintf(f, "%s%.*s", col > INDENT - 1 ? " " : "", (int)len, w);
            col += (col > INDENT - 1) + (int)len;
            w += len;
            while (*w == ' ') w++;
        }
        fputc('\n', f);
    }
}

/* Reads `text` as o's kind into o's variable. 0, or -1 with `why` filled. */
static inline int ex_set(ex_option *o, const char *text, char *why, size_t cap)
{
    char *end = NULL;
    errno = 0;
    if (o->kind == EX_KIND_STR) {
        *o->s = text;
        return 0;
    }
    if (o->kind == EX_KIND_FLOAT || o->kind == EX_KIND_DOUBLE) {
        const double v = strtod(text, &end);
        if (end == text || *end != '\0' || errno == ERANGE || !isfinite(v) || v < o->min ||
            v > o->max) {
            snprintf(why, cap, "expects a number from %g to %g, got '%s'", o->min, o->max, text);
            return -1;
        }
        if (o->kind == EX_KIND_FLOAT) *o->f = (float)v;
        else *o->d = v;
        return 0;
    }
    /* whole numbers: digits only (no sign, no spaces) */
    const unsigned long long v = strtoull(text, &end, 10);
    const int bad = text[0] < '0' || text[0] > '9' || *end != '\0' || errno == ERANGE;
    if (o->kind == EX_KIND_U64) {
        if (bad) {
            snprintf(why, cap, "expects a whole number >= 0, got '%s'", text);
            return -1;
        }
        *o->u = v;
        return 0;
    }
    if (bad || (double)v < o->min || (double)v > o->max || v > SIZE_MAX) {
        snprintf(why, cap, "expects a whole number from %.0f to %.0f, got '%s'", o->min, o->max,
                 text);
        return -1;
    }
    if (o->kind == EX_KIND_INT) *o->i = (int)v;
    else *o->z = (size_t)v;
    return 0;
}

/* Parses argv into the options' variables; exits on --help (0) and on any
 * mistake (2), as the file comment says. */
static inline void ex_parse(int argc, char **argv, const char *prog, const char *about,
                            ex_option *opts, size_t n)
{
    char why[512];
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a], *eq = strchr(arg, '=');
        const size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            ex_print_help(stdout, prog, about, opts, n);
            exit(0);
        }
        ex_option *o = NULL;
        for (size_t k = 0; k < n && o == NULL; k++)
            if (strlen(opts[k].name) == len && strncmp(arg, opts[k].name, len) == 0) o = &opts[k];
        if (o == NULL) {
            snprintf(why, sizeof why, "unknown option '%s'", arg);
        } else if (o->kind == EX_KIND_FLAG) {
            if (eq == NULL) {
                *o->i = 1;
                o->given = 1;
                continue;
            }
            snprintf(why, sizeof why, "%s takes no value", o->name);
        } else if (eq == NULL && a + 1 >= argc) {
            snprintf(why, sizeof why, "%s needs a value (%s)", o->name, o->meta);
        } else {
            char reason[400];
            if (ex_set(o, eq ? eq + 1 : argv[++a], reason, sizeof reason) == 0) {
                o->given = 1;
                continue;
            }
            snprintf(why, sizeof why, "%s %s", o->name, reason);
        }
        fprintf(stderr, "%s: %s\n\n", prog, why);
        ex_print_help(stderr, prog, about, opts, n);
        exit(2);
    }
}

/* Whether the option called `name` was on the command line (after ex_parse). */
static inline int ex_given(const ex_option *opts, size_t n, const char *name)
{
    for (size_t k = 0; k < n; k++)
        if (strcmp(opts[k].name, name) == 0) return opts[k].given;
    return 0;
}

#endif /* EXAMPLE_ARGS_H */
