/* SPDX-License-Identifier: MIT */
/* The checkpoint code's private parts, shared by src/io/checkpoint*.c:
 * the layout constants, the write buffer, the bounds-checked read cursor
 * and the option records (format in include/genmodel/io.h and
 * docs/ARCHITECTURE.md, "Checkpoints"). Not installed.
 *
 * Layout, all little-endian:
 *   header   magic[8] u32 version, u32 kind, u32 sections, u32 crc(bytes 0..20)
 *   section  u32 tag, u32 crc32(payload), u64 length, payload
 * A net file has one NET section; a VAE or GAN file has NET (encoder /
 * generator), NET (decoder / discriminator), OPTM, OPTM, RNGS and its
 * options section, in that order.
 *
 * The options section, version 2: records until the section's end, each
 *   u32 id, u32 type | flags, u64 length, value[length]
 * ids 1 .. 255 are the model's option fields (its gm__opt_field table),
 * 256 and up state records (GM__REC_STEPS, GM__REC_EMA, GM__REC_DDONE). A missing option
 * keeps the default of the model's _options_init; an unknown id is refused
 * unless its flags have GM__REC_OPTIONAL, then skipped; an id twice is
 * refused. Version 1: the table's first fields at fixed offsets in table
 * order, then u64 steps, then (GAN) the optional moving-average tail
 * f32 ema_decay, u64 count, floats.
 *
 * Fuzzing builds (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, libFuzzer's
 * convention) skip the CRC comparisons so that mutated inputs reach the
 * parsers behind them. */
#ifndef GM_IO_CHECKPOINT_INTERNAL_H
#define GM_IO_CHECKPOINT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <genmodel/io.h>

#include "core/record.h"
#include "engine/engine.h"

enum { GM__CK_NET = 1, GM__CK_VAE = 2, GM__CK_GAN = 3 };

#define GM__CK_HEADER 24
#define GM__CK_SECTION 16
#define GM__CK_RECORD 16 /* a record's header: id, type | flags, length */
#define GM__CK_MAX_LAYERS 65536
#define GM__CK_MAX_FILE ((uint64_t)1 << 40) /* 1 TiB: more is not a checkpoint */
/* Bytes of a layer record before its floats: kind, trainable, u[5], f[3],
 * nparams, nstate. */
#define GM__CK_LAYER_FIXED (4 + 4 + 5 * 8 + 3 * 4 + 8 + 8)

#define GM__TAG(a, b, c, d) \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define GM__TAG_NET GM__TAG('N', 'E', 'T', ' ')
#define GM__TAG_OPT GM__TAG('O', 'P', 'T', 'M')
#define GM__TAG_RNG GM__TAG('R', 'N', 'G', 'S')
#define GM__TAG_VAE GM__TAG('V', 'A', 'E', 'O')
#define GM__TAG_GAN GM__TAG('G', 'A', 'N', 'O')

/* Record flags (above the type's low byte) and the state records' ids. */
#define GM__REC_OPTIONAL 0x100u /* a reader that does not know the id skips it */
#define GM__REC_TYPE_MASK 0xffu
#define GM__REC_STEPS 256u /* U64: the model's step count */
#define GM__REC_EMA 257u   /* F32S: the GAN's moving average of G (ema_decay > 0) */
/* U32, optional: the GAN's critic updates since its last generator update,
 * written when not 0 (a save between the parts of a split step); lazy R1
 * counts from it. Optional: a library before it loads the file as one
 * saved at the step's start, as it did. */
#define GM__REC_DDONE 258u

const char *gm__ck_kind_name(uint32_t kind);
uint32_t gm__ck_crc(const unsigned char *p, size_t n);
uint32_t gm__rd32(const unsigned char *b);

/* ---- writing (checkpoint_write.c) ------------------------------------- */
typedef struct gm__wbuf {
    unsigned char *p;
    size_t len, cap;
    int oom;        /* an allocation failed: the rest is skipped */
    size_t section; /* offset of the open section's header */
} gm__wbuf;

void gm__put(gm__wbuf *w, const void *src, size_t n);
void gm__put_u32(gm__wbuf *w, uint32_t v);
void gm__put_u64(gm__wbuf *w, uint64_t v);
void gm__put_f32(gm__wbuf *w, float f);
void gm__put_floats(gm__wbuf *w, const float *x, size_t n);
void gm__section_begin(gm__wbuf *w, uint32_t tag);
void gm__section_end(gm__wbuf *w);
/* A record's header (its value follows: length bytes). */
void gm__put_record_head(gm__wbuf *w, uint32_t id, uint32_t type, uint64_t length);
/* One record per row of fields[0 .. n), the values read from opts. */
void gm__put_options(gm__wbuf *w, const gm__opt_field *fields, size_t n, const void *opts);

/* ---- reading (checkpoint_read.c) --------------------------------------- */
/* A bounds-checked cursor over one section's payload (or the header). */
typedef struct gm__rbuf {
    const unsigned char *p;
    size_t len, off;
    const char *fn;
    const char *what; /* the part being read, for messages */
    size_t base;      /* file offset of p[0], for messages */
    uint32_t version; /* the file's format version */
} gm__rbuf;

gm_status gm__need(gm__rbuf *r, size_t n);
gm_status gm__get_u32(gm__rbuf *r, uint32_t *v);
gm_status gm__get_u64(gm__rbuf *r, uint64_t *v);
gm_status gm__get_f32(gm__rbuf *r, float *f);
/* A u64 count as size_t, at most max. */
gm_status gm__get_count(gm__rbuf *r, size_t *n, uint64_t max, const char *name);
/* n finite floats into dst (NULL: only checked and skipped). */
gm_status gm__get_floats(gm__rbuf *r, float *dst, size_t n, const char *name);
/* The file header: magic, version, kind (must be want), section count;
 * *rest receives the cursor past it (its version set). */
gm_status gm__get_header(const unsigned char *buf, size_t len, uint32_t want,
                         uint32_t want_sections, const char *fn, gm__rbuf *rest);
/* The next section, which must have tag `tag`: *payload is a cursor over
 * it (its CRC checked), and file moves past it. */
gm_status gm__get_section(gm__rbuf *file, uint32_t tag, const char *what, gm__rbuf *payload);
/* A section's payload must be used up exactly. */
gm_status gm__get_end(const gm__rbuf *r);
/* Reads the whole file at path into a new buffer. */
gm_status gm__read_file(const char *path, const char *fn, unsigned char **buf, size_t *len);

/* ---- nets and optimizers (checkpoint_net.c) ---------------------------- */
void gm__put_net(gm__wbuf *w, const gm_net *net);
void gm__put_opt(gm__wbuf *w, const gm_optimizer *opt);
/* A NET section into a new net. */
gm_status gm__get_net_section(gm__rbuf *file, const char *what, gm_net **out);

/* An OPTM section: the settings, the step count and the moments (left in
 * the file image, checked finite). */
typedef struct gm__opt_rec {
    gm_optimizer_options o;
    uint64_t t;
    size_t n;
    uint32_t slots;
    gm__rbuf moments; /* cursor at the moments */
} gm__opt_rec;

gm_status gm__get_opt(gm__rbuf *r, gm__opt_rec *rec);
/* Puts a record's step count and moments into opt (made from rec->o). */
gm_status gm__set_opt(const gm__opt_rec *rec, gm_optimizer *opt, const char *fn);

/* ---- option records (checkpoint_records.c) ----------------------------- */
/* A state record the caller takes (id and type in, where out). */
typedef struct gm__rec_slot {
    uint32_t id;
    gm__rec_type type;
    int seen;
    gm__rbuf value; /* a cursor over its value */
} gm__rec_slot;

/* Reads an options section (r->version's layout) into opts (already
 * holding the defaults: a missing record keeps its field's) and the state
 * records into slots[0 .. nslots), GM__REC_STEPS first. Version 1: the
 * fields of table rows [0, nv1) and the step count; the rest of the
 * section is left at r->off. fields has at most 64 rows. */
gm_status gm__get_options(gm__rbuf *r, const gm__opt_field *fields, size_t n, size_t nv1,
                          void *opts, gm__rec_slot *slots, size_t nslots);

#endif
