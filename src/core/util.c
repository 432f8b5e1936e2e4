/* util.c - clocks, strict number parsing, text buffers, whole-file reads. */
#define _POSIX_C_SOURCE 200809L
#include "core/util.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double cl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void format_duration(double seconds, char *out, size_t cap)
{
    long s = seconds < 0 ? 0 : (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(out, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, cap, "%ld:%02ld", s / 60, s % 60);
}

int parse_long(const char *s, long lo, long hi, long *out, const char *what, cl_err *err)
{
    char *end;
    long v;
    if (!s || !*s)
        return ERR_SET(err, CL_ERR_ARG, "%s: expected an integer, got nothing", what);
    errno = 0;
    v = strtol(s, &end, 10);
    if (*end != '\0' || end == s)
        return ERR_SET(err, CL_ERR_ARG, "%s: expected an integer, got '%s'", what, s);
    if (errno == ERANGE || v < lo || v > hi)
        return ERR_SET(err, CL_ERR_ARG, "%s: %s is out of range (%ld to %ld)", what, s, lo, hi);
    *out = v;
    return CL_OK;
}

int parse_double(const char *s, double *out, const char *what, cl_err *err)
{
    char *end;
    double v;
    if (!s || !*s)
        return ERR_SET(err, CL_ERR_ARG, "%s: expected a number, got nothing", what);
    errno = 0;
    v = strtod(s, &end);
    if (*end != '\0' || end == s)
        return ERR_SET(err, CL_ERR_ARG, "%s: expected a number, got '%s'", what, s);
    if (errno == ERANGE || !isfinite(v))
        return ERR_SET(err, CL_ERR_ARG, "%s: %s is out of range", what, s);
    *out = v;
    return CL_OK;
}

int buf_printf(cl_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        char *p;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        p = realloc(b->s, cap);
        if (!p)
            return -1;
        b->s = p;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void buf_free(cl_buf *b)
{
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

int cl_grow(void *arr, size_t size, int need, int *cap, int first)
{
    void *old, *p;
    int c = *cap ? *cap : first > 0 ? first : 1;
    if (need <= *cap)
        return 0;
    while (c < need) {
        if (c > INT_MAX / 2)
            return -1;
        c *= 2;
    }
    if ((size_t)c > SIZE_MAX / size)
        return -1;
    memcpy(&old, arr, sizeof old);
    if (!(p = realloc(old, (size_t)c * size)))
        return -1;
    memcpy(arr, &p, sizeof p);
    *cap = c;
    return 0;
}

int read_file(const char *path, unsigned char **data, size_t *len, cl_err *err)
{
    FILE *f = fopen(path, "rb");
    unsigned char *p = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        return ERR_SET(err, CL_ERR_IO, "%s: %s", path, strerror(errno));
    for (;;) {
        size_t got;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            unsigned char *q = realloc(p, ncap);
            if (!q) {
                free(p);
                fclose(f);
                return ERR_SET(err, CL_ERR_NOMEM, "%s: out of memory reading the file", path);
            }
            p = q;
            cap = ncap;
        }
        got = fread(p + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        int e = errno;
        free(p);
        fclose(f);
        return ERR_SET(err, CL_ERR_IO, "%s: read failed: %s", path, strerror(e));
    }
    fclose(f);
    *data = p;
    *len = n;
    return CL_OK;
}

size_t cl_utf8_put(uint32_t c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* The optimal string alignment distance of a[0..la) and b[0..lb) (edits:
 * a letter changed, left out, put in, or two neighbours swapped), or
 * more than `cap` where it is: names are short, and only near ones count. */
static int edit_distance(const char *a, size_t la, const char *b, size_t lb, int cap)
{
    int d[3][33], *prev2 = d[0], *prev = d[1], *cur = d[2];
    if (la > 32 || lb > 32)
        return cap + 1;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int *t;
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1], v = prev[j - 1] + cost;
            v = CL_MIN(v, prev[j] + 1);
            v = CL_MIN(v, cur[j - 1] + 1);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                v = CL_MIN(v, prev2[j - 2] + 1);
            cur[j] = v;
        }
        t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

const char *cl_nearest(const char *word, size_t len, const char *const *names, int n)
{
    /* one edit in a short word, two in a longer one: more suggests
     * names that only look alike */
    int cap = len <= 4 ? 1 : 2, best = cap + 1;
    const char *found = NULL;
    for (int i = 0; n < 0 ? names[i] != NULL : i < n; i++) {
        int dist = edit_distance(word, len, names[i], strlen(names[i]), cap);
        if (dist < best && dist > 0) {
            best = dist;
            found = names[i];
        }
    }
    return found;
}

const char *cl_did_you_mean(const char *word, size_t len, const char *const *names, int n,
                            const char *pre, const char *post, char *buf, size_t cap)
{
    const char *near = cl_nearest(word, len, names, n);
    if (cap)
        buf[0] = '\0';
    if (near)
        snprintf(buf, cap, ": did you mean %s%s%s?", pre, near, post);
    return buf;
}

unsigned char *cl_put_f64(unsigned char *p, double d)
{
    uint64_t x;
    memcpy(&x, &d, sizeof x);
    return cl_put_u64(p, x);
}

double cl_get_f64(const unsigned char *p)
{
    uint64_t x = cl_get_u64(p);
    double d;
    memcpy(&d, &x, sizeof d);
    return d;
}

unsigned char *cl_put_f32(unsigned char *p, float f)
{
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    return cl_put_u32(p, x);
}

float cl_get_f32(const unsigned char *p)
{
    uint32_t x = cl_get_u32(p);
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

uint64_t cl_fnv64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
