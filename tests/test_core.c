/* test_core.c - the small helpers every layer leans on: growable arrays
 * (cl_grow), strict number parsing, text buffers, durations and the
 * "did you mean" of error messages. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/util.h"

typedef struct pair {
    int a;
    double b;
} pair;

static void test_grow(void)
{
    pair *p = NULL;
    int n = 0, cap = 0, ok = 1, moves = 0, rc;
    /* one at a time, as the engine's and the screen's lists grow */
    for (int i = 0; i < 1000; i++) {
        int before = cap;
        if (cl_grow(&p, sizeof *p, n + 1, &cap, 16)) {
            ok = 0;
            break;
        }
        moves += cap != before;
        p[n].a = i;
        p[n].b = i * 0.5;
        n++;
    }
    CHECK(ok && cap == 1024, "1000 items one at a time: room for 1024 (16 doubled 6 times; got %d)",
          cap);
    CHECK(moves == 7, "... in 7 reallocations, not one an item (got %d)", moves);
    for (int i = 0; i < n; i++)
        if (p[i].a != i || p[i].b != i * 0.5)
            ok = 0;
    CHECK(ok, "... each item kept through the moves");
    rc = cl_grow(&p, sizeof *p, 900, &cap, 16);
    CHECK(rc == 0 && cap == 1024, "room already there: nothing changes (cap %d)", cap);
    rc = cl_grow(&p, sizeof *p, 5000, &cap, 16);
    CHECK(rc == 0 && cap == 8192, "5000 at once from 1024: doubled until they fit (got %d)", cap);
    CHECK(p[999].a == 999, "... the items kept");
    {
        pair *was = p;
        int c = cap;
        rc = cl_grow(&p, sizeof *p, INT_MAX, &cap, 16);
        CHECK(rc == -1 && p == was && cap == c,
              "a count past what an int can double to: refused, the array as it was");
    }
    free(p);

    {
        char *s = NULL;
        int c = 0, rc = cl_grow(&s, 1, 3, &c, 0);
        CHECK(rc == 0 && c == 4 && s,
              "first 0 starts at 1: 3 bytes get 4 (got %d)", c);
        free(s);
    }
}

static void test_parse(void)
{
    cl_err err = {0};
    long v = 0;
    double d = 0;
    CHECK(parse_long("42", 1, 100, &v, "--epochs", &err) == CL_OK && v == 42, "parse_long 42");
    CHECK(parse_long("4x", 1, 100, &v, "--epochs", &err) != CL_OK &&
              strstr(err.msg, "--epochs: expected an integer, got '4x'"),
          "parse_long rejects trailing garbage, naming the option (%s)", err.msg);
    CHECK(parse_long("101", 1, 100, &v, "--epochs", &err) != CL_OK &&
              strstr(err.msg, "out of range (1 to 100)"),
          "parse_long says the range (%s)", err.msg);
    CHECK(parse_long("", 1, 100, &v, "--epochs", &err) != CL_OK && strstr(err.msg, "got nothing"),
          "parse_long on nothing (%s)", err.msg);
    CHECK(parse_double("0.05", &d, "--lr", &err) == CL_OK && d == 0.05, "parse_double 0.05");
    CHECK(parse_double("nan", &d, "--lr", &err) != CL_OK && strstr(err.msg, "out of range"),
          "parse_double refuses nan (%s)", err.msg);
    CHECK(parse_double("1e999", &d, "--lr", &err) != CL_OK, "parse_double refuses overflow");
}

static void test_text(void)
{
    cl_buf b = {0};
    char out[32], dym[64];
    static const char *const names[] = {"epochs", "batch", "lr", NULL};
    for (int i = 0; i < 200; i++)
        buf_printf(&b, "%d,", i);
    CHECK(b.s && b.len == strlen(b.s) && !strncmp(b.s, "0,1,2,", 6) && strstr(b.s, ",199,"),
          "buf_printf appends and keeps the text whole (%zu bytes)", b.len);
    buf_free(&b);
    CHECK(!b.s && b.len == 0, "buf_free leaves it empty");
    format_duration(3725, out, sizeof out);
    CHECK(!strcmp(out, "1:02:05"), "format_duration(3725) = 1:02:05 (got %s)", out);
    format_duration(65, out, sizeof out);
    CHECK(!strcmp(out, "1:05"), "format_duration(65) = 1:05 (got %s)", out);
    CHECK(cl_nearest("epoch", 5, names, -1) && !strcmp(cl_nearest("epoch", 5, names, -1), "epochs"),
          "cl_nearest: 'epoch' is near 'epochs'");
    CHECK(!cl_nearest("momentum", 8, names, -1), "... 'momentum' is near none");
    cl_did_you_mean("bacth", 5, names, -1, "--", "", dym, sizeof dym);
    CHECK(!strcmp(dym, ": did you mean --batch?"), "cl_did_you_mean (got '%s')", dym);
}

/* the byte strings of checkpoints: little-endian on any host, numbers
 * back bit for bit, and the checksum FNV-1a's published values */
static void test_bytes(void)
{
    unsigned char b[32], *p = b;
    p = cl_put_u32(p, 0x01020304u);
    p = cl_put_u64(p, 0x1122334455667788ULL);
    p = cl_put_f32(p, -0.1f);
    p = cl_put_f64(p, 1.0 / 3.0);
    CHECK(p - b == 24 && b[0] == 4 && b[3] == 1 && b[4] == 0x88 && b[11] == 0x11,
          "u32 and u64 are written least significant byte first");
    CHECK(cl_get_u32(b) == 0x01020304u && cl_get_u64(b + 4) == 0x1122334455667788ULL &&
              cl_get_f32(b + 12) == -0.1f && cl_get_f64(b + 16) == 1.0 / 3.0,
          "and read back the same, floats and doubles bit for bit");
    CHECK(cl_fnv64(CL_FNV64_START, "", 0) == 0xcbf29ce484222325ULL &&
              cl_fnv64(CL_FNV64_START, "a", 1) == 0xaf63dc4c8601ec8cULL &&
              cl_fnv64(CL_FNV64_START, "foobar", 6) == 0x85944171f73967e8ULL,
          "FNV-1a 64 of \"\", \"a\" and \"foobar\" are the published values");
    CHECK(cl_fnv64(cl_fnv64(CL_FNV64_START, "foo", 3), "bar", 3) ==
              cl_fnv64(CL_FNV64_START, "foobar", 6),
          "and it continues from a running value");
}

int main(void)
{
    test_grow();
    test_parse();
    test_text();
    test_bytes();
    return check_done();
}
