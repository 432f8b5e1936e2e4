/* ckpt.c - the controller's learnable state as a byte string and back.
 *
 * Layout (all integers and doubles little-endian, doubles as their IEEE
 * 754 bit patterns, so a round trip is exact on any host):
 *   8 bytes  magic "CLCTRL\0\1"
 *   u32      format version (1)
 *   u32      T, the number of decisions
 *   u32 x T  choices per decision
 *   u32      hidden units
 *   u64      parameter count (implied by the layout; a cross-check)
 *   f64 x np parameters, then Adam's m, then Adam's v
 *   u64      Adam step count
 *   f64      baseline
 *   u32      baseline set (0 or 1)
 * The live settings (lr, entropy weight ...) are not part of it: they
 * belong to the experiment, which journals them itself. */
#include "controller/ctrl_priv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define CKPT_VERSION 1u
static const unsigned char CKPT_MAGIC[8] = {'C', 'L', 'C', 'T', 'R', 'L', 0, 1};

/* bytes before the parameters, and the whole blob, for T decisions and
 * np parameters */
static size_t head_len(size_t T) { return 8 + 4 + 4 + 4 * T + 4 + 8; }
static size_t blob_len(size_t T, size_t np) { return head_len(T) + 24 * np + 8 + 8 + 4; }

int ctrl_save(const cl_controller *c, unsigned char **blob, size_t *len, cl_err *err)
{
    size_t n = blob_len((size_t)c->T, c->np);
    unsigned char *b = malloc(n), *p = b;
    if (!b)
        return ERR_SET(err, CL_ERR_NOMEM, "controller checkpoint: out of memory (%zu bytes)", n);
    memcpy(p, CKPT_MAGIC, sizeof CKPT_MAGIC);
    p += sizeof CKPT_MAGIC;
    p = cl_put_u32(p, CKPT_VERSION);
    p = cl_put_u32(p, (uint32_t)c->T);
    for (int t = 0; t < c->T; t++)
        p = cl_put_u32(p, (uint32_t)c->nc[t]);
    p = cl_put_u32(p, (uint32_t)c->H);
    p = cl_put_u64(p, (uint64_t)c->np);
    const double *arrays[3] = {c->theta, c->m, c->v};
    for (int a = 0; a < 3; a++)
        for (size_t k = 0; k < c->np; k++)
            p = cl_put_f64(p, arrays[a][k]);
    p = cl_put_u64(p, c->adam_t);
    p = cl_put_f64(p, c->baseline);
    p = cl_put_u32(p, (uint32_t)(c->has_baseline != 0));
    *blob = b;
    *len = n;
    return CL_OK;
}

/* Everything is checked before anything is copied, so a refused blob
 * leaves the controller as it was. */
int ctrl_load(cl_controller *c, const unsigned char *blob, size_t len, cl_err *err)
{
    const char *who = "controller checkpoint";
    if (!blob || len < sizeof CKPT_MAGIC)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: truncated (%zu bytes, not even a magic)", who, len);
    if (memcmp(blob, CKPT_MAGIC, sizeof CKPT_MAGIC) != 0)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: bad magic (not a controller checkpoint)", who);
    if (len < 16)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: truncated (%zu bytes, header needs 16)", who, len);
    uint32_t ver = cl_get_u32(blob + 8), T = cl_get_u32(blob + 12);
    if (ver != CKPT_VERSION)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: format version %u, this build reads version %u",
                       who, ver, CKPT_VERSION);
    if (T != (uint32_t)c->T)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: %u decisions, this controller has %d", who, T, c->T);
    size_t hl = head_len(T);
    if (len < hl)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: truncated (%zu bytes, header needs %zu)", who, len, hl);
    const unsigned char *p = blob + 16;
    for (int t = 0; t < c->T; t++, p += 4) {
        uint32_t n = cl_get_u32(p);
        if (n != (uint32_t)c->nc[t])
            return ERR_SET(err, CL_ERR_FORMAT, "%s: decision %d has %u choices, this controller's has %d",
                           who, t, n, c->nc[t]);
    }
    uint32_t H = cl_get_u32(p);
    p += 4;
    if (H != (uint32_t)c->H)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: %u hidden units, this controller has %d", who, H, c->H);
    uint64_t np = cl_get_u64(p);
    p += 8;
    if (np != (uint64_t)c->np)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: %llu parameters, this controller has %zu",
                       who, (unsigned long long)np, c->np);
    size_t want = blob_len(T, c->np);
    if (len != want)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: %s (%zu bytes, expected %zu)", who,
                       len < want ? "truncated" : "trailing bytes", len, want);

    const unsigned char *q = p;
    for (size_t k = 0; k < 3 * c->np; k++, q += 8) {
        double d = cl_get_f64(q);
        if (!isfinite(d) || (k >= 2 * c->np && d < 0))
            return ERR_SET(err, CL_ERR_FORMAT, "%s: %s %zu is %g", who,
                           k < c->np ? "parameter" : k < 2 * c->np ? "Adam m" : "Adam v",
                           k % c->np, d);
    }
    double base = cl_get_f64(q + 8);
    uint32_t has = cl_get_u32(q + 16);
    if (has > 1 || !isfinite(base))
        return ERR_SET(err, CL_ERR_FORMAT, "%s: bad baseline (%g, set flag %u)", who, base, has);

    double *arrays[3] = {c->theta, c->m, c->v};
    for (int a = 0; a < 3; a++)
        for (size_t k = 0; k < c->np; k++, p += 8)
            arrays[a][k] = cl_get_f64(p);
    c->adam_t = cl_get_u64(p);
    c->baseline = base;
    c->has_baseline = (int)has;
    return CL_OK;
}
