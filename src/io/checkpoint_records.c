/* SPDX-License-Identifier: MIT */
/* A model's options section (io/checkpoint_internal.h): version 2's
 * tagged records, read through the model's table of option fields
 * (core/record.h), and version 1's fixed layout, which is the table's
 * first fields in order. Nothing here names a VAE or GAN option. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/checkpoint_internal.h"

/* Bytes of a scalar record's value (0: not a scalar type). */
static size_t gm__rec_size(uint32_t type)
{
    switch (type) {
    case GM__REC_U32:
    case GM__REC_I32:
    case GM__REC_F32: return 4;
    case GM__REC_U64: return 8;
    default: return 0;
    }
}

/* The stored value at p of field f as a double (bounds) and as text. */
static double gm__rec_value(const gm__opt_field *f, const unsigned char *p, char *text,
                            size_t cap)
{
    const uint32_t u = gm__rd32(p);
    int32_t i;
    float x;
    uint64_t v;
    switch (f->type) {
    case GM__REC_U32:
        snprintf(text, cap, "%lu", (unsigned long)u);
        return u;
    case GM__REC_I32:
        memcpy(&i, &u, 4);
        snprintf(text, cap, "%ld", (long)i);
        return i;
    case GM__REC_U64:
        v = (uint64_t)u | (uint64_t)gm__rd32(p + 4) << 32;
        snprintf(text, cap, "%llu", (unsigned long long)v);
        return (double)v;
    default: /* F32 */
        memcpy(&x, &u, 4);
        snprintf(text, cap, "%g", (double)x);
        return x;
    }
}

/* Checks the stored value at p against f's bounds, then puts it into its
 * field of opts. */
static gm_status gm__set_field(const gm__opt_field *f, const unsigned char *p, void *opts,
                               const gm__rbuf *r)
{
    char text[32];
    const double d = gm__rec_value(f, p, text, sizeof text);
    if (!(d >= f->lo && d <= f->hi))
        return gm__set_error(GM_EFORMAT, r->fn, "%s: %s %s is not in [%g, %g]", r->what, f->name,
                             text, f->lo, f->hi);
    unsigned char *dst = (unsigned char *)opts + f->offset;
    if (f->type != GM__REC_U64) {
        const uint32_t u = gm__rd32(p);
        memcpy(dst, &u, 4);
    } else if (f->size == sizeof(uint64_t)) {
        const uint64_t v = (uint64_t)gm__rd32(p) | (uint64_t)gm__rd32(p + 4) << 32;
        memcpy(dst, &v, 8);
    } else { /* a size_t of 32 bits: the bounds kept it small */
        const size_t v = (size_t)gm__rd32(p);
        memcpy(dst, &v, sizeof v);
    }
    return GM_OK;
}

/* Version 1: the fields of rows [0, nv1) at fixed offsets, then the step
 * count (slots[0]). */
static gm_status gm__get_options_v1(gm__rbuf *r, const gm__opt_field *fields, size_t nv1,
                                    void *opts, gm__rec_slot *steps)
{
    for (size_t i = 0; i < nv1; i++) {
        const size_t n = gm__rec_size(fields[i].type);
        GM_TRY(gm__need(r, n));
        GM_TRY(gm__set_field(&fields[i], r->p + r->off, opts, r));
        r->off += n;
    }
    GM_TRY(gm__need(r, 8));
    steps->value = (gm__rbuf){r->p + r->off, 8, 0, r->fn, r->what, r->base + r->off, r->version};
    steps->seen = 1;
    r->off += 8;
    return GM_OK;
}

/* The record (id, type) is known as a field or slot: checks its type,
 * length and that it was not seen before. */
static gm_status gm__check_record(const gm__rbuf *r, uint32_t id, uint32_t type, uint32_t want,
                                  uint64_t len, int *seen, const char *name)
{
    if (*seen)
        return gm__set_error(GM_EFORMAT, r->fn, "%s: record %u (%s) appears twice", r->what,
                             (unsigned)id, name);
    *seen = 1;
    if (type != want)
        return gm__set_error(GM_EFORMAT, r->fn, "%s: record %u (%s) has type %u, expected %u",
                             r->what, (unsigned)id, name, (unsigned)type, (unsigned)want);
    const size_t n = gm__rec_size(type);
    if (n ? len != n : len % 4 != 0)
        return gm__set_error(GM_EFORMAT, r->fn, "%s: record %u (%s) has %llu bytes, expected %s",
                             r->what, (unsigned)id, name, (unsigned long long)len,
                             n == 8 ? "8" : n == 4 ? "4" : "a multiple of 4");
    return GM_OK;
}

/* One version-2 record whose header was read: a field, a slot, an
 * optional record skipped, or refused. */
static gm_status gm__get_record(const gm__rbuf *r, uint32_t id, uint32_t tf,
                                const gm__rbuf *val, const gm__opt_field *fields, size_t n,
                                void *opts, uint64_t *seen, gm__rec_slot *slots, size_t nslots)
{
    const uint32_t type = tf & GM__REC_TYPE_MASK;
    if ((tf & ~(GM__REC_TYPE_MASK | GM__REC_OPTIONAL)) != 0)
        return gm__set_error(GM_EFORMAT, r->fn, "%s: record %u has unknown flags %08x",
                             r->what, (unsigned)id, (unsigned)tf);
    for (size_t i = 0; i < n; i++) {
        if (fields[i].id != id) continue;
        int was = (int)(*seen >> i & 1u);
        GM_TRY(gm__check_record(r, id, type, fields[i].type, val->len, &was, fields[i].name));
        *seen |= (uint64_t)1 << i;
        return gm__set_field(&fields[i], val->p, opts, r);
    }
    for (size_t k = 0; k < nslots; k++) {
        if (slots[k].id != id) continue;
        GM_TRY(gm__check_record(r, id, type, slots[k].type, val->len, &slots[k].seen,
                                id == GM__REC_STEPS ? "steps" : "state"));
        slots[k].value = *val;
        return GM_OK;
    }
    if (tf & GM__REC_OPTIONAL) return GM_OK; /* a later library's optional record */
    return gm__set_error(GM_EFORMAT, r->fn,
                         "%s: record %u is unknown to this library (%s) and not marked "
                         "optional (a later library's option?)",
                         r->what, (unsigned)id, GM_VERSION_STRING);
}

gm_status gm__get_options(gm__rbuf *r, const gm__opt_field *fields, size_t n, size_t nv1,
                          void *opts, gm__rec_slot *slots, size_t nslots)
{
    if (r->version == 1) return gm__get_options_v1(r, fields, nv1, opts, &slots[0]);
    uint64_t seen = 0; /* bit i: fields[i] was read (n <= 64) */
    while (r->off < r->len) {
        uint32_t id, tf;
        uint64_t len;
        GM_TRY(gm__get_u32(r, &id));
        GM_TRY(gm__get_u32(r, &tf));
        GM_TRY(gm__get_u64(r, &len));
        if (len > r->len - r->off)
            return gm__set_error(GM_EFORMAT, r->fn,
                                 "truncated %s: record %u says %llu bytes, %zu are left", r->what,
                                 (unsigned)id, (unsigned long long)len, r->len - r->off);
        const gm__rbuf val = {r->p + r->off, (size_t)len, 0, r->fn, r->what,
                              r->base + r->off, r->version};
        r->off += (size_t)len;
        GM_TRY(gm__get_record(r, id, tf, &val, fields, n, opts, &seen, slots, nslots));
    }
    return GM_OK;
}
