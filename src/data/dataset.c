/* dataset.c - loading a dataset by its spec, the train/validation split,
 * per-channel statistics, and the batch maker that normalises and augments
 * images on the way from bytes to floats.
 *
 * The batch maker runs every training step, so its inner loops are plain
 * multiply-adds over contiguous rows: crop offsets and flips are resolved
 * per row into a zero-filled margin and a copied middle, never tested per
 * pixel. */
#include "data/dataset.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/util.h"

#define FASHION_SIDE 28
#define CIFAR_SIDE 32
#define CIFAR_BATCHES 5
#define DATASET_CLASSES 10

static const char valid_specs[] = "fashion-mnist, fashion-mnist:DIR, cifar10:DIR";

void dataset_free(cl_dataset *ds)
{
    if (!ds)
        return;
    free(ds->train_x);
    free(ds->train_y);
    free(ds->test_x);
    free(ds->test_y);
    memset(ds, 0, sizeof *ds);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* dir + "/" + name into out (of size PATH_BUF); an over-long path is an
 * argument error rather than a silently truncated name. */
#define PATH_BUF 4096
static int join_path(char *out, const char *dir, const char *name, const char *suffix, cl_err *err)
{
    int len = snprintf(out, PATH_BUF, "%s/%s%s", dir, name, suffix);
    if (len < 0 || len >= PATH_BUF)
        return ERR_SET(err, CL_ERR_ARG, "%s: path too long", dir);
    return CL_OK;
}

/* Find DIR/NAME or DIR/NAME.gz, preferring the plain file (no inflating). */
static int find_idx(char *out, const char *dir, const char *name, int is_default, cl_err *err)
{
    int rc = join_path(out, dir, name, "", err);
    if (rc || file_exists(out))
        return rc;
    rc = join_path(out, dir, name, ".gz", err);
    if (rc || file_exists(out))
        return rc;
    if (is_default)
        return ERR_SET(err, CL_ERR_IO,
                       "%s/%s(.gz): no such file: install the Debian package "
                       "dataset-fashion-mnist, or give fashion-mnist:DIR", dir, name);
    return ERR_SET(err, CL_ERR_IO, "%s/%s(.gz): no such file (Fashion-MNIST idx files, gzipped "
                   "or not)", dir, name);
}

/* Read one split (images and labels) of Fashion-MNIST and check that the
 * two files agree with each other and with the 28x28 shape. */
static int load_fashion_part(const char *dir, const char *prefix, int is_default, uint8_t **x,
                             uint8_t **y, int *n, cl_err *err)
{
    char ipath[PATH_BUF], lpath[PATH_BUF], name[64];
    int ni, nl, h, w, rc;
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
    rc = find_idx(ipath, dir, name, is_default, err);
    if (rc)
        return rc;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
    rc = find_idx(lpath, dir, name, is_default, err);
    if (rc)
        return rc;
    rc = dataset_read_idx_images(ipath, x, &ni, &h, &w, err);
    if (rc)
        return rc;
    if (h != FASHION_SIDE || w != FASHION_SIDE)
        return ERR_SET(err, CL_ERR_FORMAT, "%s: images are %dx%d, expected %dx%d", ipath, h, w,
                       FASHION_SIDE, FASHION_SIDE);
    rc = dataset_read_idx_labels(lpath, y, &nl, err);
    if (rc)
        return rc;
    if (ni != nl)
        return ERR_SET(err, CL_ERR_FORMAT, "%s holds %d images but %s holds %d labels: the count "
                       "of images and labels must agree", ipath, ni, lpath, nl);
    *n = ni;
    return CL_OK;
}

/* A missing directory is reported as such rather than as its first file. */
static int check_dir(const char *dir, const char *hint, cl_err *err)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return ERR_SET(err, CL_ERR_IO, "%s: %s%s", dir, strerror(errno), hint);
    if (!S_ISDIR(st.st_mode))
        return ERR_SET(err, CL_ERR_IO, "%s: not a directory%s", dir, hint);
    return CL_OK;
}

static int load_fashion(const char *dir, int is_default, cl_dataset *ds, cl_err *err)
{
    int rc = check_dir(dir, is_default ? " (install the Debian package dataset-fashion-mnist, or "
                       "give fashion-mnist:DIR)" : "", err);
    if (rc)
        return rc;
    ds->c = 1;
    ds->h = ds->w = FASHION_SIDE;
    ds->classes = DATASET_CLASSES;
    rc = load_fashion_part(dir, "train", is_default, &ds->train_x, &ds->train_y, &ds->n_train, err);
    if (rc)
        return rc;
    return load_fashion_part(dir, "t10k", is_default, &ds->test_x, &ds->test_y, &ds->n_test, err);
}

/* data_batch_1.bin is required; 2..5 are read while they follow on
 * without a gap (a subset of batches makes a smaller training set). */
static int load_cifar(const char *dir, cl_dataset *ds, cl_err *err)
{
    char path[PATH_BUF], name[32];
    int rc = check_dir(dir, " (cifar10:DIR: a directory of the CIFAR-10 binary version, "
                            "data_batch_1.bin .. data_batch_5.bin and test_batch.bin)", err);
    int last = 0;
    if (rc)
        return rc;
    ds->c = 3;
    ds->h = ds->w = CIFAR_SIDE;
    ds->classes = DATASET_CLASSES;
    for (int b = 1; b <= CIFAR_BATCHES; b++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        rc = join_path(path, dir, name, "", err);
        if (rc)
            return rc;
        if (!file_exists(path)) {
            if (b == 1)
                return ERR_SET(err, CL_ERR_IO, "%s: no such file: cifar10:DIR wants the CIFAR-10 "
                               "binary version (data_batch_1.bin .. data_batch_5.bin, "
                               "test_batch.bin)", path);
            break;
        }
        rc = dataset_read_cifar_batch(path, &ds->train_x, &ds->train_y, &ds->n_train, err);
        if (rc)
            return rc;
        last = b;
    }
    for (int b = last + 2; b <= CIFAR_BATCHES; b++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        rc = join_path(path, dir, name, "", err);
        if (rc)
            return rc;
        if (file_exists(path))
            return ERR_SET(err, CL_ERR_FORMAT, "%s: present, but data_batch_%d.bin is missing: "
                           "the batches must follow on from data_batch_1.bin", path, last + 1);
    }
    rc = join_path(path, dir, "test_batch.bin", "", err);
    if (rc)
        return rc;
    return dataset_read_cifar_batch(path, &ds->test_x, &ds->test_y, &ds->n_test, err);
}

/* Parse the spec and read the files; on failure *ds is zeroed and err
 * says which file and what is wrong. */
int dataset_load(const char *spec, cl_dataset *ds, cl_err *err)
{
    const char *colon, *dir;
    size_t name_len;
    int rc, is_default = 0, is_fashion = 0;
    memset(ds, 0, sizeof *ds);
    if (!spec || !*spec)
        return ERR_SET(err, CL_ERR_ARG, "no dataset given: valid are %s", valid_specs);
    colon = strchr(spec, ':');
    name_len = colon ? (size_t)(colon - spec) : strlen(spec);
    dir = colon ? colon + 1 : NULL;
    if (colon && !*dir)
        return ERR_SET(err, CL_ERR_ARG, "dataset '%s': the directory after ':' is empty", spec);
    if (name_len == strlen("fashion-mnist") && !strncmp(spec, "fashion-mnist", name_len)) {
        if (!dir) {
            dir = DATASET_FASHION_MNIST_DIR;
            is_default = 1;
        }
        is_fashion = 1;
        snprintf(ds->name, sizeof ds->name, "fashion-mnist");
    } else if (name_len == strlen("cifar10") && !strncmp(spec, "cifar10", name_len)) {
        if (!dir)
            return ERR_SET(err, CL_ERR_ARG, "dataset 'cifar10' needs a directory: give cifar10:DIR, "
                           "DIR holding the binary version (data_batch_1.bin .. data_batch_5.bin, "
                           "test_batch.bin)");
        snprintf(ds->name, sizeof ds->name, "cifar10");
    } else {
        return ERR_SET(err, CL_ERR_ARG, "unknown dataset '%.*s': valid are %s", (int)name_len, spec,
                       valid_specs);
    }
    if (strlen(dir) >= sizeof ds->dir) {
        memset(ds, 0, sizeof *ds);
        return ERR_SET(err, CL_ERR_ARG, "dataset directory too long (%zu characters, at most %zu)",
                       strlen(dir), sizeof ds->dir - 1);
    }
    snprintf(ds->dir, sizeof ds->dir, "%s", dir);
    if (is_fashion)
        rc = load_fashion(dir, is_default, ds, err);
    else
        rc = load_cifar(dir, ds, err);
    if (rc)
        dataset_free(ds);
    return rc;
}

void split_free(cl_split *sp)
{
    if (!sp)
        return;
    free(sp->train_idx);
    free(sp->val_idx);
    memset(sp, 0, sizeof *sp);
}

/* Shuffle the training indices with a generator seeded by `seed` alone, so
 * the same seed gives the same split on every machine and in every run. */
int dataset_split(const cl_dataset *ds, int n_val, int train_limit, uint64_t seed, cl_split *sp,
                  cl_err *err)
{
    cl_rng rng;
    int *perm, n, n_tr;
    memset(sp, 0, sizeof *sp);
    if (!ds || ds->n_train <= 0 || !ds->train_x)
        return ERR_SET(err, CL_ERR_ARG, "split: the dataset has no training images");
    n = ds->n_train;
    if (n_val < 0)
        return ERR_SET(err, CL_ERR_ARG, "split: the validation size %d is negative", n_val);
    if (train_limit < 0)
        return ERR_SET(err, CL_ERR_ARG, "split: the training limit %d is negative", train_limit);
    if ((long long)n_val + train_limit > n)
        return ERR_SET(err, CL_ERR_ARG, "split: %d validation + %d training images is more than "
                       "the %d training images of %s", n_val, train_limit, n, ds->name);
    n_tr = train_limit ? train_limit : n - n_val;
    if (n_tr == 0)
        return ERR_SET(err, CL_ERR_ARG, "split: %d validation images leave none of the %d for "
                       "training", n_val, n);
    perm = malloc((size_t)n * sizeof *perm);
    sp->train_idx = malloc((size_t)n_tr * sizeof *sp->train_idx);
    /* one extra element so that n_val == 0 still gives a real pointer */
    sp->val_idx = malloc(((size_t)n_val + 1) * sizeof *sp->val_idx);
    if (!perm || !sp->train_idx || !sp->val_idx) {
        free(perm);
        split_free(sp);
        return ERR_SET(err, CL_ERR_NOMEM, "split: out of memory for %d indices", n);
    }
    for (int i = 0; i < n; i++)
        perm[i] = i;
    rng_seed(&rng, seed);
    rng_shuffle(&rng, perm, n);
    memcpy(sp->val_idx, perm, (size_t)n_val * sizeof *perm);
    memcpy(sp->train_idx, perm + n_val, (size_t)n_tr * sizeof *perm);
    sp->n_val = n_val;
    sp->n_train = n_tr;
    free(perm);
    return CL_OK;
}

/* Exact integer sums per channel (a byte sum over even millions of images
 * cannot overflow 64 bits), turned into double only at the end, so the
 * result does not depend on summation order.  idx NULL means the first n
 * training images.  n == 0 gives mean 0, std 1. */
void dataset_channel_stats(const cl_dataset *ds, const int *idx, int n, float *mean, float *std)
{
    size_t plane = (size_t)ds->h * ds->w, img = (size_t)ds->c * plane;
    for (int ch = 0; ch < ds->c; ch++) {
        uint64_t sum = 0, sumsq = 0;
        double count = (double)n * (double)plane, m, var;
        for (int i = 0; i < n; i++) {
            const uint8_t *p = ds->train_x + (size_t)(idx ? idx[i] : i) * img + (size_t)ch * plane;
            for (size_t k = 0; k < plane; k++) {
                sum += p[k];
                sumsq += (uint32_t)p[k] * p[k];
            }
        }
        if (n == 0) {
            mean[ch] = 0.0f;
            std[ch] = 1.0f;
            continue;
        }
        m = (double)sum / count;
        var = (double)sumsq / count - m * m;
        mean[ch] = (float)(m / 255.0);
        std[ch] = (float)(sqrt(var > 0 ? var : 0) / 255.0);
    }
}

/* One output row of the crop: out[x] = row[x + off] * scale + shift where
 * that source pixel exists, 0 elsewhere (the zero padding, already
 * normalised); flipped, out[x] takes row[w-1-x + off].  The valid range
 * [lo, hi) is worked out once so the loops carry no tests. */
static void crop_row(const uint8_t *row, int w, int off, int flip, float scale, float shift,
                     float *out)
{
    int lo, hi, x;
    if (!flip) {
        lo = off < 0 ? -off : 0;   /* x + off >= 0 */
        hi = w - off;              /* x + off < w */
    } else {
        lo = off > 0 ? off : 0;    /* w-1-x + off < w */
        hi = w + off;              /* w-1-x + off >= 0 */
    }
    if (lo > w)
        lo = w;
    if (hi > w)
        hi = w;
    if (hi < lo)
        hi = lo;
    for (x = 0; x < lo; x++)
        out[x] = 0.0f;
    if (hi > lo) {
        int len = hi - lo;
        float *o = out + lo;
        if (!flip) {
            const uint8_t *src = row + lo + off;
            for (int k = 0; k < len; k++)
                o[k] = (float)src[k] * scale + shift;
        } else {
            const uint8_t *src = row + (w - 1 + off - lo);
            for (int k = 0; k < len; k++)
                o[k] = (float)src[-k] * scale + shift;
        }
    }
    for (x = hi; x < w; x++)
        out[x] = 0.0f;
}

/* Normalise (and with aug, crop and flip) images src_x[idx[i]] into out_x
 * as float NCHW; labels go to out_y.  src_y and out_y may both be NULL
 * (no labels wanted).  A std of 0 (a constant channel) is taken as 1.
 * With aug, each image draws dy and dx (when pad_crop > 0) and then its
 * flip bit (when flip) from rng, in that order, so a batch is reproduced
 * from the rng state. */
void dataset_make_batch(const uint8_t *src_x, const uint8_t *src_y, int c, int h, int w,
                        const int *idx, int n, const float *mean, const float *std,
                        const cl_augment *aug, cl_rng *rng, float *out_x, int *out_y)
{
    size_t plane = (size_t)h * w, img = (size_t)c * plane;
    int pad = aug && aug->pad_crop > 0 ? aug->pad_crop : 0;
    int flip_on = aug && aug->flip;
    for (int i = 0; i < n; i++) {
        const uint8_t *src = src_x + (size_t)idx[i] * img;
        float *dst = out_x + (size_t)i * img;
        int dy = 0, dx = 0, flip = 0;
        if (pad) {
            uint32_t span = 2u * (uint32_t)pad + 1u;
            dy = (int)rng_below(rng, span) - pad;
            dx = (int)rng_below(rng, span) - pad;
        }
        if (flip_on)
            flip = (int)(rng_u64(rng) >> 63);
        if (out_y)
            out_y[i] = src_y[idx[i]];
        for (int ch = 0; ch < c; ch++) {
            const uint8_t *sp = src + (size_t)ch * plane;
            float *dp = dst + (size_t)ch * plane;
            /* (x/255 - mean) / std as one multiply-add; worked out per plane,
             * a division per thousand pixels, to need no scratch array */
            float sd = std[ch] > 0.0f ? std[ch] : 1.0f;
            float sc = 1.0f / (255.0f * sd);
            float sh = -mean[ch] / sd;
            if (!dy && !dx && !flip) {
                for (size_t k = 0; k < plane; k++)
                    dp[k] = (float)sp[k] * sc + sh;
                continue;
            }
            for (int y = 0; y < h; y++) {
                int sy = y + dy;
                if (sy < 0 || sy >= h) {
                    memset(dp + (size_t)y * w, 0, (size_t)w * sizeof *dp);
                    continue;
                }
                crop_row(sp + (size_t)sy * w, w, dx, flip, sc, sh, dp + (size_t)y * w);
            }
        }
    }
}
