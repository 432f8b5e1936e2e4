/* dataset.h - image classification datasets held in memory as bytes.
 *
 * Images are stored as uint8 in CHW order (channel planes, rows top to
 * bottom), exactly as the files give them; batches are made as float32
 * NCHW, normalised per channel and optionally augmented.  Readers check
 * magic numbers, sizes and labels and refuse a truncated, empty or
 * wrong-format file with a message that names the file and the problem. */
#ifndef CELLAR_DATA_DATASET_H
#define CELLAR_DATA_DATASET_H

#include <stdint.h>

#include "core/err.h"
#include "core/rng.h"

#define DATASET_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

typedef struct cl_dataset {
    char name[32];        /* "fashion-mnist" or "cifar10" */
    char dir[512];        /* where it was read from */
    int c, h, w;          /* image shape */
    int classes;
    int n_train, n_test;
    uint8_t *train_x;     /* [n_train][c][h][w] */
    uint8_t *train_y;     /* [n_train], each < classes */
    uint8_t *test_x;      /* [n_test][c][h][w] */
    uint8_t *test_y;
} cl_dataset;

/* Load by spec: "fashion-mnist" (Debian's dataset-fashion-mnist location),
 * "fashion-mnist:DIR" (idx files, gzipped or not), or "cifar10:DIR" (the
 * binary version: data_batch_1.bin .. data_batch_5.bin, test_batch.bin).
 * On failure *ds is left empty and err says which file and what is wrong. */
int dataset_load(const char *spec, cl_dataset *ds, cl_err *err);
void dataset_free(cl_dataset *ds);

/* Single readers, also used by the tests on damaged files. */
int dataset_read_idx_images(const char *path, uint8_t **pixels, int *n, int *h, int *w, cl_err *err);
int dataset_read_idx_labels(const char *path, uint8_t **labels, int *n, cl_err *err);
/* Append the records of one CIFAR-10 binary batch file to (*x, *y, *n). */
int dataset_read_cifar_batch(const char *path, uint8_t **x, uint8_t **y, int *n, cl_err *err);

/* The split of the training images into the images a child trains on and
 * the images it is validated on.  A fixed seed shuffles the indices of the
 * training set; the first n_val become validation, the next train_limit (all
 * the rest when train_limit is 0) are used for training. */
typedef struct cl_split {
    int *train_idx, n_train;
    int *val_idx, n_val;
} cl_split;

int dataset_split(const cl_dataset *ds, int n_val, int train_limit, uint64_t seed,
                  cl_split *sp, cl_err *err);
void split_free(cl_split *sp);

/* Per-channel mean and standard deviation (of pixel/255) over the given
 * training images; mean and std have ds->c entries. */
void dataset_channel_stats(const cl_dataset *ds, const int *idx, int n, float *mean, float *std);

typedef struct cl_augment {
    int pad_crop;   /* random crop after zero padding by this many pixels (CIFAR: 4) */
    int flip;       /* random horizontal flip */
} cl_augment;

/* Make a float32 NCHW batch of n images: out_x[i] = normalised image
 * src_x[idx[i]], out_y[i] = its label.  Padding of an augmented crop is
 * zero after normalisation (the mean colour), as torchvision does when
 * padding the normalised tensor.  aug may be NULL (no augmentation); rng
 * is only used when aug is set. */
void dataset_make_batch(const uint8_t *src_x, const uint8_t *src_y, int c, int h, int w,
                        const int *idx, int n, const float *mean, const float *std,
                        const cl_augment *aug, cl_rng *rng, float *out_x, int *out_y);

#endif
