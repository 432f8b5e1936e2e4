/* cmd_bench.c - `cellar bench`: the speed of one training step (forward,
 * backward, SGD) of a child network on random data, as one JSON line, so
 * that it can be set side by side with shared/bench/torch_nasnet.py; with
 * --children, of several children training at once on one device, as a
 * search trains them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child/child.h"
#include "cli/cli.h"

static const char usage[] =
    "usage: cellar bench [options]\n"
    "\n"
    "Time the training step (forward, backward, SGD with momentum and weight\n"
    "decay) of a child network on random images after a warm-up, and print one\n"
    "JSON line: img_s, step_ms, fwd_ms, bwd_ms, params, flops and the settings.\n"
    "\n"
    "  --genotype G     built-in name or genotype line (default nasnet-a)\n"
    "  --N n            normal cells per stage (default 2)\n"
    "  --F f            filters of the first stage (default 16)\n"
    "  --batch b        images per step (default 32)\n"
    "  --input HxWxC    image shape (default 32x32x3)\n"
    "  --classes k      classes (default 10)\n"
    "  --steps k        timed steps (default 20)\n"
    "  --warmup w       untimed steps first (default 3)\n"
    "  --children c     train c such children at once, each with its own weights\n"
    "                   and, where the backend can (cuda), its own stream, as a\n"
    "                   search does; img_s counts all of them (default 1)\n"
    "  --backend B      cpu, cuda or auto (default auto: the GPU if any)\n"
    "  --threads t      CPU threads (default: all cores)\n"
    "  --seed s         seed of the weights and data (default 1; child i: s+i)\n"
    "  --profile        also time each class of op, as a table on stderr\n";

/* one child in training: its network, on its backend (the first child's,
 * or a fork of it with a queue of its own), its step recorded once */
typedef struct {
    cl_backend *be;
    int own_be;
    cl_net *net;
    float *loss_dev;
    int *correct_dev;
    void *graph;
} bench_child;

/* the two halves of child c's training step, queued: forward with the
 * loss, then backward with SGD (as `cellar train` and a search run them) */
static int queue_forward(bench_child *c, int batch, cl_err *err)
{
    int rc = net_forward_queued(c->net, batch, 1, err);
    if (rc == CL_OK)
        net_loss_queued(c->net, c->loss_dev, c->correct_dev, 1, NULL);
    return rc;
}

static int queue_backward(bench_child *c, cl_err *err)
{
    int rc = net_backward_queued(c->net, err);
    if (rc == CL_OK)
        net_sgd(c->net, 0.025f, 0.9f, 3e-4f);
    return rc;
}

static int queue_step(bench_child *c, int batch, cl_err *err)
{
    int rc = queue_forward(c, batch, err);
    return rc ? rc : queue_backward(c, err);
}

/* record one step of child c (the batch and the learning rate stay the
 * same here); where the backend cannot, say why once and go on op by op */
static void record_step(bench_child *c, int batch, int *told)
{
    cl_err why = {0}, err = {0};
    int rc = CL_OK;
    if (!c->be->graph_begin)
        return;
    if (c->be->graph_begin(c->be, &why) == CL_OK) {
        rc = queue_step(c, batch, &err);
        if (c->be->graph_end(c->be, &c->graph, &why) != CL_OK || rc != CL_OK) {
            if (c->graph)
                c->be->graph_free(c->be, c->graph);
            c->graph = NULL;
        }
    }
    if (!c->graph && !*told) {
        *told = 1;
        fprintf(stderr, "cellar bench: steps run op by op: %s\n",
                why.msg[0] ? why.msg : rc ? err.msg : "recording a step failed");
    }
}

/* `steps` profiled training steps of child c (net_profile on): on a
 * backend with timing marks, one step recorded with its marks and
 * replayed, so that the device's own time between ops is read (where the
 * marks of a recorded step cannot be read, queued op by op, the marks
 * read after each step); elsewhere each op timed alone, waiting after it.
 * *how says which. */
static int profile_steps(bench_child *c, int batch, int steps, const char **how, cl_err *err)
{
    cl_backend *be = c->be;
    int rc = CL_OK, told = 1;
    if (!net_profile_marked(c->net)) {
        *how = "each op timed alone, waiting after it";
        for (int i = 0; i < steps && rc == CL_OK; i++)
            rc = queue_step(c, batch, err);
        return rc ? rc : be->sync(be, err);
    }
    if (c->graph) {   /* the timed step's recording gives way to one with marks */
        be->graph_free(be, c->graph);
        c->graph = NULL;
        record_step(c, batch, &told);
    }
    *how = c->graph ? "device time between timing marks in a recorded step"
                    : "device time between timing marks, queued op by op";
    for (int i = 0; i < steps && rc == CL_OK; i++) {
        if (c->graph)
            be->graph_run(be, c->graph);
        else
            rc = queue_step(c, batch, err);
        if (rc == CL_OK && (rc = net_profile_take(c->net, err)) && c->graph && i == 0) {
            /* the device cannot time marks inside a graph: op by op then */
            fprintf(stderr, "cellar bench: profile: %s; timing ops queued one by one\n", err->msg);
            err_clear(err);
            rc = be->sync(be, err);
            be->graph_free(be, c->graph);
            c->graph = NULL;
            *how = "device time between timing marks, queued op by op";
        }
    }
    return rc;
}

static void child_release(bench_child *c)
{
    if (c->be) {
        if (c->graph)
            c->be->graph_free(c->be, c->graph);
        c->be->free(c->be, c->loss_dev);
        c->be->free(c->be, c->correct_dev);
    }
    net_free(c->net);
    if (c->own_be)
        backend_destroy(c->be);
    memset(c, 0, sizeof *c);
}

/* wait for every child's queue */
static int sync_all(bench_child *ch, int n, cl_err *err)
{
    for (int i = 0; i < n; i++) {
        int rc;
        if ((i == 0 || ch[i].own_be) && (rc = ch[i].be->sync(ch[i].be, err)))
            return rc;
    }
    return CL_OK;
}

static int run_bench(int argc, char **argv)
{
    const char *geno_arg = "nasnet-a", *input = "32x32x3", *backend_name = "auto";
    int N = 2, F = 16, batch = 32, classes = 10, steps = 20, warmup = 3, threads = 0, seed = 1;
    int children = 1, profile = 0, code, h, w, c, rc = CL_OK, told = 0, forked = 0;
    cli_opt opts[] = {
        {"genotype", OPT_STR, &geno_arg, 0, 0, 0},  {"N", OPT_INT, &N, 1, 64, 0},
        {"F", OPT_INT, &F, 2, 4096, 0},            {"batch", OPT_INT, &batch, 1, 65536, 0},
        {"input", OPT_STR, &input, 0, 0, 0},        {"classes", OPT_INT, &classes, 2, 100000, 0},
        {"steps", OPT_INT, &steps, 1, 1000000, 0},  {"warmup", OPT_INT, &warmup, 0, 1000000, 0},
        {"children", OPT_INT, &children, 1, 64, 0},
        {"backend", OPT_STR, &backend_name, 0, 0, 0}, {"threads", OPT_INT, &threads, 0, 1024, 0},
        {"seed", OPT_INT, &seed, 0, 2147483647, 0}, {"profile", OPT_FLAG, &profile, 0, 0, 0},
    };
    cl_err err = {0};
    cl_genotype g;
    cl_backend *be = NULL;
    bench_child *ch = NULL;
    child_spec spec;
    cl_rng rng;
    float *x = NULL, loss;
    int *y = NULL;
    double tf = 0, tb = 0, t0 = 0, t1 = 0;
    cl_buf js = {0};

    if (cli_parse(&cmd_bench, argc, argv, opts, (int)CL_ARRAY_LEN(opts), NULL, &code))
        return code;
    if (child_parse_shape(input, &h, &w, &c, &err) || geno_from_arg(geno_arg, &g, &err))
        return cli_fail("bench", &err);
    spec.N = N;
    spec.F = F;
    spec.in_h = h;
    spec.in_w = w;
    spec.in_c = c;
    spec.classes = classes;
    rng_seed(&rng, (uint64_t)seed);
    x = malloc((size_t)batch * c * h * w * sizeof *x);
    y = malloc((size_t)batch * sizeof *y);
    ch = calloc((size_t)children, sizeof *ch);
    if (!x || !y || !ch) {
        rc = ERR_SET(&err, CL_ERR_NOMEM, "out of memory for a batch of %d", batch);
        goto fail;
    }
    for (long i = 0; i < (long)batch * c * h * w; i++)
        x[i] = rng_normal(&rng);
    for (int i = 0; i < batch; i++)
        y[i] = (int)rng_below(&rng, (uint32_t)classes);
    if ((rc = backend_create(backend_name, threads, &be, &err)))
        goto fail;
    /* each child on a backend of its own where the device has queues to
     * give (so their steps can compute at once), its weights from seed+i,
     * the same batch for all, already in the backend's memory */
    for (int i = 0; i < children; i++) {
        bench_child *k = &ch[i];
        cl_rng wr;
        k->be = be;
        if (i > 0 && be->fork) {
            if ((rc = be->fork(be, &k->be, &err))) {
                k->be = NULL;
                err_prefix(&err, "a backend for child %d", i + 1);
                goto fail;
            }
            k->own_be = 1;
            forked++;
        }
        rng_seed(&wr, (uint64_t)seed + (uint64_t)i);
        if ((rc = child_build(&g, &spec, k->be, &k->net, &err)) ||
            (rc = net_plan(k->net, batch, &err)))
            goto fail;
        if (i == 0)
            rc = net_init_params(k->net, &rng, &err);   /* as before children */
        else
            rc = net_init_params(k->net, &wr, &err);
        if (rc)
            goto fail;
        if (!(k->loss_dev = k->be->alloc(k->be, sizeof *k->loss_dev)) ||
            !(k->correct_dev = k->be->alloc(k->be, sizeof *k->correct_dev))) {
            rc = ERR_SET(&err, CL_ERR_NOMEM, "out of %s memory for child %d", k->be->name, i + 1);
            goto fail;
        }
        k->be->upload(k->be, net_input_buf(k->net), x, (size_t)batch * c * h * w * sizeof *x);
        k->be->upload(k->be, net_label_buf(k->net), y, (size_t)batch * sizeof *y);
    }
    /* As a training step runs in `cellar train` and a search: the batch
     * already in the backend's memory, nothing waited for inside the
     * step; the clock stops after waiting for the last one.  After one
     * step op by op, a backend that records steps records one per child,
     * before the clock starts when there is a warm-up.  On the CPU every
     * call finishes before it returns, so the same loop also splits the
     * first child's time into forward (with the loss) and backward (with
     * SGD). */
    for (int i = 0; i < warmup + steps; i++) {
        if (i == warmup) {
            if ((rc = sync_all(ch, children, &err)))
                goto fail;
            t0 = cl_now();
        }
        for (int k = 0; k < children; k++) {
            bench_child *b = &ch[k];
            double a = cl_now(), m;
            if (i == 1)
                record_step(b, batch, &told);
            if (b->graph) {
                b->be->graph_run(b->be, b->graph);
                m = a;
            } else {
                if ((rc = queue_forward(b, batch, &err)))
                    goto fail;
                m = cl_now();
                if ((rc = queue_backward(b, &err)))
                    goto fail;
            }
            if (i >= warmup && k == 0) {
                tf += m - a;
                tb += cl_now() - m;
            }
        }
    }
    if ((rc = sync_all(ch, children, &err)))
        goto fail;
    t1 = cl_now();
    for (int k = 0; k < children; k++) {
        ch[k].be->download(ch[k].be, &loss, ch[k].loss_dev, sizeof loss);
        if (!isfinite(loss)) {
            rc = ERR_SET(&err, CL_ERR_NUMERIC, "the loss of child %d's last step is %g", k + 1,
                         (double)loss);
            goto fail;
        }
    }
    if (!be->host_memory) {
        /* on a device the host only queued the work: time the first
         * child's two halves again, alone, waiting after each */
        bench_child *b = &ch[0];
        tf = tb = 0;
        for (int i = 0; i < steps; i++) {
            double a = cl_now(), m;
            if ((rc = queue_forward(b, batch, &err)) || (rc = b->be->sync(b->be, &err)))
                goto fail;
            m = cl_now();
            if ((rc = queue_backward(b, &err)) || (rc = b->be->sync(b->be, &err)))
                goto fail;
            tf += m - a;
            tb += cl_now() - m;
        }
    }
    {
        double dt = (t1 - t0) / steps;
        cl_net *net = ch[0].net;
        buf_printf(&js, "{\"backend\":\"%s\",", be->name);
        if (be->detail) {
            buf_printf(&js, "\"engine\":");
            json_string(&js, be->detail);
            buf_printf(&js, ",");
        }
        buf_printf(&js, "\"threads\":%d,\"graph\":%s,\"genotype\":", be->threads,
                   ch[0].graph ? "true" : "false");
        json_string(&js, geno_arg);
        buf_printf(&js, ",\"N\":%d,\"F\":%d,\"batch\":%d,\"input\":\"%dx%dx%d\",\"params\":%ld,"
                        "\"flops\":%.0f,\"identity_folds\":%d,\"twin_pools\":%d,"
                        "\"bn_applied\":%d,\"bn_dx_fused\":%d,",
                   N, F, batch, h, w, c, net_param_count(net), net_flops(net),
                   net_identity_folds(net), net_twin_pools(net), net_bn_applied(net),
                   net_bn_dx_fused(net));
        if (ch[0].graph && be->graph_size)
            buf_printf(&js, "\"graph_nodes\":%ld,", be->graph_size(be, ch[0].graph));
        {
            int waits, lanes = net_lanes_used(net, &waits);
            if (lanes > 1)
                buf_printf(&js, "\"lanes\":%d,\"lane_waits\":%d,", lanes, waits);
        }
        if (children > 1)
            buf_printf(&js, "\"children\":%d,\"queues\":%d,", children, 1 + forked);
        buf_printf(&js, "\"steps\":%d,\"step_ms\":%.3f,\"fwd_ms\":%.3f,\"bwd_ms\":%.3f,"
                        "\"img_s\":%.2f}",
                   steps, dt * 1e3, tf / steps * 1e3, tb / steps * 1e3,
                   (double)children * batch / dt);
    }
    if (profile) {
        net_prof_row rows[256];
        bench_child *b = &ch[0];
        cl_net *net = b->net;
        const char *how;
        int n;
        double total = 0, all_mb = 0;
        if ((rc = net_profile(net, 1, &err)) || (rc = profile_steps(b, batch, steps, &how, &err)))
            goto fail;
        n = net_profile_report(net, rows, 256);
        for (int i = 0; i < n; i++)
            total += rows[i].fwd + rows[i].bwd;
        fprintf(stderr, "# the first child's step op by op, %s\n", how);
        fprintf(stderr, "# MB: the least traffic of the class's ops in one step (each tensor "
                        "passed once), GB/s: that over their time\n");
        fprintf(stderr, "%-34s %5s %10s %10s %6s %9s %9s\n", "op (@ input size)", "ops",
                "fwd ms", "bwd ms", "share", "MB", "GB/s");
        for (int i = 0; i < n; i++) {
            double t = (rows[i].fwd + rows[i].bwd) / steps, mb = rows[i].fwd_bytes + rows[i].bwd_bytes;
            fprintf(stderr, "%-34s %5d %10.3f %10.3f %5.1f%% %9.1f %9.1f\n", rows[i].name,
                    rows[i].count, rows[i].fwd / steps * 1e3, rows[i].bwd / steps * 1e3,
                    100.0 * (rows[i].fwd + rows[i].bwd) / total, mb / 1e6,
                    t > 0 ? mb / t / 1e9 : 0.0);
            all_mb += mb;
        }
        fprintf(stderr, "%-34s %5s %21.3f %6s %9.1f %9.1f\n", "all", "", total / steps * 1e3, "",
                all_mb / 1e6, total > 0 ? all_mb / (total / steps) / 1e9 : 0.0);
        if (be->conv_choices) {
            char list[16384];
            if (be->conv_choices(be, list, sizeof list) > 0)
                fprintf(stderr, "# convolutions timed when planned (auto): the way chosen for each "
                                "direction, then each way's ms a run\n%s",
                        list);
        }
    }
    printf("%s\n", js.s);
fail:
    buf_free(&js);
    free(x);
    free(y);
    /* the forks first, then the backend they were made from */
    for (int k = children - 1; ch && k >= 0; k--)
        child_release(&ch[k]);
    free(ch);
    backend_destroy(be);
    return rc ? cli_fail("bench", &err) : 0;
}

const cli_cmd cmd_bench = {"bench", "time the training step of a child network (one JSON line)",
                           usage, run_bench};
