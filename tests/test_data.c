/* test_data.c - the dataset layer: the real Fashion-MNIST files, damaged
 * idx and CIFAR-10 files written here into a temporary directory (each must
 * be refused with a message naming the file and the fault), a small CIFAR
 * directory read back byte for byte, real CIFAR-10 when CELLAR_CIFAR_DIR
 * points at the binary version, the train/validation split, channel
 * statistics, and the batch maker's normalisation and augmentation. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "testdir.h"
#include "core/err.h"
#include "core/rng.h"
#include "core/util.h"
#include "data/dataset.h"


/* ---- helpers ----------------------------------------------------------- */



static int write_gz(const char *path, const void *data, size_t len)
{
    gzFile f = gzopen(path, "wb");
    int ok;
    if (!f)
        return 0;
    ok = len == 0 || gzwrite(f, data, (unsigned)len) == (int)len;
    return gzclose(f) == Z_OK && ok;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Remove the flat temporary directory and everything in it. */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* A pixel value that depends on the image and the position. */
static uint8_t pattern(int img, int k)
{
    return (uint8_t)(img * 31 + k * 7 + (k >> 10) * 101);
}

/* An idx3 image file image in memory: header and n x h x w pattern bytes. */
static uint8_t *idx_images(int n, int h, int w, uint32_t magic, size_t *len)
{
    size_t body = (size_t)n * h * w;
    uint8_t *b = malloc(16 + body);
    put_be32(b, magic);
    put_be32(b + 4, (uint32_t)n);
    put_be32(b + 8, (uint32_t)h);
    put_be32(b + 12, (uint32_t)w);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < h * w; k++)
            b[16 + (size_t)i * h * w + k] = pattern(i, k);
    *len = 16 + body;
    return b;
}

static uint8_t *idx_labels(int n, uint32_t magic, size_t *len)
{
    uint8_t *b = malloc(8 + (size_t)n);
    put_be32(b, magic);
    put_be32(b + 4, (uint32_t)n);
    for (int i = 0; i < n; i++)
        b[8 + i] = (uint8_t)((i * 3 + 1) % 10);
    *len = 8 + (size_t)n;
    return b;
}

/* Random bytes: incompressible, so a gzip file cut in half really loses
 * half of its data. */
static uint8_t *random_bytes(size_t len, uint64_t seed)
{
    cl_rng r;
    uint8_t *b = malloc(len);
    rng_seed(&r, seed);
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(rng_u64(&r) >> 56);
    return b;
}

/* The message contains the file's path (or name) and the telling word. */
static int msg_has(const cl_err *e, const char *a, const char *b)
{
    return strstr(e->msg, a) != NULL && (!b || strstr(e->msg, b) != NULL);
}

/* ---- real Fashion-MNIST ------------------------------------------------ */

static void test_real_fashion(cl_dataset *ds)
{
    cl_err err = {0};
    int rc = dataset_load("fashion-mnist", ds, &err);
    int counts[10] = {0}, bad = 0, balanced = 1;
    float mean, std;
    if (!CHECK(rc == CL_OK, "load the Debian Fashion-MNIST files (%s)", err.msg))
        return;
    CHECK(!strcmp(ds->name, "fashion-mnist") && !strcmp(ds->dir, DATASET_FASHION_MNIST_DIR),
          "name and dir recorded (%s, %s)", ds->name, ds->dir);
    CHECK(ds->n_train == 60000 && ds->n_test == 10000, "60000 training, 10000 test images (%d, %d)",
          ds->n_train, ds->n_test);
    CHECK(ds->c == 1 && ds->h == 28 && ds->w == 28 && ds->classes == 10, "shape 1x28x28, 10 classes");
    for (int i = 0; i < ds->n_train; i++) {
        if (ds->train_y[i] >= 10)
            bad++;
        else
            counts[ds->train_y[i]]++;
    }
    for (int i = 0; i < ds->n_test; i++)
        bad += ds->test_y[i] >= 10;
    for (int k = 0; k < 10; k++)
        balanced &= counts[k] == 6000;
    CHECK(bad == 0, "every label below 10");
    CHECK(balanced, "6000 training images per class");
    /* the first training image is an ankle boot (9), the first test one too */
    CHECK(ds->train_y[0] == 9 && ds->test_y[0] == 9, "first labels are 9 (%d, %d)", ds->train_y[0],
          ds->test_y[0]);
    dataset_channel_stats(ds, NULL, ds->n_train, &mean, &std);
    printf("# Fashion-MNIST training set: mean %.6f std %.6f\n", mean, std);
    CHECK_NEAR(mean, 0.2860, 0.0005, 0, "training mean of pixel/255 is 0.2860 (%.5f)", mean);
    CHECK_NEAR(std, 0.3530, 0.0005, 0, "training std of pixel/255 is 0.3530 (%.5f)", std);
}

/* ---- idx files: a valid small set, then damaged ones ------------------- */

/* Write a valid small Fashion-MNIST directory: train (5 images) plain,
 * t10k (3 images) gzipped. */
static int write_small_fashion(int n_train_labels)
{
    size_t len;
    uint8_t *b;
    int ok = 1;
    b = idx_images(5, 28, 28, 0x803, &len);
    ok &= write_bytes(tpath("train-images-idx3-ubyte"), b, len);
    free(b);
    b = idx_labels(n_train_labels, 0x801, &len);
    ok &= write_bytes(tpath("train-labels-idx1-ubyte"), b, len);
    free(b);
    b = idx_images(3, 28, 28, 0x803, &len);
    ok &= write_gz(tpath("t10k-images-idx3-ubyte.gz"), b, len);
    free(b);
    b = idx_labels(3, 0x801, &len);
    ok &= write_gz(tpath("t10k-labels-idx1-ubyte.gz"), b, len);
    free(b);
    return ok;
}

static void remove_small_fashion(void)
{
    unlink(tpath("train-images-idx3-ubyte"));
    unlink(tpath("train-labels-idx1-ubyte"));
    unlink(tpath("t10k-images-idx3-ubyte.gz"));
    unlink(tpath("t10k-labels-idx1-ubyte.gz"));
}

static void test_small_fashion(void)
{
    char spec[600];
    cl_dataset ds;
    cl_err err = {0};
    int same = 1, rc;
    CHECK(write_small_fashion(5), "write a small Fashion-MNIST directory");
    snprintf(spec, sizeof spec, "fashion-mnist:%s", tmpdir);
    rc = dataset_load(spec, &ds, &err);
    if (CHECK(rc == CL_OK, "load a small directory, plain and gzipped files mixed (%s)", err.msg)) {
        CHECK(ds.n_train == 5 && ds.n_test == 3 && !strcmp(ds.dir, tmpdir), "counts 5 and 3");
        for (int i = 0; i < 5; i++)
            for (int k = 0; k < 784; k++)
                same &= ds.train_x[i * 784 + k] == pattern(i, k);
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 784; k++)
                same &= ds.test_x[i * 784 + k] == pattern(i, k);
        for (int i = 0; i < 5; i++)
            same &= ds.train_y[i] == (i * 3 + 1) % 10;
        CHECK(same, "pixels and labels read back exactly");
    }
    dataset_free(&ds);
    dataset_free(&ds);   /* twice is harmless: it zeroes the struct */

    /* count mismatch between the training images and labels */
    remove_small_fashion();
    CHECK(write_small_fashion(4), "write a directory with 5 images but 4 labels");
    rc = dataset_load(spec, &ds, &err);
    CHECK(rc != CL_OK && msg_has(&err, "train-images-idx3-ubyte", "train-labels-idx1-ubyte") &&
              msg_has(&err, "5 images", "4 labels"),
          "images/labels count mismatch refused: %s", err.msg);
    CHECK(ds.train_x == NULL && ds.n_train == 0 && ds.test_x == NULL, "failed load leaves ds empty");

    /* a missing file */
    remove_small_fashion();
    CHECK(write_small_fashion(5), "rewrite the small directory");
    unlink(tpath("t10k-labels-idx1-ubyte.gz"));
    rc = dataset_load(spec, &ds, &err);
    CHECK(rc != CL_OK && msg_has(&err, tmpdir, "t10k-labels-idx1-ubyte"),
          "missing label file named: %s", err.msg);
    CHECK(ds.train_x == NULL && ds.train_y == NULL, "nothing left allocated after a late failure");

    /* images of the wrong shape */
    remove_small_fashion();
    CHECK(write_small_fashion(5), "rewrite the small directory");
    {
        size_t len;
        uint8_t *b = idx_images(5, 32, 32, 0x803, &len);
        CHECK(write_bytes(tpath("train-images-idx3-ubyte"), b, len), "write 32x32 images");
        free(b);
    }
    rc = dataset_load(spec, &ds, &err);
    CHECK(rc != CL_OK && msg_has(&err, "train-images-idx3-ubyte", "28x28"),
          "32x32 images refused: %s", err.msg);
    remove_small_fashion();
}

static void expect_images_fail(const char *path, const char *word, const char *word2,
                               const char *what)
{
    cl_err err = {0};
    uint8_t *px = (uint8_t *)1;
    int n = -1, h = -1, w = -1;
    int rc = dataset_read_idx_images(path, &px, &n, &h, &w, &err);
    CHECK(rc != CL_OK && msg_has(&err, path, word) && (!word2 || strstr(err.msg, word2)),
          "%s refused: %s", what, err.msg);
    CHECK(px == NULL && n == 0 && h == 0 && w == 0, "%s: outputs cleared", what);
}

static void test_damaged_idx(void)
{
    cl_err err = {0};
    size_t len;
    uint8_t *img = idx_images(5, 28, 28, 0x803, &len);   /* 3936 bytes */
    uint8_t *px, *y;
    int n, h, w, rc;
    const char *p;

    /* plain file cut short */
    p = tpath("cut-images-idx3-ubyte");
    write_bytes(p, img, 3252);
    expect_images_fail(p, "truncated", "expected 3936 bytes, found 3252", "truncated plain idx");

    /* header cut short */
    p = tpath("hdr-images-idx3-ubyte");
    write_bytes(p, img, 10);
    expect_images_fail(p, "truncated", "found 10", "truncated idx header");

    /* gzipped file cut in half: random pixels so the cut loses real data */
    {
        uint8_t *rnd = random_bytes(16 + 200 * 784, 7);
        long sz;
        memcpy(rnd, img, 16);
        put_be32(rnd + 4, 200);
        p = tpath("cut-images-idx3-ubyte.gz");
        CHECK(write_gz(p, rnd, 16 + 200 * 784), "write a gzipped idx file");
        sz = file_size(p);
        CHECK(truncate(p, sz / 2) == 0, "cut the gzipped file to %ld bytes", sz / 2);
        expect_images_fail(p, "truncated", "expected 156816 bytes", "truncated gzipped idx");

        /* only the 8-byte gzip trailer (CRC and length) lost: every data
         * byte is there, but the stream did not end */
        p = tpath("trailer-images-idx3-ubyte.gz");
        CHECK(write_gz(p, rnd, 16 + 200 * 784), "write a gzipped idx file");
        CHECK(truncate(p, file_size(p) - 4) == 0, "cut 4 bytes off its trailer");
        expect_images_fail(p, "truncated", "gzip", "gzip stream without its trailer");

        /* corrupt compressed data in the middle */
        p = tpath("corrupt-images-idx3-ubyte.gz");
        CHECK(write_gz(p, rnd, 16 + 200 * 784), "write a gzipped idx file");
        {
            FILE *f = fopen(p, "r+b");
            uint8_t junk[64];
            memset(junk, 0xff, sizeof junk);
            fseek(f, file_size(p) / 2, SEEK_SET);
            fwrite(junk, 1, sizeof junk, f);
            fclose(f);
        }
        expect_images_fail(p, "corrupt gzip data", NULL, "corrupt gzip data");

        /* the same data intact reads back */
        p = tpath("good-images-idx3-ubyte.gz");
        CHECK(write_gz(p, rnd, 16 + 200 * 784), "write a gzipped idx file");
        rc = dataset_read_idx_images(p, &px, &n, &h, &w, &err);
        CHECK(rc == CL_OK && n == 200 && h == 28 && w == 28 && !memcmp(px, rnd + 16, 200 * 784),
              "intact gzipped idx reads back exactly (%s)", rc ? err.msg : "ok");
        free(px);
        free(rnd);
    }

    /* trailing bytes after the data */
    p = tpath("long-images-idx3-ubyte");
    {
        uint8_t *b = malloc(len + 5);
        memcpy(b, img, len);
        memset(b + len, 0, 5);
        write_bytes(p, b, len + 5);
        free(b);
    }
    expect_images_fail(p, "too long", "found 3941", "idx with trailing bytes");

    /* wrong magic: a label file given as images, and junk */
    p = tpath("magic-images-idx3-ubyte");
    put_be32(img, 0x12345678);
    write_bytes(p, img, len);
    expect_images_fail(p, "magic", "0x12345678", "wrong magic");
    put_be32(img, 0x803);

    /* empty, plain and gzipped */
    p = tpath("empty-images-idx3-ubyte");
    write_bytes(p, "", 0);
    expect_images_fail(p, "empty", NULL, "empty idx file");
    p = tpath("empty-images-idx3-ubyte.gz");
    write_gz(p, "", 0);
    expect_images_fail(p, "empty", NULL, "empty gzipped idx file");

    /* zero images in the header */
    p = tpath("zero-images-idx3-ubyte");
    put_be32(img + 4, 0);
    write_bytes(p, img, 16);
    expect_images_fail(p, "no image", NULL, "idx file with 0 images");
    put_be32(img + 4, 5);

    /* missing */
    expect_images_fail(tpath("nonexistent-images"), "No such file", NULL, "missing idx file");

    /* labels: bad label at index 3, wrong magic, truncated */
    {
        uint8_t *lab = idx_labels(6, 0x801, &len);
        lab[8 + 3] = 10;
        p = tpath("bad-labels-idx1-ubyte");
        write_bytes(p, lab, len);
        y = (uint8_t *)1;
        rc = dataset_read_idx_labels(p, &y, &n, &err);
        CHECK(rc != CL_OK && msg_has(&err, p, "label 10") && strstr(err.msg, "index 3"),
              "label out of range refused with its index: %s", err.msg);
        CHECK(y == NULL && n == 0, "label outputs cleared");
        lab[8 + 3] = 9;

        p = tpath("imgmagic-labels-idx1-ubyte.gz");
        put_be32(lab, 0x803);
        write_gz(p, lab, len);
        rc = dataset_read_idx_labels(p, &y, &n, &err);
        CHECK(rc != CL_OK && msg_has(&err, p, "magic") && strstr(err.msg, "image file"),
              "image magic in a label file refused: %s", err.msg);
        put_be32(lab, 0x801);

        p = tpath("cut-labels-idx1-ubyte");
        write_bytes(p, lab, len - 2);
        rc = dataset_read_idx_labels(p, &y, &n, &err);
        CHECK(rc != CL_OK && msg_has(&err, p, "truncated") && strstr(err.msg, "expected 14 bytes, found 12"),
              "truncated label file refused: %s", err.msg);

        p = tpath("ok-labels-idx1-ubyte.gz");
        write_gz(p, lab, len);
        rc = dataset_read_idx_labels(p, &y, &n, &err);
        CHECK(rc == CL_OK && n == 6 && !memcmp(y, lab + 8, 6), "valid gzipped labels read back");
        free(y);
        free(lab);
    }
    free(img);
}

/* ---- CIFAR-10 ---------------------------------------------------------- */

/* A batch file of n records numbered from first: label (r*3+1)%10,
 * pixel k = pattern(r, k). */
static int write_cifar(const char *path, int first, int n)
{
    uint8_t *b = malloc((size_t)n * 3073);
    int ok;
    for (int i = 0; i < n; i++) {
        int r = first + i;
        b[(size_t)i * 3073] = (uint8_t)((r * 3 + 1) % 10);
        for (int k = 0; k < 3072; k++)
            b[(size_t)i * 3073 + 1 + k] = pattern(r, k);
    }
    ok = write_bytes(path, b, (size_t)n * 3073);
    free(b);
    return ok;
}

static void clear_cifar(void)
{
    char name[32];
    for (int b = 1; b <= 5; b++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        unlink(tpath(name));
    }
    unlink(tpath("test_batch.bin"));
}

static void test_small_cifar(void)
{
    char spec[600];
    cl_dataset ds;
    cl_err err = {0};
    int rc, ok = 1;
    snprintf(spec, sizeof spec, "cifar10:%s", tmpdir);
    clear_cifar();
    CHECK(write_cifar(tpath("data_batch_1.bin"), 0, 3) && write_cifar(tpath("data_batch_2.bin"), 3, 2) &&
              write_cifar(tpath("test_batch.bin"), 100, 1),
          "write a small CIFAR-10 directory");
    rc = dataset_load(spec, &ds, &err);
    if (CHECK(rc == CL_OK, "load it (%s)", rc ? err.msg : "ok")) {
        CHECK(!strcmp(ds.name, "cifar10") && ds.c == 3 && ds.h == 32 && ds.w == 32 && ds.classes == 10,
              "shape 3x32x32, 10 classes");
        CHECK(ds.n_train == 5 && ds.n_test == 1, "5 training records over two batches, 1 test (%d, %d)",
              ds.n_train, ds.n_test);
        for (int i = 0; i < 5; i++)
            ok &= ds.train_y[i] == (i * 3 + 1) % 10;
        CHECK(ok && ds.test_y[0] == (100 * 3 + 1) % 10, "labels in file order");
        /* CHW as stored: channel plane, then row, then column */
        {
            const int pos[][3] = {{0, 0, 0}, {0, 0, 31}, {1, 5, 7}, {2, 31, 31}, {2, 16, 0}};
            ok = 1;
            for (int i = 0; i < 5; i++)
                for (size_t j = 0; j < CL_ARRAY_LEN(pos); j++) {
                    int k = pos[j][0] * 1024 + pos[j][1] * 32 + pos[j][2];
                    ok &= ds.train_x[(size_t)i * 3072 + k] == pattern(i, k);
                }
            CHECK(ok, "pixels at (channel, row, column) positions match the file");
            CHECK(ds.test_x[1024 + 33] == pattern(100, 1024 + 33),
                  "test pixel (G, 1, 1)");
        }
    }
    dataset_free(&ds);

    /* a gap in the batches */
    CHECK(write_cifar(tpath("data_batch_4.bin"), 5, 1), "add data_batch_4.bin after a gap");
    rc = dataset_load(spec, &ds, &err);
    CHECK(rc != CL_OK && msg_has(&err, "data_batch_4.bin", "data_batch_3.bin"),
          "gap in the batches refused: %s", err.msg);
    unlink(tpath("data_batch_4.bin"));

    /* no test_batch.bin */
    unlink(tpath("test_batch.bin"));
    rc = dataset_load(spec, &ds, &err);
    CHECK(rc != CL_OK && msg_has(&err, tpath("test_batch.bin"), "No such file"),
          "missing test_batch.bin refused: %s", err.msg);
    CHECK(ds.train_x == NULL && ds.n_train == 0, "failed load leaves ds empty");

    /* no data_batch_1.bin */
    clear_cifar();
    write_cifar(tpath("test_batch.bin"), 0, 1);
    rc = dataset_load(spec, &ds, &err);
    CHECK(rc != CL_OK && msg_has(&err, "data_batch_1.bin", "binary version"),
          "missing data_batch_1.bin refused: %s", err.msg);

    /* wrong size */
    {
        uint8_t *b = random_bytes(3073 * 2 + 5, 3);
        b[0] = b[3073] = 1;
        write_bytes(tpath("data_batch_1.bin"), b, 3073 * 2 + 5);
        free(b);
    }
    rc = dataset_load(spec, &ds, &err);
    CHECK(rc != CL_OK && msg_has(&err, "data_batch_1.bin", "multiple") &&
              msg_has(&err, "6151", "remainder 5"),
          "wrong-size batch refused with size and remainder: %s", err.msg);

    /* empty */
    write_bytes(tpath("data_batch_1.bin"), "", 0);
    rc = dataset_load(spec, &ds, &err);
    CHECK(rc != CL_OK && msg_has(&err, "data_batch_1.bin", "empty"), "empty batch refused: %s", err.msg);

    /* bad label in the second record, read directly so the arrays stay
     * the caller's: appending to what an earlier batch gave */
    {
        uint8_t *x = NULL, *y = NULL;
        int n = 0;
        const char *p = tpath("data_batch_1.bin");
        write_cifar(p, 0, 3);
        rc = dataset_read_cifar_batch(p, &x, &y, &n, &err);
        CHECK(rc == CL_OK && n == 3, "read a batch directly");
        rc = dataset_read_cifar_batch(p, &x, &y, &n, &err);
        CHECK(rc == CL_OK && n == 6 && x[3 * 3072 + 10] == pattern(0, 10) && y[4] == y[1],
              "a second read appends");
        {
            uint8_t *b = random_bytes(3073 * 3, 5);
            b[0] = 2;
            b[3073] = 200;
            b[2 * 3073] = 3;
            write_bytes(tpath("test_batch.bin"), b, 3073 * 3);
            free(b);
        }
        rc = dataset_read_cifar_batch(tpath("test_batch.bin"), &x, &y, &n, &err);
        CHECK(rc != CL_OK && msg_has(&err, "test_batch.bin", "label 200") && strstr(err.msg, "record 1"),
              "bad CIFAR label refused with its record: %s", err.msg);
        CHECK(n == 6, "a failed append leaves the count alone");
        free(x);
        free(y);
    }
    clear_cifar();
}

static void test_specs(void)
{
    cl_dataset ds;
    cl_err err = {0};
    int rc = dataset_load("cifar10", &ds, &err);
    CHECK(rc == CL_ERR_ARG && strstr(err.msg, "directory") && strstr(err.msg, "cifar10:DIR"),
          "cifar10 without a directory: %s", err.msg);
    rc = dataset_load("imagenet", &ds, &err);
    CHECK(rc == CL_ERR_ARG && msg_has(&err, "imagenet", "fashion-mnist") && strstr(err.msg, "cifar10"),
          "unknown dataset lists the valid ones: %s", err.msg);
    rc = dataset_load("fashion-mnist:", &ds, &err);
    CHECK(rc == CL_ERR_ARG, "empty directory after the colon: %s", err.msg);
    rc = dataset_load("fashion-mnist:/nonexistent/fm", &ds, &err);
    CHECK(rc == CL_ERR_IO && msg_has(&err, "/nonexistent/fm", "No such file"),
          "missing directory named: %s", err.msg);
    rc = dataset_load("cifar10:/nonexistent/c10", &ds, &err);
    CHECK(rc == CL_ERR_IO && msg_has(&err, "/nonexistent/c10", "No such file") &&
              msg_has(&err, "data_batch_1.bin", "test_batch.bin"),
          "missing CIFAR directory named, with the files it should hold: %s", err.msg);
    CHECK(ds.train_x == NULL && ds.name[0] == '\0', "ds left empty");
}

static void test_real_cifar(void)
{
    const char *dir = getenv("CELLAR_CIFAR_DIR");
    char spec[1024];
    cl_dataset ds;
    cl_err err = {0};
    int counts[10] = {0}, balanced = 1, rc;
    float mean[3], std[3];
    if (!dir || !*dir) {
        printf("skip - real CIFAR-10: set CELLAR_CIFAR_DIR to a directory with the binary version\n");
        return;
    }
    snprintf(spec, sizeof spec, "cifar10:%s", dir);
    rc = dataset_load(spec, &ds, &err);
    if (!CHECK(rc == CL_OK, "load real CIFAR-10 from %s (%s)", dir, rc ? err.msg : "ok"))
        return;
    CHECK(ds.n_train == 50000 && ds.n_test == 10000, "50000 training, 10000 test images (%d, %d)",
          ds.n_train, ds.n_test);
    for (int i = 0; i < ds.n_train; i++)
        counts[ds.train_y[i]]++;
    for (int k = 0; k < 10; k++)
        balanced &= counts[k] == 5000;
    CHECK(balanced, "5000 training images per class");
    dataset_channel_stats(&ds, NULL, ds.n_train, mean, std);
    printf("# CIFAR-10 training set: mean %.4f %.4f %.4f std %.4f %.4f %.4f\n", mean[0], mean[1],
           mean[2], std[0], std[1], std[2]);
    /* the published values for the original files; this copy is JPEG
     * re-encoded, so only roughly */
    CHECK(fabs(mean[0] - 0.4914) < 0.01 && fabs(mean[1] - 0.4822) < 0.01 && fabs(mean[2] - 0.4465) < 0.01,
          "channel means near 0.491 0.482 0.447");
    dataset_free(&ds);
}

/* ---- split ------------------------------------------------------------- */

static void test_split(const cl_dataset *real)
{
    cl_dataset ds = {0};
    cl_split a, b, c;
    cl_err err = {0};
    int rc, n;
    char *seen;
    /* a synthetic dataset when the real one is missing: only n_train matters */
    if (real->n_train) {
        ds = *real;
    } else {
        ds.n_train = 60000;
        ds.train_x = (uint8_t *)"";
        snprintf(ds.name, sizeof ds.name, "synthetic");
    }
    n = ds.n_train;
    rc = dataset_split(&ds, 5000, 0, 42, &a, &err);
    CHECK(rc == CL_OK && a.n_val == 5000 && a.n_train == n - 5000, "split 5000 / rest");
    seen = calloc((size_t)n, 1);
    {
        int ok = 1;
        for (int i = 0; i < a.n_val; i++)
            ok &= a.val_idx[i] >= 0 && a.val_idx[i] < n && !seen[a.val_idx[i]]++;
        for (int i = 0; i < a.n_train; i++)
            ok &= a.train_idx[i] >= 0 && a.train_idx[i] < n && !seen[a.train_idx[i]]++;
        for (int i = 0; i < n; i++)
            ok &= seen[i] == 1;
        CHECK(ok, "validation and training disjoint and together cover every image");
    }
    rc = dataset_split(&ds, 5000, 0, 42, &b, &err);
    CHECK(rc == CL_OK && !memcmp(a.val_idx, b.val_idx, 5000 * sizeof(int)) &&
              !memcmp(a.train_idx, b.train_idx, (size_t)a.n_train * sizeof(int)),
          "same seed, same split");
    split_free(&b);
    rc = dataset_split(&ds, 5000, 0, 43, &b, &err);
    CHECK(rc == CL_OK && memcmp(a.val_idx, b.val_idx, 5000 * sizeof(int)), "another seed, another split");
    split_free(&b);
    {
        int sorted = 1;
        for (int i = 1; i < 5000; i++)
            sorted &= a.val_idx[i] > a.val_idx[i - 1];
        CHECK(!sorted, "the split is shuffled");
    }
    rc = dataset_split(&ds, 1000, 2000, 42, &c, &err);
    if (CHECK(rc == CL_OK && c.n_val == 1000 && c.n_train == 2000, "split 1000 / limit 2000")) {
        int ok = 1;
        memset(seen, 0, (size_t)n);
        for (int i = 0; i < c.n_val; i++)
            seen[c.val_idx[i]] = 1;
        for (int i = 0; i < c.n_train; i++)
            ok &= !seen[c.train_idx[i]];
        /* a limit takes a prefix of the same shuffle */
        ok &= !memcmp(c.val_idx, a.val_idx, 1000 * sizeof(int));
        CHECK(ok, "limited split disjoint, validation a prefix of the same shuffle");
    }
    split_free(&c);
    split_free(&c);
    free(seen);
    split_free(&a);

    rc = dataset_split(&ds, n - 100, 200, 1, &c, &err);
    {
        char want[32];
        snprintf(want, sizeof want, "%d", n);
        CHECK(rc == CL_ERR_ARG && c.train_idx == NULL && c.val_idx == NULL && strstr(err.msg, want) &&
                  strstr(err.msg, "200"),
              "too large a request refused with the numbers: %s", err.msg);
    }
    rc = dataset_split(&ds, n, 0, 1, &c, &err);
    CHECK(rc == CL_ERR_ARG, "no training images left refused: %s", err.msg);
    rc = dataset_split(&ds, -1, 0, 1, &c, &err);
    CHECK(rc == CL_ERR_ARG && strstr(err.msg, "negative"), "negative validation size refused: %s", err.msg);
    rc = dataset_split(&ds, 10, -5, 1, &c, &err);
    CHECK(rc == CL_ERR_ARG && strstr(err.msg, "negative"), "negative limit refused: %s", err.msg);
    rc = dataset_split(&ds, 0, 0, 1, &c, &err);
    CHECK(rc == CL_OK && c.n_val == 0 && c.n_train == n, "no validation set is allowed");
    split_free(&c);
}

/* ---- statistics and batches -------------------------------------------- */

/* A synthetic RGB dataset: channel ch takes values below 60 + 90*ch. */
static void synth_rgb(cl_dataset *ds, int n, uint64_t seed)
{
    cl_rng r;
    memset(ds, 0, sizeof *ds);
    ds->c = 3;
    ds->h = ds->w = 32;
    ds->classes = 10;
    ds->n_train = n;
    ds->train_x = malloc((size_t)n * 3072);
    ds->train_y = malloc((size_t)n);
    rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        ds->train_y[i] = (uint8_t)rng_below(&r, 10);
        for (int k = 0; k < 3072; k++)
            ds->train_x[(size_t)i * 3072 + k] = (uint8_t)rng_below(&r, 60 + 90 * (uint32_t)(k / 1024));
    }
}

static void test_stats(void)
{
    cl_dataset ds;
    float mean[3], std[3];
    int idx[50], ok = 1;
    synth_rgb(&ds, 200, 11);
    for (int i = 0; i < 50; i++)
        idx[i] = i * 4 + 1;
    dataset_channel_stats(&ds, idx, 50, mean, std);
    for (int ch = 0; ch < 3; ch++) {
        double s = 0, s2 = 0, m, v;
        for (int i = 0; i < 50; i++)
            for (int k = 0; k < 1024; k++) {
                double x = ds.train_x[(size_t)idx[i] * 3072 + ch * 1024 + k] / 255.0;
                s += x;
                s2 += x * x;
            }
        m = s / 51200;
        v = s2 / 51200 - m * m;
        ok &= fabs(mean[ch] - m) < 1e-6 && fabs(std[ch] - sqrt(v)) < 1e-6;
    }
    CHECK(ok, "channel stats over an index list match a direct computation");
    dataset_channel_stats(&ds, NULL, 0, mean, std);
    CHECK(mean[0] == 0 && std[0] == 1, "no images: mean 0, std 1");
    memset(ds.train_x, 7, 3072);
    dataset_channel_stats(&ds, NULL, 1, mean, std);
    CHECK(std[0] == 0 && fabs(mean[0] - 7 / 255.0) < 1e-7, "a constant image: std 0");
    dataset_free(&ds);
}

/* The value of output pixel (ch, y, x) for crop offsets dy, dx in
 * [0, 2*pad] of the zero-padded image and flip f. */
static float reference(const uint8_t *img, int ch, int y, int x, int pad, int dy, int dx, int f,
                       const float *mean, const float *std)
{
    int xx = f ? 31 - x : x, sy = y + dy - pad, sx = xx + dx - pad;
    if (sy < 0 || sy >= 32 || sx < 0 || sx >= 32)
        return 0.0f;
    return (float)((img[ch * 1024 + sy * 32 + sx] / 255.0 - mean[ch]) / std[ch]);
}

static void test_batches(void)
{
    cl_dataset ds;
    const float mean[3] = {0.4f, 0.5f, 0.6f}, std[3] = {0.2f, 0.25f, 0.3f};
    cl_augment aug = {.pad_crop = 4, .flip = 1};
    enum { N = 64 };
    int idx[N], y[N], ok = 1, found = 0, flips = 0, shifted = 0;
    float *out = malloc(sizeof(float) * N * 3072), *out2 = malloc(sizeof(float) * N * 3072);
    cl_rng r;
    synth_rgb(&ds, 40, 99);
    rng_seed(&r, 5);
    for (int i = 0; i < N; i++)
        idx[i] = (int)rng_below(&r, 40);

    /* no augmentation: the formula on every pixel */
    dataset_make_batch(ds.train_x, ds.train_y, 3, 32, 32, idx, N, mean, std, NULL, NULL, out, y);
    for (int i = 0; i < N; i++) {
        ok &= y[i] == ds.train_y[idx[i]];
        for (int ch = 0; ch < 3; ch++)
            for (int k = 0; k < 1024; k++) {
                double want = (ds.train_x[(size_t)idx[i] * 3072 + ch * 1024 + k] / 255.0 - mean[ch]) / std[ch];
                ok &= fabs(out[(size_t)i * 3072 + ch * 1024 + k] - want) < 1e-5;
            }
    }
    CHECK(ok, "without augmentation out = (x/255 - mean)/std and the labels follow idx");

    /* with crop and flip: each image is one of the 9x9x2 crops and flips */
    rng_seed(&r, 123);
    dataset_make_batch(ds.train_x, ds.train_y, 3, 32, 32, idx, N, mean, std, &aug, &r, out, y);
    for (int i = 0; i < N; i++) {
        const uint8_t *img = ds.train_x + (size_t)idx[i] * 3072;
        const float *o = out + (size_t)i * 3072;
        int hit = 0;
        for (int dy = 0; dy <= 8 && !hit; dy++)
            for (int dx = 0; dx <= 8 && !hit; dx++)
                for (int f = 0; f < 2 && !hit; f++) {
                    int match = 1;
                    for (int ch = 0; ch < 3 && match; ch++)
                        for (int yy = 0; yy < 32 && match; yy++)
                            for (int xx = 0; xx < 32; xx++)
                                if (fabs(o[ch * 1024 + yy * 32 + xx] -
                                         reference(img, ch, yy, xx, 4, dy, dx, f, mean, std)) > 1e-5) {
                                    match = 0;
                                    break;
                                }
                    if (match) {
                        hit = 1;
                        flips += f;
                        shifted += dy != 4 || dx != 4;
                    }
                }
        found += hit;
        ok &= y[i] == ds.train_y[idx[i]];
    }
    CHECK(found == N, "every augmented image is a crop/flip of its padded source (%d of %d)", found, N);
    CHECK(flips > 10 && flips < N - 10 && shifted > N / 2, "flips and shifts both happen (%d flips, %d shifted)",
          flips, shifted);
    CHECK(ok, "labels follow idx with augmentation");

    rng_seed(&r, 123);
    dataset_make_batch(ds.train_x, ds.train_y, 3, 32, 32, idx, N, mean, std, &aug, &r, out2, y);
    CHECK(!memcmp(out, out2, sizeof(float) * N * 3072), "same rng state, same batch");
    rng_seed(&r, 124);
    dataset_make_batch(ds.train_x, ds.train_y, 3, 32, 32, idx, N, mean, std, &aug, &r, out2, y);
    CHECK(memcmp(out, out2, sizeof(float) * N * 3072), "another rng state, another batch");

    /* padding bigger than the image: all zero, no stray reads */
    {
        cl_augment big = {.pad_crop = 40, .flip = 1};
        int any = 0;
        rng_seed(&r, 1);
        dataset_make_batch(ds.train_x, NULL, 3, 32, 32, idx, 8, mean, std, &big, &r, out2, NULL);
        for (int i = 0; i < 8 * 3072; i++)
            any |= !isfinite(out2[i]);
        CHECK(!any, "padding wider than the image stays in bounds");
    }
    dataset_free(&ds);

    /* a big normalised batch has per-channel mean 0 and std 1 */
    {
        enum { M = 400 };
        int *all = malloc(sizeof(int) * M);
        float *big = malloc(sizeof(float) * M * 3072), m[3], s[3];
        double t0, t1;
        synth_rgb(&ds, M, 17);
        for (int i = 0; i < M; i++)
            all[i] = M - 1 - i;
        dataset_channel_stats(&ds, all, M, m, s);
        dataset_make_batch(ds.train_x, ds.train_y, 3, 32, 32, all, M, m, s, NULL, NULL, big, NULL);
        ok = 1;
        for (int ch = 0; ch < 3; ch++) {
            double sum = 0, sum2 = 0;
            for (int i = 0; i < M; i++)
                for (int k = 0; k < 1024; k++) {
                    double v = big[(size_t)i * 3072 + ch * 1024 + k];
                    sum += v;
                    sum2 += v * v;
                }
            sum /= M * 1024.0;
            sum2 /= M * 1024.0;
            ok &= fabs(sum) < 1e-4 && fabs(sum2 - 1) < 1e-3;
        }
        CHECK(ok, "normalised with its own statistics: mean 0, std 1 per channel");
        /* the speed of a training-sized batch, for the record */
        t0 = cl_now();
        for (int rep = 0; rep < 20; rep++)
            dataset_make_batch(ds.train_x, ds.train_y, 3, 32, 32, all, 128, m, s, &aug, &r, big, NULL);
        t1 = cl_now();
        printf("# make_batch: %.1f us per 128-image CIFAR-shaped batch with crop and flip\n",
               (t1 - t0) / 20 * 1e6);
        free(all);
        free(big);
        dataset_free(&ds);
    }
    free(out);
    free(out2);
}

/* The real Fashion-MNIST batch mean: normalised with the training stats,
 * a large batch has mean near 0. */
static void test_fashion_batch(const cl_dataset *ds)
{
    enum { M = 10000 };
    int *idx;
    float *out, mean, std;
    double sum = 0;
    cl_rng r;
    if (!ds->n_train)
        return;
    idx = malloc(sizeof(int) * M);
    out = malloc(sizeof(float) * M * 784);
    rng_seed(&r, 3);
    for (int i = 0; i < M; i++)
        idx[i] = (int)rng_below(&r, (uint32_t)ds->n_train);
    dataset_channel_stats(ds, NULL, ds->n_train, &mean, &std);
    dataset_make_batch(ds->train_x, ds->train_y, 1, 28, 28, idx, M, &mean, &std, NULL, NULL, out, NULL);
    for (size_t k = 0; k < (size_t)M * 784; k++)
        sum += out[k];
    sum /= (double)M * 784;
    CHECK(fabs(sum) < 0.02, "a 10000-image Fashion-MNIST batch has mean near 0 (%.4f)", sum);
    free(idx);
    free(out);
}

int main(void)
{
    cl_dataset fashion = {0};
    if (!tmpdir_make("test-data")) {
        printf("not ok - mkdtemp %s: %s\n", tmpdir, strerror(errno));
        return 1;
    }
    {
        struct stat st;
        if (stat(DATASET_FASHION_MNIST_DIR, &st) == 0)
            test_real_fashion(&fashion);
        else
            printf("skip - real Fashion-MNIST: %s missing (Debian package dataset-fashion-mnist)\n",
                   DATASET_FASHION_MNIST_DIR);
    }
    test_small_fashion();
    test_damaged_idx();
    test_small_cifar();
    test_specs();
    test_real_cifar();
    test_split(&fashion);
    test_stats();
    test_batches();
    test_fashion_batch(&fashion);
    dataset_free(&fashion);
    remove_tree(tmpdir);
    return check_done();
}
