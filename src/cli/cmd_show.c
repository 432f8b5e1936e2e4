/* cmd_show.c - `cellar show`: a genotype's normal form, hash, and the size
 * and cost of the network it makes. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "child/child.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: cellar show [[--genotype] G] [--N n] [--F f] [--input HxWxC] [--classes k]\n"
    "       cellar show DB [--top n] [--json]\n"
    "       cellar show DB --trial ID|best [--json]\n"
    "       cellar show DB --policy [--update N] [--json]\n"
    "\n"
    "With a journal DB: the leaderboard of its search (rank, trial, reward,\n"
    "accuracy, parameters, FLOPs, seconds, genotype) among the trials trained\n"
    "with the newest recipe, with counts of trials by state and the controller's\n"
    "state; --top n rows (default 10, 0 for all); --json prints it as JSON.\n"
    "Trials stopped early (cellar.stop_trial, the screen's x) are named below\n"
    "it: their rewards are of fewer epochs.\n"
    "With --trial: that trial's record (state, rank, genotype, reward, size,\n"
    "times, recipe, the strategy's decisions, why it failed or was stopped\n"
    "early) and its epochs (training loss and accuracy, validation accuracy,\n"
    "learning rate, time); 'best' is rank 1 of the leaderboard.  --json gives\n"
    "the record as 'cellar export' does, with rank and ranked (the\n"
    "leaderboard's size).\n"
    "With --policy: where the controller stands after its last update (or\n"
    "update N): its most likely cell, how many of its decisions it has settled\n"
    "(the likeliest choice at p >= 0.9), and for each decision the likeliest\n"
    "choice, its probability, the decision's entropy (and its share of the\n"
    "most it can be), the next likeliest, and that choice's probability at the\n"
    "first update.\n"
    "\n"
    "Otherwise: print a genotype in its normal form with its stable hash, which\n"
    "blocks form each cell's output, and the parameters and FLOPs of the network\n"
    "it makes\n"
    "(FLOPs: two per multiply-add of the convolutions and the linear layer, one\n"
    "image, forward).  The last line is JSON with params and flops.\n"
    "\n"
    "  --genotype G     a built-in name (nasnet-a, enas) or a genotype line;\n"
    "                   default nasnet-a.  'list' lists the built-in names.\n"
    "                   'cellar show G', where no file G is, says the same.\n"
    "  --N n            normal cells per stage (default 2)\n"
    "  --F f            filters of the first stage (default 16)\n"
    "  --input HxWxC    image shape (default 32x32x3)\n"
    "  --classes k      classes of the classifier (default 10)\n";

static void print_outputs(const char *label, const geno_cell *c)
{
    int outs[GENO_MAX_BLOCKS], n = geno_cell_outputs(c, outs);
    printf("%s output: blocks", label);
    for (int i = 0; i < n; i++)
        printf(" %d", outs[i]);
    printf(" concatenated (%d x C channels)\n", n);
}

static int run_show(int argc, char **argv)
{
    const char *geno_arg = "nasnet-a", *input = "32x32x3";
    int N = 2, F = 16, classes = 10, code, h, w, c, rc, top = 10, json = 0, trial = 0;
    int pol = 0, update = 0;
    const char *db = NULL;
    cli_opt opts[] = {
        {"genotype", OPT_STR, &geno_arg, 0, 0, 0}, {"N", OPT_INT, &N, 1, 64, 0},
        {"F", OPT_INT, &F, 2, 4096, 0},           {"input", OPT_STR, &input, 0, 0, 0},
        {"classes", OPT_INT, &classes, 2, 100000, 0}, {"top", OPT_INT, &top, 0, 1 << 30, 0},
        {"json", OPT_FLAG, &json, 0, 0, 0},       {"trial", OPT_TRIAL, &trial, 0, 0, 0},
        {"policy", OPT_FLAG, &pol, 0, 0, 0},      {"update", OPT_INT, &update, 1, 1L << 40, 0},
    };
    cl_err err = {0};
    cl_genotype g;
    cl_backend *be = NULL;
    cl_net *net = NULL;
    child_spec spec;
    char text[2048], hash[17];
    cl_buf js = {0};
    int L = 3 * N + 2, outs[GENO_MAX_BLOCKS];

    if (cli_parse(&cmd_show, argc, argv, opts, (int)CL_ARRAY_LEN(opts), &db, &code))
        return code;
    /* `cellar show nasnet-a`: a positional genotype where no such file is */
    if (db && !opts[0].seen &&
        (cli_positional_genotype(db, &g) || (!strcmp(db, "list") && access(db, F_OK) != 0))) {
        geno_arg = db;
        db = NULL;
    }
    if (db && access(db, F_OK) != 0) {
        fprintf(stderr, "cellar show: %s: no such journal, nor a genotype (the built-in "
                        "names: 'cellar show list'; or a genotype line)\n", db);
        return 1;
    }
    if (db) {
        if (opts[0].seen || opts[1].seen || opts[2].seen || opts[3].seen || opts[4].seen) {
            fprintf(stderr, "cellar show: a journal takes --top, --trial, --policy, --update and "
                            "--json only\n");
            return 2;
        }
        if (opts[5].seen + opts[7].seen + (pol || opts[9].seen) > 1) {
            fprintf(stderr, "cellar show: the leaderboard (--top), one trial (--trial) or the "
                            "controller (--policy): one of them\n");
            return 2;
        }
        if (pol || opts[9].seen)
            return show_policy(db, update, json);
        return opts[7].seen ? show_trial(db, trial, json) : show_journal(db, top, json);
    }
    if (opts[5].seen || opts[7].seen || pol || opts[9].seen || json) {
        fprintf(stderr, "cellar show: --top, --trial, --policy, --update and --json are for a "
                        "journal (cellar show DB)\n");
        return 2;
    }
    if (!strcmp(geno_arg, "list")) {
        for (int i = 0; i < geno_builtin_count; i++)
            printf("%-10s %s\n", geno_builtin[i].name, geno_builtin[i].about);
        return 0;
    }
    if (child_parse_shape(input, &h, &w, &c, &err) || geno_from_arg(geno_arg, &g, &err))
        return cli_fail("show", &err);
    spec.N = N;
    spec.F = F;
    spec.in_h = h;
    spec.in_w = w;
    spec.in_c = c;
    spec.classes = classes;
    if ((rc = backend_cpu_create(1, &be, &err)) || (rc = child_build(&g, &spec, be, &net, &err))) {
        backend_destroy(be);
        return cli_fail("show", &err);
    }
    geno_format(&g, text, sizeof text);
    geno_hash_hex(geno_hash(&g), hash);
    {
        const char *reduce;
        int n = geno_text_halves(text, &reduce);
        printf("genotype: %.*s\n          %s\n", n, text, reduce);
    }
    printf("hash: %s\n", hash);
    print_outputs("normal cell", &g.normal);
    print_outputs("reduction cell", &g.reduce);
    printf("network: N=%d F=%d, input %dx%dx%d, %d classes: %d cells, reductions at cells %d and "
           "%d; %d@%d\n",
           N, F, h, w, c, classes, L, L / 3, 2 * L / 3, N,
           geno_cell_outputs(&g.normal, outs) * 4 * F);
    printf("parameters: %ld\n", net_param_count(net));
    printf("FLOPs: %.2f M per image, forward (%.2f M multiply-adds)\n", net_flops(net) / 1e6,
           net_flops(net) / 2e6);
    buf_printf(&js, "{\"params\":%ld,\"flops\":%.0f,\"hash\":\"%s\",\"N\":%d,\"F\":%d,"
                    "\"input\":\"%dx%dx%d\",\"classes\":%d,\"genotype\":",
               net_param_count(net), net_flops(net), hash, N, F, h, w, c, classes);
    json_string(&js, text);
    buf_printf(&js, "}");
    printf("%s\n", js.s);
    buf_free(&js);
    net_free(net);
    backend_destroy(be);
    return 0;
}

const cli_cmd cmd_show = {"show", "a journal's leaderboard, or a genotype's hash, size and FLOPs",
                          usage, run_show};
