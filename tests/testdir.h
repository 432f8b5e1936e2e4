/* testdir.h - a temporary directory for a test's fixture files: made under
 * $TMPDIR (or /tmp), paths in it, files written into it, and removal of it
 * and its files at the end. */
#ifndef CELLAR_TESTS_TESTDIR_H
#define CELLAR_TESTS_TESTDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

/* make the directory (name: a word for its name); 0 on failure */
static int __attribute__((unused)) tmpdir_make(const char *name)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/cellar-%s-XXXXXX", base && *base ? base : "/tmp", name);
    return mkdtemp(tmpdir) != NULL;
}

/* the path of a file in it; a few rotating buffers keep several alive */
static const char *__attribute__((unused)) tpath(const char *name)
{
    static char bufs[8][1024];
    static int next;
    char *p = bufs[next++ % 8];
    snprintf(p, sizeof bufs[0], "%s/%s", tmpdir, name);
    return p;
}

static int __attribute__((unused)) write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f)
        return 0;
    ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok;
}

/* remove the files of a directory (one level), then the directory */
static void __attribute__((unused)) remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1200];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

#endif
