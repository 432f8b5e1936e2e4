/* cmd_bench.c - `cellar bench`: the speed of one training step (forward,
 * backward, SGD) of a child network on random data, as one JSON line, so
 * that it can be set side by side with shared/bench/torch_nasnet.py. */
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
    "  --backend B      cpu, cuda or auto (default auto: the GPU if any)\n"
    "  --threads t      CPU threads (default: all cores)\n"
    "  --seed s         seed of the weights and data (default 1)\n"
    "  --profile        also time each class of op, as a table on stderr\n";

static int run_bench(int argc, char **argv)
{
    const char *geno_arg = "nasnet-a", *input = "32x32x3", *backend_name = "auto";
    int N = 2, F = 16, batch = 32, classes = 10, steps = 20, warmup = 3, threads = 0, seed = 1;
    int profile = 0, code, h, w, c, rc, correct;
    cli_opt opts[] = {
        {"genotype", OPT_STR, &geno_arg, 0, 0, 0},  {"N", OPT_INT, &N, 1, 64, 0},
        {"F", OPT_INT, &F, 2, 4096, 0},            {"batch", OPT_INT, &batch, 1, 65536, 0},
        {"input", OPT_STR, &input, 0, 0, 0},        {"classes", OPT_INT, &classes, 2, 100000, 0},
        {"steps", OPT_INT, &steps, 1, 1000000, 0},  {"warmup", OPT_INT, &warmup, 0, 1000000, 0},
        {"backend", OPT_STR, &backend_name, 0, 0, 0}, {"threads", OPT_INT, &threads, 0, 1024, 0},
        {"seed", OPT_INT, &seed, 0, 2147483647, 0}, {"profile", OPT_FLAG, &profile, 0, 0, 0},
    };
    cl_err err = {0};
    cl_genotype g;
    cl_backend *be = NULL;
    cl_net *net = NULL;
    child_spec spec;
    cl_rng rng;
    float *x = NULL, loss;
    int *y = NULL;
    double tf = 0, tb = 0, t0 = 0, t1 = 0;
    float *loss_dev = NULL;
    int *correct_dev = NULL;
    void *graph = NULL;
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
    if (!x || !y) {
        ERR_SET(&err, CL_ERR_NOMEM, "out of memory for a batch of %d", batch);
        goto fail;
    }
    for (long i = 0; i < (long)batch * c * h * w; i++)
        x[i] = rng_normal(&rng);
    for (int i = 0; i < batch; i++)
        y[i] = (int)rng_below(&rng, (uint32_t)classes);
    if ((rc = backend_create(backend_name, threads, &be, &err)) ||
        (rc = child_build(&g, &spec, be, &net, &err)) || (rc = net_plan(net, batch, &err)) ||
        (rc = net_init_params(net, &rng, &err)))
        goto fail;
    /* As a training step runs in `cellar train` and a search: the batch
     * already in the backend's memory, nothing waited for inside the
     * step; the clock stops after waiting for the last one.  On the CPU
     * every call finishes before it returns, so the same loop also splits
     * the time into forward (with the loss) and backward (with SGD). */
    if (!(loss_dev = be->alloc(be, sizeof *loss_dev)) ||
        !(correct_dev = be->alloc(be, sizeof *correct_dev))) {
        rc = ERR_SET(&err, CL_ERR_NOMEM, "out of %s memory", be->name);
        goto fail;
    }
    be->upload(be, net_input_buf(net), x, (size_t)batch * c * h * w * sizeof *x);
    be->upload(be, net_label_buf(net), y, (size_t)batch * sizeof *y);
    for (int i = 0; i < warmup + steps; i++) {
        double a, b;
        /* after one step op by op, a backend that records steps records
         * one (the batch and the learning rate stay the same here); with
         * a warm-up step, before the clock starts */
        if (i == 1 && be->graph_begin) {
            cl_err why = {0};
            if (be->graph_begin(be, &why) == CL_OK) {
                rc = net_forward_queued(net, batch, 1, &err);
                net_loss_queued(net, loss_dev, correct_dev, 1, NULL);
                if (rc == CL_OK)
                    rc = net_backward_queued(net, &err);
                net_sgd(net, 0.025f, 0.9f, 3e-4f);
                if (be->graph_end(be, &graph, &why) != CL_OK || rc != CL_OK) {
                    if (graph)
                        be->graph_free(be, graph);
                    graph = NULL;
                }
            }
            if (!graph)
                fprintf(stderr, "cellar bench: steps run op by op: %s\n",
                        why.msg[0] ? why.msg : rc ? err.msg : "recording a step failed");
            rc = CL_OK;
            err_clear(&err);
        }
        if (i == warmup) {
            if ((rc = be->sync(be, &err)))
                goto fail;
            t0 = cl_now();
        }
        a = cl_now();
        if (graph) {
            be->graph_run(be, graph);
            b = a;
        } else {
            if ((rc = net_forward_queued(net, batch, 1, &err)))
                goto fail;
            net_loss_queued(net, loss_dev, correct_dev, 1, NULL);
            b = cl_now();
            if ((rc = net_backward_queued(net, &err)))
                goto fail;
            net_sgd(net, 0.025f, 0.9f, 3e-4f);
        }
        if (i >= warmup) {
            tf += b - a;
            tb += cl_now() - b;
        }
    }
    if ((rc = be->sync(be, &err)))
        goto fail;
    t1 = cl_now();
    be->download(be, &loss, loss_dev, sizeof loss);
    if (!isfinite(loss)) {
        rc = ERR_SET(&err, CL_ERR_NUMERIC, "the loss of the last step is %g", (double)loss);
        goto fail;
    }
    if (!be->host_memory) {
        /* on a device the host only queued the work: time the two halves
         * again, waiting after each */
        tf = tb = 0;
        for (int i = 0; i < steps; i++) {
            double a = cl_now(), b;
            if ((rc = net_forward_queued(net, batch, 1, &err)))
                goto fail;
            net_loss_queued(net, loss_dev, correct_dev, 1, NULL);
            if ((rc = be->sync(be, &err)))
                goto fail;
            b = cl_now();
            if ((rc = net_backward_queued(net, &err)))
                goto fail;
            net_sgd(net, 0.025f, 0.9f, 3e-4f);
            if ((rc = be->sync(be, &err)))
                goto fail;
            tf += b - a;
            tb += cl_now() - b;
        }
    }
    {
        double dt = (t1 - t0) / steps;
        buf_printf(&js, "{\"backend\":\"%s\",", be->name);
        if (be->detail) {
            buf_printf(&js, "\"engine\":");
            json_string(&js, be->detail);
            buf_printf(&js, ",");
        }
        buf_printf(&js, "\"threads\":%d,\"graph\":%s,\"genotype\":", be->threads,
                   graph ? "true" : "false");
        json_string(&js, geno_arg);
        buf_printf(&js, ",\"N\":%d,\"F\":%d,\"batch\":%d,\"input\":\"%dx%dx%d\",\"params\":%ld,"
                        "\"flops\":%.0f,\"steps\":%d,\"step_ms\":%.3f,\"fwd_ms\":%.3f,"
                        "\"bwd_ms\":%.3f,\"img_s\":%.2f}",
                   N, F, batch, h, w, c, net_param_count(net), net_flops(net), steps, dt * 1e3,
                   tf / steps * 1e3, tb / steps * 1e3, batch / dt);
    }
    if (profile) {
        net_prof_row rows[256];
        int n;
        double total = 0;
        if ((rc = net_profile(net, 1, &err)))
            goto fail;
        for (int i = 0; i < steps; i++)
            if ((rc = net_forward(net, x, batch, 1, &err)) ||
                (rc = net_loss(net, y, &loss, &correct, 1, &err)) || (rc = net_backward(net, &err)))
                goto fail;
        n = net_profile_report(net, rows, 256);
        for (int i = 0; i < n; i++)
            total += rows[i].fwd + rows[i].bwd;
        fprintf(stderr, "%-34s %5s %10s %10s %6s\n", "op (@ input size)", "ops", "fwd ms",
                "bwd ms", "share");
        for (int i = 0; i < n; i++)
            fprintf(stderr, "%-34s %5d %10.3f %10.3f %5.1f%%\n", rows[i].name, rows[i].count,
                    rows[i].fwd / steps * 1e3, rows[i].bwd / steps * 1e3,
                    100.0 * (rows[i].fwd + rows[i].bwd) / total);
    }
    printf("%s\n", js.s);
    buf_free(&js);
    free(x);
    free(y);
    if (graph)
        be->graph_free(be, graph);
    be->free(be, loss_dev);
    be->free(be, correct_dev);
    net_free(net);
    backend_destroy(be);
    return 0;
fail:
    buf_free(&js);
    free(x);
    free(y);
    if (be) {
        if (graph)
            be->graph_free(be, graph);
        be->free(be, loss_dev);
        be->free(be, correct_dev);
    }
    net_free(net);
    backend_destroy(be);
    return cli_fail("bench", &err);
}

const cli_cmd cmd_bench = {"bench", "time the training step of a child network (one JSON line)",
                           usage, run_bench};
