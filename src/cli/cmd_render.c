/* cmd_render.c - `cellar render`: a genotype's two cells drawn as a
 * picture (SVG, PNG), a Graphviz graph (DOT) or the terminal drawing
 * (ascii), from a built-in name, a genotype line, or a trial of a journal. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "space/genotype.h"
#include "store/store.h"
#include "render/render.h"

static const char usage[] =
    "usage: cellar render [--genotype] G [--format F] [-o FILE]\n"
    "       cellar render DB [--trial ID|best] [--format F] [-o FILE]\n"
    "\n"
    "Draw a genotype's normal and reduction cells: the inputs h[i-1] and h[i]\n"
    "at the top, each block's two ops side by side above their combiner (add or\n"
    "concat), and the cell's output at the bottom: the concat of the blocks no\n"
    "later block reads, or that block itself (\"out: add\") when there is one.\n"
    "An input the cell never reads is shown unconnected.\n"
    "\n"
    "  --genotype G      a built-in name (nasnet-a, enas) or a genotype line;\n"
    "                    'cellar render G' where no file G is says the same\n"
    "  DB --trial ID     the genotype of trial ID in the journal DB; without\n"
    "                    --trial (or with 'best'), its best trial (rank 1 of\n"
    "                    'cellar show DB'), named on stderr\n"
    "  --format F        svg, png, dot (laid out by Graphviz), or ascii (the\n"
    "                    terminal drawing in UTF-8 box characters); by default\n"
    "                    the extension of FILE (.svg .png .dot .gv .txt), else ascii\n"
    "  -o, --output FILE where to write it; - (the default) is standard output,\n"
    "                    for png only when that is not a terminal\n";

/* the genotype of trial `id` of journal `db` (0: the best, then named on
 * stderr) */
static int trial_genotype(const char *db, long id, cl_genotype *g, cl_err *err)
{
    store_trial t;
    int rank, ranked, rc;
    if ((rc = journal_genotype(db, id, g, &t, &rank, &ranked, err)))
        return rc;
    if (id <= 0)
        fprintf(stderr, "cellar render: trial %lld, the best of %d in %s (reward %.4f)\n",
                (long long)t.id, ranked, db, t.reward);
    store_trial_clear(&t);
    return CL_OK;
}

static int run_render(int argc, char **argv)
{
    const char *geno_arg = NULL, *format = NULL, *out = "-", *db = NULL;
    int trial = 0, code, rc;
    cli_opt opts[] = {
        {"genotype", OPT_STR, &geno_arg, 0, 0, 0},
        {"trial", OPT_TRIAL, &trial, 0, 0, 0},
        {"format", OPT_STR, &format, 0, 0, 0},
        {"output", OPT_STR, &out, 0, 0, 0},
    };
    char **args;
    cl_genotype g;
    cl_err err = {0};

    /* -o FILE is --output FILE: cli_parse knows long options only */
    if (!(args = calloc((size_t)argc + 1, sizeof *args))) {
        fprintf(stderr, "cellar render: out of memory\n");
        return 1;
    }
    for (int i = 0; i < argc; i++) {
        args[i] = argv[i];
        if (i > 0 && !strcmp(argv[i], "-o"))
            args[i] = "--output";
    }
    rc = cli_parse(&cmd_render, argc, args, opts, (int)CL_ARRAY_LEN(opts), &db, &code);
    free(args);
    if (rc)
        return code;

    /* `cellar render nasnet-a`: a positional genotype where no such file is */
    if (db && !geno_arg && !opts[1].seen && cli_positional_genotype(db, &g)) {
        geno_arg = db;
        db = NULL;
    }
    if (geno_arg && db) {
        fprintf(stderr, "cellar render: give --genotype G or a journal with --trial ID, not both\n");
        return 2;
    }
    if (db && !opts[1].seen && access(db, F_OK) != 0) {
        fprintf(stderr, "cellar render: %s: no such journal, nor a genotype (the built-in "
                        "names: 'cellar show list'; or a genotype line)\n", db);
        return 1;
    }
    if (!db && opts[1].seen) {
        fprintf(stderr, "cellar render: --trial needs a journal (cellar render DB --trial ID)\n");
        return 2;
    }
    if (!geno_arg && !db) {
        fprintf(stderr, "cellar render: what to draw? --genotype G, or a journal DB [--trial ID]\n"
                        "(see 'cellar render --help')\n");
        return 2;
    }
    if (!format)
        format = strcmp(out, "-") ? render_format_of(out) : "ascii";
    if (!format) {
        fprintf(stderr,
                "cellar render: which format for %s? say --format svg, png, dot or ascii\n", out);
        return 2;
    }
    if (!strcmp(format, "png") && !strcmp(out, "-") && isatty(STDOUT_FILENO)) {
        fprintf(stderr, "cellar render: a PNG is binary: write it to a file (-o FILE.png) or a "
                        "pipe\n");
        return 2;
    }
#ifdef HAVE_GRAPHVIZ
    if (db ? trial_genotype(db, trial, &g, &err) : geno_from_arg(geno_arg, &g, &err))
        return cli_fail("render", &err);
    if (render_genotype_file(&g, format, out, &err))
        return cli_fail("render", &err);
    return 0;
#else
    (void)g;
    (void)trial_genotype;
    ERR_SET(&err, CL_ERR_UNSUPPORTED,
            "this cellar was built without Graphviz (install libgraphviz-dev and rebuild)");
    return cli_fail("render", &err);
#endif
}

const cli_cmd cmd_render = {"render", "draw a genotype's cells as SVG, PNG, DOT or text", usage,
                            run_render};
