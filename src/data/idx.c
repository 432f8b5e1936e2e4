/* idx.c - readers for the idx files of (Fashion-)MNIST: a big-endian magic
 * number, big-endian dimensions, then unsigned bytes.
 *
 * Files go through zlib's gzopen/gzread, which read gzipped and plain files
 * alike, so one path serves Debian's *.gz files and unpacked copies.  The
 * byte count must match the header exactly; a short file, a gzip stream cut
 * off (even one that only lost its trailer), corrupt compressed data and
 * trailing bytes are all refused with the file's name and the numbers. */
#include "data/dataset.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/util.h"

#define IDX_MAGIC_IMAGES 0x00000803u   /* unsigned bytes, 3 dimensions */
#define IDX_MAGIC_LABELS 0x00000801u   /* unsigned bytes, 1 dimension */
#define IDX_MAX_CLASSES 10             /* every idx dataset here has 10 classes */

/* An open idx file with the path its messages name. */
typedef struct idx_file {
    const char *path;
    gzFile gz;
} idx_file;

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Open path for reading; a missing file is an I/O error naming it. */
static int idx_open(idx_file *f, const char *path, cl_err *err)
{
    f->path = path;
    errno = 0;
    f->gz = gzopen(path, "rb");
    if (!f->gz) {
        if (errno)
            return ERR_SET(err, CL_ERR_IO, "%s: %s", path, strerror(errno));
        return ERR_SET(err, CL_ERR_NOMEM, "%s: cannot open (out of memory in zlib)", path);
    }
    /* a larger input buffer makes inflating 26 MB noticeably faster */
    gzbuffer(f->gz, 1 << 18);
    return CL_OK;
}

static void idx_close(idx_file *f)
{
    if (f->gz)
        gzclose_r(f->gz);
    f->gz = NULL;
}

/* Describe a zlib error on f: a hard error (corrupt data, read failure)
 * returns its status after setting err; otherwise returns CL_OK. */
static int idx_hard_error(idx_file *f, cl_err *err)
{
    int zerr = Z_OK;
    const char *msg = gzerror(f->gz, &zerr);
    if (zerr == Z_OK || zerr == Z_BUF_ERROR)   /* Z_BUF_ERROR: input ended early */
        return CL_OK;
    if (zerr == Z_ERRNO)
        return ERR_SET(err, CL_ERR_IO, "%s: read failed: %s", f->path, strerror(errno));
    if (zerr == Z_MEM_ERROR)
        return ERR_SET(err, CL_ERR_NOMEM, "%s: out of memory while decompressing", f->path);
    /* zlib's message starts with the path again */
    if (msg && !strncmp(msg, f->path, strlen(f->path)) && !strncmp(msg + strlen(f->path), ": ", 2))
        msg += strlen(f->path) + 2;
    return ERR_SET(err, CL_ERR_FORMAT, "%s: corrupt gzip data (%s)", f->path,
                   msg && *msg ? msg : "unknown zlib error");
}

/* Read up to want bytes into buf, stopping early only at the end of the
 * data; *got says how many came.  Fails on read or decompression errors. */
static int idx_read(idx_file *f, uint8_t *buf, size_t want, size_t *got, cl_err *err)
{
    *got = 0;
    while (*got < want) {
        /* gzread takes an unsigned count and returns an int */
        size_t chunk = CL_MIN(want - *got, (size_t)1 << 30);
        int r = gzread(f->gz, buf + *got, (unsigned)chunk);
        if (r < 0) {
            int rc = idx_hard_error(f, err);
            return rc ? rc : ERR_SET(err, CL_ERR_IO, "%s: read failed", f->path);
        }
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return idx_hard_error(f, err);
}

/* After the expected bytes: the file must end here, and a gzip stream must
 * end cleanly (a missing trailer means the file was cut off). */
static int idx_expect_end(idx_file *f, size_t expected, cl_err *err)
{
    uint8_t scratch[4096];
    size_t extra = 0, got;
    int zerr = Z_OK, rc;
    do {
        rc = idx_read(f, scratch, sizeof scratch, &got, err);
        if (rc)
            return rc;
        extra += got;
    } while (got == sizeof scratch);
    if (extra)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: too long: expected %zu bytes, found %zu", f->path,
                       expected, expected + extra);
    gzerror(f->gz, &zerr);
    if (zerr == Z_BUF_ERROR)
        return ERR_SET(err, CL_ERR_FORMAT,
                       "%s: truncated gzip stream (all %zu bytes present, but the stream "
                       "ends before its trailer)", f->path, expected);
    return CL_OK;
}

/* The message for a file that ended after `found` of `expected` bytes. */
static int idx_truncated(idx_file *f, size_t expected, size_t found, cl_err *err)
{
    if (found == 0)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: empty file", f->path);
    return ERR_SET(err, CL_ERR_FORMAT, "%s: truncated: expected %zu bytes, found %zu%s", f->path,
                   expected, found, gzdirect(f->gz) ? "" : " (after decompression)");
}

/* Open an idx file and check its header: magic, then ndims big-endian
 * dimensions, each at least 1.  Leaves f open positioned at the data. */
static int idx_header(idx_file *f, const char *path, uint32_t magic, int ndims, const char *kind,
                      uint32_t *dims, cl_err *err)
{
    uint8_t hdr[16];
    size_t hlen = 4 + 4 * (size_t)ndims, got;
    uint32_t m;
    int rc = idx_open(f, path, err);
    if (rc)
        return rc;
    rc = idx_read(f, hdr, hlen, &got, err);
    if (rc)
        return rc;
    if (got < hlen) {
        if (got == 0)
            return ERR_SET(err, CL_ERR_FORMAT, "%s: empty file", path);
        return ERR_SET(err, CL_ERR_FORMAT,
                       "%s: truncated: expected a %zu-byte idx header, found %zu bytes", path,
                       hlen, got);
    }
    m = be32(hdr);
    if (m != magic) {
        const char *hint = "";
        if (m == IDX_MAGIC_IMAGES)
            hint = "; this is an image file";
        else if (m == IDX_MAGIC_LABELS)
            hint = "; this is a label file";
        return ERR_SET(err, CL_ERR_FORMAT, "%s: not an idx %s file (magic 0x%08x, expected 0x%08x%s)",
                       path, kind, m, magic, hint);
    }
    for (int i = 0; i < ndims; i++) {
        dims[i] = be32(hdr + 4 + 4 * i);
        if (dims[i] == 0)
            return ERR_SET(err, CL_ERR_FORMAT, "%s: dimension %d is 0: the file holds no %ss",
                           path, i, kind);
    }
    if (dims[0] > INT_MAX)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: %u %ss is more than this program can hold", path,
                       dims[0], kind);
    return CL_OK;
}

/* Read exactly `len` data bytes that follow a header of hlen bytes into a
 * new buffer.  The buffer grows as data arrives rather than trusting the
 * header, so a damaged count cannot make us allocate gigabytes for a
 * small file. */
static int idx_body(idx_file *f, size_t hlen, size_t len, uint8_t **out, cl_err *err)
{
    size_t cap = CL_MIN(len, (size_t)1 << 24), have = 0, got;
    uint8_t *buf = malloc(cap), *p;
    int rc;
    if (!buf)
        return ERR_SET(err, CL_ERR_NOMEM, "%s: out of memory for %zu bytes", f->path, cap);
    for (;;) {
        rc = idx_read(f, buf + have, cap - have, &got, err);
        if (rc)
            goto fail;
        have += got;
        if (have < cap) {
            rc = idx_truncated(f, hlen + len, hlen + have, err);
            goto fail;
        }
        if (cap == len)
            break;
        cap = len - cap < cap ? len : 2 * cap;
        p = realloc(buf, cap);
        if (!p) {
            rc = ERR_SET(err, CL_ERR_NOMEM, "%s: out of memory for %zu bytes", f->path, cap);
            goto fail;
        }
        buf = p;
    }
    rc = idx_expect_end(f, hlen + len, err);
    if (rc)
        goto fail;
    *out = buf;
    return CL_OK;
fail:
    free(buf);
    return rc;
}

/* Read an idx3 image file (n images of h x w bytes).  On success *pixels
 * is a new array of n*h*w bytes the caller frees; on failure the outputs
 * are NULL/0 and err names the file and the problem. */
int dataset_read_idx_images(const char *path, uint8_t **pixels, int *n, int *h, int *w, cl_err *err)
{
    idx_file f = {0};
    uint32_t dims[3] = {0};
    int rc;
    *pixels = NULL;
    *n = *h = *w = 0;
    rc = idx_header(&f, path, IDX_MAGIC_IMAGES, 3, "image", dims, err);
    if (rc)
        goto done;
    if (dims[1] > 65535 || dims[2] > 65535) {
        rc = ERR_SET(err, CL_ERR_FORMAT, "%s: implausible image size %ux%u", path, dims[1], dims[2]);
        goto done;
    }
    /* n < 2^31 and h*w < 2^32, so the product fits in 64 bits */
    rc = idx_body(&f, 16, (size_t)dims[0] * dims[1] * dims[2], pixels, err);
    if (rc)
        goto done;
    *n = (int)dims[0];
    *h = (int)dims[1];
    *w = (int)dims[2];
done:
    idx_close(&f);
    return rc;
}

/* Read an idx1 label file; every label must be below 10.  On success
 * *labels is a new array of *n bytes the caller frees. */
int dataset_read_idx_labels(const char *path, uint8_t **labels, int *n, cl_err *err)
{
    idx_file f = {0};
    uint32_t dims[1] = {0};
    uint8_t *y = NULL;
    int rc;
    *labels = NULL;
    *n = 0;
    rc = idx_header(&f, path, IDX_MAGIC_LABELS, 1, "label", dims, err);
    if (rc)
        goto done;
    rc = idx_body(&f, 8, dims[0], &y, err);
    if (rc)
        goto done;
    for (uint32_t i = 0; i < dims[0]; i++) {
        if (y[i] >= IDX_MAX_CLASSES) {
            rc = ERR_SET(err, CL_ERR_FORMAT, "%s: label %u at index %u is out of range (0 to %d)",
                         path, y[i], i, IDX_MAX_CLASSES - 1);
            free(y);
            goto done;
        }
    }
    *labels = y;
    *n = (int)dims[0];
done:
    idx_close(&f);
    return rc;
}
