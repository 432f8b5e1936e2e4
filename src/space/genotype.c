/* genotype.c - the NASNet cell space: the op registry, the one-line genotype
 * text (parse and format), structural validation, the cell output rule and
 * the stable graph hash.  See genotype.h and cellar-genotype(5).
 *
 * Nothing here allocates, prints or exits: a genotype fits its fixed struct,
 * and every failure is a status plus a message in the caller's cl_err. */
#include "space/genotype.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/rng.h"
#include "core/util.h"

/* ---- the registry -------------------------------------------------------- */

/* k of identity is 1 so that code sizing windows never sees 0. */
const geno_op_info geno_ops[OP_COUNT] = {
    [OP_IDENTITY]     = {"identity",     OPK_IDENTITY, 1, 1, "id"},
    [OP_CONV_1X3_3X1] = {"conv_1x3_3x1", OPK_CONV_PAIR, 3, 1, "f3"},
    [OP_CONV_1X7_7X1] = {"conv_1x7_7x1", OPK_CONV_PAIR, 7, 1, "f7"},
    [OP_DIL_CONV_3X3] = {"dil_conv_3x3", OPK_DIL, 3, 2, "d3"},
    [OP_AVG_POOL_3X3] = {"avg_pool_3x3", OPK_POOL_AVG, 3, 1, "a3"},
    [OP_MAX_POOL_3X3] = {"max_pool_3x3", OPK_POOL_MAX, 3, 1, "m3"},
    [OP_MAX_POOL_5X5] = {"max_pool_5x5", OPK_POOL_MAX, 5, 1, "m5"},
    [OP_MAX_POOL_7X7] = {"max_pool_7x7", OPK_POOL_MAX, 7, 1, "m7"},
    [OP_CONV_1X1]     = {"conv_1x1",     OPK_CONV, 1, 1, "c1"},
    [OP_CONV_3X3]     = {"conv_3x3",     OPK_CONV, 3, 1, "c3"},
    [OP_SEP_CONV_3X3] = {"sep_conv_3x3", OPK_SEP, 3, 1, "s3"},
    [OP_SEP_CONV_5X5] = {"sep_conv_5x5", OPK_SEP, 5, 1, "s5"},
    [OP_SEP_CONV_7X7] = {"sep_conv_7x7", OPK_SEP, 7, 1, "s7"},
};

const char *const geno_comb_names[COMB_COUNT] = {
    [COMB_ADD] = "add",
    [COMB_CONCAT] = "concat",
};

/* Names are matched exactly (case matters): the text is a stable key, and
 * one spelling per op keeps journal lines comparable as strings. */
static int name_is(const char *want, const char *name, size_t len)
{
    return strlen(want) == len && memcmp(want, name, len) == 0;
}

int geno_op_find(const char *name, size_t len)
{
    if (!name)
        return -1;
    for (int i = 0; i < OP_COUNT; i++)
        if (name_is(geno_ops[i].name, name, len))
            return i;
    return -1;
}

int geno_comb_find(const char *name, size_t len)
{
    if (!name)
        return -1;
    for (int i = 0; i < COMB_COUNT; i++)
        if (name_is(geno_comb_names[i], name, len))
            return i;
    return -1;
}

/* ---- the scanner --------------------------------------------------------- */

/* Whitespace includes newlines so that a genotype broken over lines (as in
 * the man page) still reads; columns then count bytes from the start. */
static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
/* ASCII only, never the locale: the format must not depend on LC_CTYPE. */
static int is_ident(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_';
}
static int is_delim(char c)
{
    return c == '(' || c == ')' || c == ':' || c == ';' || c == '|';
}

typedef struct scan {
    const char *s;
    size_t pos;
    cl_err *err;
} scan;

static void skip_ws(scan *p)
{
    while (is_ws(p->s[p->pos]))
        p->pos++;
}

/* Quote what stands at `at` for an error: a word, one delimiter, a byte
 * value for unprintable input, or "end of input". */
static const char *describe(const char *s, size_t at, char *buf, size_t cap)
{
    enum { MAXSHOW = 40 };
    unsigned char c = (unsigned char)s[at];
    size_t n = 0;
    if (c == '\0')
        return "end of input";
    if (c < 0x20 || c >= 0x7f) {
        snprintf(buf, cap, "byte 0x%02x", c);
        return buf;
    }
    if (is_delim((char)c)) {
        snprintf(buf, cap, "'%c'", c);
        return buf;
    }
    while (n < MAXSHOW) {
        unsigned char d = (unsigned char)s[at + n];
        if (d < 0x21 || d >= 0x7f || is_delim((char)d))
            break;
        n++;
    }
    {
        unsigned char d = (unsigned char)s[at + n];
        int more = n == MAXSHOW && d >= 0x21 && d < 0x7f && !is_delim((char)d);
        snprintf(buf, cap, "'%.*s%s'", (int)n, s + at, more ? "..." : "");
    }
    return buf;
}

/* Record "column N: <message>" for the byte at `at` (0-based). */
static int fail_at(scan *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(scan *p, size_t at, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ERR_SET(p->err, CL_ERR_PARSE, "column %zu: %s", at + 1, msg);
}

/* "identity, conv_1x3_3x1, ..." built from the table, so the message can
 * never go stale when an op is added. */
static const char *op_list(char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < OP_COUNT && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", geno_ops[i].name);
    return buf;
}

/* `kw` then ':' ("normal:", "reduce:"), whitespace allowed before the colon. */
static int expect_keyword(scan *p, const char *kw)
{
    char what[64];
    size_t start, len = strlen(kw);
    skip_ws(p);
    start = p->pos;
    while (is_ident(p->s[p->pos]))
        p->pos++;
    if (p->pos - start != len || memcmp(p->s + start, kw, len) != 0)
        return fail_at(p, start, "expected '%s:', got %s", kw,
                       describe(p->s, start, what, sizeof what));
    skip_ws(p);
    if (p->s[p->pos] != ':')
        return fail_at(p, p->pos, "expected ':' after '%s', got %s", kw,
                       describe(p->s, p->pos, what, sizeof what));
    p->pos++;
    return CL_OK;
}

/* One `op(i)` of block `b` (0-based): inputs 0..b+1 are legal there. */
static int parse_operand(scan *p, int b, uint8_t *op, uint8_t *in)
{
    char what[64];
    size_t start;
    int id;
    unsigned long val = 0;
    int too_big = 0;
    int maxin = b + 1;

    skip_ws(p);
    start = p->pos;
    while (is_ident(p->s[p->pos]))
        p->pos++;
    id = geno_op_find(p->s + start, p->pos - start);
    if (id < 0) {
        char valid[OP_COUNT * 16];
        const char *names[OP_COUNT];
        char near[64];
        for (int i = 0; i < OP_COUNT; i++)
            names[i] = geno_ops[i].name;
        return fail_at(p, start, "expected an op name, got %s%s (valid: %s)",
                       describe(p->s, start, what, sizeof what),
                       cl_did_you_mean(p->s + start, p->pos - start, names, OP_COUNT, "", "", near,
                                       sizeof near),
                       op_list(valid, sizeof valid));
    }
    skip_ws(p);
    if (p->s[p->pos] != '(')
        return fail_at(p, p->pos, "expected '(' after the op name, got %s",
                       describe(p->s, p->pos, what, sizeof what));
    p->pos++;
    skip_ws(p);
    start = p->pos;
    if (!is_digit(p->s[p->pos]))
        return fail_at(p, start, "expected an input index (0..%d, a decimal number), got %s",
                       maxin, describe(p->s, start, what, sizeof what));
    /* stop accumulating long before unsigned long could wrap */
    while (is_digit(p->s[p->pos])) {
        if (val > 1000000)
            too_big = 1;
        else
            val = val * 10 + (unsigned long)(p->s[p->pos] - '0');
        p->pos++;
    }
    if (too_big)
        return fail_at(p, start, "input index %.*s%s of block %d is too large (valid inputs here: 0..%d)",
                       (int)(p->pos - start > 24 ? 24 : p->pos - start), p->s + start,
                       p->pos - start > 24 ? "..." : "", b, maxin);
    if (val == (unsigned long)b + 2)
        return fail_at(p, start, "input %lu of block %d refers to the block itself (valid inputs here: 0..%d)",
                       val, b, maxin);
    if (val > (unsigned long)maxin)
        return fail_at(p, start, "input %lu of block %d refers to a block that comes later (valid inputs here: 0..%d)",
                       val, b, maxin);
    skip_ws(p);
    if (p->s[p->pos] != ')')
        return fail_at(p, p->pos, "expected ')' after the input index, got %s",
                       describe(p->s, p->pos, what, sizeof what));
    p->pos++;
    *op = (uint8_t)id;
    *in = (uint8_t)val;
    return CL_OK;
}

static int parse_block(scan *p, int b, geno_block *blk)
{
    char what[64];
    size_t start;
    int id, rc;
    for (int k = 0; k < 2; k++)
        if ((rc = parse_operand(p, b, &blk->op[k], &blk->in[k])) != CL_OK)
            return rc;
    skip_ws(p);
    start = p->pos;
    while (is_ident(p->s[p->pos]))
        p->pos++;
    id = geno_comb_find(p->s + start, p->pos - start);
    if (id < 0)
        return fail_at(p, start, "expected a combiner (add or concat) to end block %d, got %s",
                       b, describe(p->s, start, what, sizeof what));
    blk->comb = (uint8_t)id;
    return CL_OK;
}

/* Blocks separated by '|'.  `want` is the normal cell's block count while
 * the reduce cell is read (-1 before), so an extra block is reported where
 * it starts rather than at the end. */
static int parse_cell(scan *p, const char *name, geno_cell *c, int want)
{
    int rc;
    c->nblocks = 0;
    for (;;) {
        skip_ws(p);
        if (c->nblocks == GENO_MAX_BLOCKS)
            return fail_at(p, p->pos, "too many blocks in the %s cell (at most %d)", name,
                           GENO_MAX_BLOCKS);
        if (want >= 0 && c->nblocks == want)
            return fail_at(p, p->pos,
                           "the reduce cell has more blocks than the normal cell's %d "
                           "(both cells need the same number of blocks)", want);
        if ((rc = parse_block(p, c->nblocks, &c->b[c->nblocks])) != CL_OK)
            return rc;
        c->nblocks++;
        skip_ws(p);
        if (p->s[p->pos] != '|')
            return CL_OK;
        p->pos++;
    }
}

/* Grammar (whitespace free between tokens):
 *   genotype := 'normal' ':' cell ';' 'reduce' ':' cell
 *   cell     := block ('|' block)*
 *   block    := op '(' index ')' op '(' index ')' comb
 * On failure *g is left as it was. */
int geno_parse(const char *text, cl_genotype *g, cl_err *err)
{
    char what[64];
    cl_genotype t;
    scan p = {text, 0, err};
    int rc;

    if (!text || !g)
        return ERR_SET(err, CL_ERR_ARG, "geno_parse: no text or no genotype to fill");
    memset(&t, 0, sizeof t);
    if ((rc = expect_keyword(&p, "normal")) != CL_OK)
        return rc;
    if ((rc = parse_cell(&p, "normal", &t.normal, -1)) != CL_OK)
        return rc;
    skip_ws(&p);
    if (p.s[p.pos] == '\0')
        return fail_at(&p, p.pos,
                       "expected ';' and the reduce cell after block %d of the normal cell "
                       "(both cells are required), got end of input", t.normal.nblocks - 1);
    if (p.s[p.pos] != ';')
        return fail_at(&p, p.pos, "expected '|' or ';' after block %d of the normal cell, got %s",
                       t.normal.nblocks - 1, describe(p.s, p.pos, what, sizeof what));
    p.pos++;
    if ((rc = expect_keyword(&p, "reduce")) != CL_OK)
        return rc;
    if ((rc = parse_cell(&p, "reduce", &t.reduce, t.normal.nblocks)) != CL_OK)
        return rc;
    skip_ws(&p);
    if (p.s[p.pos] != '\0')
        return fail_at(&p, p.pos,
                       "expected '|' or end of input after block %d of the reduce cell, got %s",
                       t.reduce.nblocks - 1, describe(p.s, p.pos, what, sizeof what));
    if (t.reduce.nblocks != t.normal.nblocks)
        return fail_at(&p, p.pos,
                       "the reduce cell has %d block%s but the normal cell has %d "
                       "(both cells need the same number of blocks)",
                       t.reduce.nblocks, t.reduce.nblocks == 1 ? "" : "s", t.normal.nblocks);
    /* the grammar already enforces every rule; this guards the two apart */
    if ((rc = geno_validate(&t, err)) != CL_OK)
        return rc;
    *g = t;
    return CL_OK;
}

/* ---- formatting ---------------------------------------------------------- */

typedef struct sink {
    char *out;
    size_t cap, len;
} sink;

/* Append, truncating at cap but counting the full length, snprintf-style. */
static void put(sink *k, const char *s)
{
    size_t n = strlen(s);
    if (k->len < k->cap) {
        size_t room = k->cap - k->len - 1;
        memcpy(k->out + k->len, s, n < room ? n : room);
    }
    k->len += n;
    if (k->cap)
        k->out[k->len < k->cap ? k->len : k->cap - 1] = '\0';
}

static void put_cell(sink *k, const geno_cell *c)
{
    char num[16];
    int nb = c->nblocks < 0 ? 0 : c->nblocks > GENO_MAX_BLOCKS ? GENO_MAX_BLOCKS : c->nblocks;
    for (int b = 0; b < nb; b++) {
        const geno_block *blk = &c->b[b];
        if (b)
            put(k, " | ");
        for (int j = 0; j < 2; j++) {
            /* an out-of-range op prints as '?' so the line fails to parse */
            put(k, blk->op[j] < OP_COUNT ? geno_ops[blk->op[j]].name : "?");
            snprintf(num, sizeof num, "(%u) ", (unsigned)blk->in[j]);
            put(k, num);
        }
        put(k, blk->comb < COMB_COUNT ? geno_comb_names[blk->comb] : "?");
    }
}

static void brief_cell(sink *k, const geno_cell *c)
{
    int nb = c->nblocks < 0 ? 0 : c->nblocks > GENO_MAX_BLOCKS ? GENO_MAX_BLOCKS : c->nblocks;
    for (int b = 0; b < nb; b++) {
        const geno_block *blk = &c->b[b];
        if (b)
            put(k, " ");
        for (int j = 0; j < 2; j++)
            put(k, blk->op[j] < OP_COUNT ? geno_ops[blk->op[j]].brief : "?");
        put(k, blk->comb == COMB_ADD ? "+" : blk->comb == COMB_CONCAT ? "||" : "?");
    }
}

int geno_brief(const cl_genotype *g, char *out, size_t cap)
{
    sink k = {out, out ? cap : 0, 0};
    if (k.cap)
        out[0] = '\0';
    brief_cell(&k, &g->normal);
    put(&k, " / ");
    brief_cell(&k, &g->reduce);
    return (int)k.len;
}

int geno_text_halves(const char *text, const char **reduce)
{
    const char *semi = strstr(text, " ; ");
    *reduce = semi ? semi + 3 : "";
    return semi ? (int)(semi - text) : (int)strlen(text);
}

/* The normal form: single spaces, " | " between blocks, " ; " between the
 * cells.  Returns the length the whole line needs (without the NUL). */
int geno_format(const cl_genotype *g, char *out, size_t cap)
{
    sink k = {out, out ? cap : 0, 0};
    if (k.cap)
        out[0] = '\0';
    put(&k, "normal: ");
    put_cell(&k, &g->normal);
    put(&k, " ; reduce: ");
    put_cell(&k, &g->reduce);
    return (int)k.len;
}

/* ---- validation and the output rule ------------------------------------- */

static int validate_cell(const geno_cell *c, const char *name, cl_err *err)
{
    if (c->nblocks < 1 || c->nblocks > GENO_MAX_BLOCKS)
        return ERR_SET(err, CL_ERR_ARG, "%s cell: %d block%s (a cell has 1..%d)", name,
                       c->nblocks, c->nblocks == 1 ? "" : "s", GENO_MAX_BLOCKS);
    for (int b = 0; b < c->nblocks; b++) {
        const geno_block *blk = &c->b[b];
        for (int j = 0; j < 2; j++) {
            if (blk->op[j] >= OP_COUNT)
                return ERR_SET(err, CL_ERR_ARG, "%s cell, block %d: op %u is not an op (0..%d)",
                               name, b, (unsigned)blk->op[j], OP_COUNT - 1);
            if (blk->in[j] >= b + 2)
                return ERR_SET(err, CL_ERR_ARG,
                               "%s cell, block %d: input %u does not refer to h_{i-1}, h_i or an "
                               "earlier block (valid inputs here: 0..%d)",
                               name, b, (unsigned)blk->in[j], b + 1);
        }
        if (blk->comb >= COMB_COUNT)
            return ERR_SET(err, CL_ERR_ARG, "%s cell, block %d: combiner %u is not add (0) or concat (1)",
                           name, b, (unsigned)blk->comb);
    }
    return CL_OK;
}

/* Besides the header's rules, both cells must have the same block count:
 * the controller samples them as one 2 x 5B sequence, and the text format
 * refuses anything else, so a struct that broke it could not round-trip. */
int geno_validate(const cl_genotype *g, cl_err *err)
{
    int rc;
    if (!g)
        return ERR_SET(err, CL_ERR_ARG, "geno_validate: no genotype");
    if ((rc = validate_cell(&g->normal, "normal", err)) != CL_OK)
        return rc;
    if ((rc = validate_cell(&g->reduce, "reduce", err)) != CL_OK)
        return rc;
    if (g->normal.nblocks != g->reduce.nblocks)
        return ERR_SET(err, CL_ERR_ARG,
                       "the normal cell has %d block%s but the reduce cell has %d "
                       "(both cells need the same number of blocks)",
                       g->normal.nblocks, g->normal.nblocks == 1 ? "" : "s", g->reduce.nblocks);
    return CL_OK;
}

/* Writes the 0-based numbers of the blocks no later block reads, ascending,
 * to blocks_out (room for nblocks entries; may be NULL to only count) and
 * returns how many.  Inputs out of range are ignored rather than trusted. */
int geno_cell_outputs(const geno_cell *c, int *blocks_out)
{
    unsigned char read[GENO_MAX_BLOCKS] = {0};
    int nb = c->nblocks < 0 ? 0 : c->nblocks > GENO_MAX_BLOCKS ? GENO_MAX_BLOCKS : c->nblocks;
    int n = 0;
    for (int b = 0; b < nb; b++)
        for (int j = 0; j < 2; j++) {
            int in = c->b[b].in[j];
            if (in >= 2 && in - 2 < b)
                read[in - 2] = 1;
        }
    for (int b = 0; b < nb; b++)
        if (!read[b]) {
            if (blocks_out)
                blocks_out[n] = b;
            n++;
        }
    return n;
}

/* ---- the hash ------------------------------------------------------------ */

/* Domain tags keep a pair, a block, a cell and a genotype from ever being
 * confused with one another even when their contents coincide. */
#define TAG_LEAF0 0x68302d6c65616630ULL   /* h_{i-1} */
#define TAG_LEAF1 0x68312d6c65616631ULL   /* h_i */
#define TAG_BAD   0x6261642d696e7075ULL   /* an input that is out of range */
#define TAG_PAIR  0x706169722d6f7069ULL
#define TAG_BLOCK 0x626c6f636b2d6862ULL
#define TAG_CELL  0x63656c6c2d6d756cULL
#define TAG_GENO  0x67656e6f2d6e2d72ULL

/* An ordered step: mixing x before xor-ing keeps fold(fold(h, a), b) and
 * fold(fold(h, b), a) apart, so order is significant wherever we fold. */
static uint64_t fold(uint64_t h, uint64_t x)
{
    return mix64(h ^ mix64(x));
}

/* The cell as a Merkle DAG: a block's hash is its combiner and its two
 * (op, input-hash) pairs taken as an unordered pair (sorted, then folded:
 * symmetric, yet equal pairs do not cancel as a xor would); the cell is
 * the sorted multiset of its output blocks' hashes.  A block read by a
 * later block reaches the cell only through that reader, which is right:
 * it is not part of the output. */
static uint64_t cell_hash(const geno_cell *c)
{
    uint64_t h[2 + GENO_MAX_BLOCKS];
    uint64_t outs[GENO_MAX_BLOCKS];
    int idx[GENO_MAX_BLOCKS];
    int nb = c->nblocks < 0 ? 0 : c->nblocks > GENO_MAX_BLOCKS ? GENO_MAX_BLOCKS : c->nblocks;
    int n;
    uint64_t acc;

    h[0] = mix64(TAG_LEAF0);
    h[1] = mix64(TAG_LEAF1);
    for (int b = 0; b < nb; b++) {
        const geno_block *blk = &c->b[b];
        uint64_t p[2], lo, hi;
        for (int j = 0; j < 2; j++) {
            uint64_t hin = blk->in[j] < b + 2 ? h[blk->in[j]] : mix64(TAG_BAD);
            p[j] = fold(fold(TAG_PAIR, blk->op[j]), hin);
        }
        lo = p[0] < p[1] ? p[0] : p[1];
        hi = p[0] < p[1] ? p[1] : p[0];
        h[2 + b] = fold(fold(fold(TAG_BLOCK, blk->comb), lo), hi);
    }

    n = geno_cell_outputs(c, idx);
    for (int i = 0; i < n; i++)
        outs[i] = h[2 + idx[i]];
    /* insertion sort: at most 16 values */
    for (int i = 1; i < n; i++) {
        uint64_t v = outs[i];
        int j = i - 1;
        while (j >= 0 && outs[j] > v) {
            outs[j + 1] = outs[j];
            j--;
        }
        outs[j + 1] = v;
    }
    acc = TAG_CELL;
    for (int i = 0; i < n; i++)
        acc = fold(acc, outs[i]);
    return fold(acc, (uint64_t)n);
}

uint64_t geno_hash(const cl_genotype *g)
{
    return fold(fold(TAG_GENO, cell_hash(&g->normal)), cell_hash(&g->reduce));
}

void geno_hash_hex(uint64_t h, char out[17])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 15; i >= 0; i--) {
        out[i] = hex[h & 15];
        h >>= 4;
    }
    out[16] = '\0';
}

/* ---- names or text ------------------------------------------------------- */

/* `name` equals arg[0..len) ignoring ASCII case */
static int name_eq_nocase(const char *name, const char *arg, size_t len)
{
    size_t i;
    for (i = 0; i < len && name[i]; i++) {
        char x = name[i], y = arg[i];
        if (x >= 'A' && x <= 'Z')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return 0;
    }
    return i == len && name[i] == '\0';
}

/* A built-in name (any case, surrounding whitespace ignored) or a genotype
 * line.  When it is neither, the
 * message says both why it is not a name and why it does not parse, since
 * we cannot know which the user meant. */
int geno_from_arg(const char *name_or_text, cl_genotype *g, cl_err *err)
{
    char names[256];
    const char *name, *end;
    size_t len = 0, namelen;
    cl_err perr;
    int rc;

    if (!name_or_text || !g)
        return ERR_SET(err, CL_ERR_ARG, "geno_from_arg: no argument");
    for (name = name_or_text; is_ws(*name); name++)
        ;
    for (end = name + strlen(name); end > name && is_ws(end[-1]); end--)
        ;
    namelen = (size_t)(end - name);
    for (int i = 0; i < geno_builtin_count; i++)
        if (name_eq_nocase(geno_builtin[i].name, name, namelen)) {
            if ((rc = geno_parse(geno_builtin[i].text, g, err)) != CL_OK)
                err_prefix(err, "built-in genotype '%s'", geno_builtin[i].name);
            return rc;
        }
    err_clear(&perr);
    if ((rc = geno_parse(name_or_text, g, &perr)) == CL_OK)
        return CL_OK;
    /* text with a ':' meant to be a genotype line: its parse error says it all */
    if (memchr(name, ':', namelen)) {
        if (err)
            *err = perr;
        return rc;
    }
    names[0] = '\0';
    for (int i = 0; i < geno_builtin_count && len < sizeof names; i++)
        len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "",
                                geno_builtin[i].name);
    return ERR_SET(err, rc, "unknown genotype name '%.*s%s' (built-in: %s) and not a genotype line: %s",
                   (int)(namelen > 48 ? 48 : namelen), name, namelen > 48 ? "..." : "", names, perr.msg);
}
