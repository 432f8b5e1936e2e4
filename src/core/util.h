/* util.h - small helpers shared by every layer: clocks, strict number
 * parsing (never atoi), and growable byte buffers for building text. */
#ifndef CELLAR_CORE_UTIL_H
#define CELLAR_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define CL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CL_MAX(a, b) ((a) > (b) ? (a) : (b))

/* monotonic seconds */
double cl_now(void);

/* "h:mm:ss" or "m:ss" */
void format_duration(double seconds, char *out, size_t cap);

/* a code point as UTF-8 into out (room for 4 bytes); returns the bytes written */
size_t cl_utf8_put(uint32_t c, char *out);

/* Parse a whole string as a number; trailing garbage, overflow and empty
 * input are errors.  `what` names the value in the message
 * ("--epochs: expected an integer, got 'x'"). */
int parse_long(const char *s, long lo, long hi, long *out, const char *what, cl_err *err);
int parse_double(const char *s, double *out, const char *what, cl_err *err);

/* A growable text buffer; `s` is always NUL-terminated when non-NULL. */
typedef struct cl_buf {
    char *s;
    size_t len, cap;
} cl_buf;

int buf_printf(cl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(cl_buf *b);

/* Room for `need` items in a growable array: arr is the address of its
 * pointer (T **), size an item's bytes, *cap the items it has room for.
 * When need > *cap the array is reallocated to twice *cap (first when
 * *cap is 0), doubled until need fits.  0, or -1 when out of memory or the
 * count would overflow, the array and *cap as they were. */
int cl_grow(void *arr, size_t size, int need, int *cap, int first);

/* The name of `names` (n of them, or up to a NULL when n < 0) nearest
 * to word[0..len): a letter or two mistyped, missed, added or swapped
 * ("--epoch", "trian", "sep_conv_3x5"); NULL when none is that near.
 * For "did you mean" in messages. */
const char *cl_nearest(const char *word, size_t len, const char *const *names, int n);
/* ": did you mean PRE NAME POST?" (no spaces) for that nearest name, in
 * buf, or "" when there is none: a message's suffix */
const char *cl_did_you_mean(const char *word, size_t len, const char *const *names, int n,
                            const char *pre, const char *post, char *buf, size_t cap);

/* Little-endian integers and IEEE 754 numbers in a byte string (a
 * checkpoint's), the same on any host; put returns the byte after. */
static inline unsigned char *cl_put_u32(unsigned char *p, uint32_t x)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(x >> (8 * i));
    return p + 4;
}

static inline unsigned char *cl_put_u64(unsigned char *p, uint64_t x)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(x >> (8 * i));
    return p + 8;
}

static inline uint32_t cl_get_u32(const unsigned char *p)
{
    uint32_t x = 0;
    for (int i = 0; i < 4; i++)
        x |= (uint32_t)p[i] << (8 * i);
    return x;
}

static inline uint64_t cl_get_u64(const unsigned char *p)
{
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x |= (uint64_t)p[i] << (8 * i);
    return x;
}

unsigned char *cl_put_f64(unsigned char *p, double d);
double cl_get_f64(const unsigned char *p);
unsigned char *cl_put_f32(unsigned char *p, float f);
float cl_get_f32(const unsigned char *p);

/* FNV-1a, 64 bits, of n bytes, continuing from h (start from
 * CL_FNV64_START): a check that a stored byte string came back whole */
#define CL_FNV64_START 0xcbf29ce484222325ULL
uint64_t cl_fnv64(uint64_t h, const void *data, size_t n);

/* Read a whole file into memory (caller frees *data). */
int read_file(const char *path, unsigned char **data, size_t *len, cl_err *err);

#endif
