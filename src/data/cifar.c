/* cifar.c - the reader for CIFAR-10's binary version: each batch file is a
 * run of 3073-byte records, one label byte and then 3072 pixel bytes (the
 * 1024 red, 1024 green and 1024 blue values, rows top to bottom), which is
 * already the CHW layout the datasets keep in memory. */
#include "data/dataset.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_PIXELS 3072              /* 3 x 32 x 32 */
#define CIFAR_RECORD (1 + CIFAR_PIXELS)
#define CIFAR_CLASSES 10

/* Append the records of the batch file at path to (*x, *y, *n), growing
 * the arrays with realloc.  The size must be a non-zero multiple of 3073
 * and every label below 10.  On failure *n is unchanged and *x, *y stay
 * valid allocations the caller still frees (they may have grown). */
int dataset_read_cifar_batch(const char *path, uint8_t **x, uint8_t **y, int *n, cl_err *err)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    long long size, records;
    uint8_t *p;
    int rc = CL_OK;
    if (!f)
        return ERR_SET(err, CL_ERR_IO, "%s: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) != 0) {
        rc = ERR_SET(err, CL_ERR_IO, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = ERR_SET(err, CL_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    size = (long long)st.st_size;
    if (size == 0) {
        rc = ERR_SET(err, CL_ERR_FORMAT, "%s: empty file", path);
        goto done;
    }
    if (size % CIFAR_RECORD != 0) {
        rc = ERR_SET(err, CL_ERR_FORMAT,
                     "%s: size %lld is not a multiple of the %d-byte CIFAR-10 record "
                     "(remainder %lld): truncated, or not the binary version", path, size,
                     CIFAR_RECORD, size % CIFAR_RECORD);
        goto done;
    }
    records = size / CIFAR_RECORD;
    if (records > INT_MAX - *n) {
        rc = ERR_SET(err, CL_ERR_FORMAT, "%s: %lld records is more than this program can hold",
                     path, records);
        goto done;
    }
    p = realloc(*x, (size_t)(*n + records) * CIFAR_PIXELS);
    if (!p) {
        rc = ERR_SET(err, CL_ERR_NOMEM, "%s: out of memory for %lld images", path, records);
        goto done;
    }
    *x = p;
    p = realloc(*y, (size_t)(*n + records));
    if (!p) {
        rc = ERR_SET(err, CL_ERR_NOMEM, "%s: out of memory for %lld labels", path, records);
        goto done;
    }
    *y = p;
    setvbuf(f, NULL, _IOFBF, 1 << 16);
    for (long long i = 0; i < records; i++) {
        size_t at = (size_t)*n + (size_t)i;
        uint8_t *label = *y + at;
        if (fread(label, 1, 1, f) != 1 || fread(*x + at * CIFAR_PIXELS, 1, CIFAR_PIXELS, f) != CIFAR_PIXELS) {
            /* the size was checked, so this is a read error or a file that
             * shrank while we read it */
            if (ferror(f))
                rc = ERR_SET(err, CL_ERR_IO, "%s: read failed in record %lld: %s", path, i,
                             strerror(errno));
            else
                rc = ERR_SET(err, CL_ERR_FORMAT, "%s: truncated: record %lld of %lld is short "
                             "(did the file change while being read?)", path, i, records);
            goto done;
        }
        if (*label >= CIFAR_CLASSES) {
            rc = ERR_SET(err, CL_ERR_FORMAT,
                         "%s: label %u of record %lld is out of range (0 to %d): not a "
                         "CIFAR-10 binary batch?", path, *label, i, CIFAR_CLASSES - 1);
            goto done;
        }
    }
    *n += (int)records;
done:
    fclose(f);
    return rc;
}
