/* net.h - a network as a list of ops over planned tensors.
 *
 * A builder (src/child) adds values (tensors without a batch size) and
 * nodes (ops reading one value and writing another), then net_plan()
 * fixes the largest batch, lays every value out in one activation arena
 * and one gradient arena, works out for each node whether its input
 * gradient is the first contribution (overwrite) or a later one (add),
 * lets the backend prepare each op, and allocates parameters and their
 * SGD state in three flat arrays (one SGD call updates them all), all of
 * it carved from one block of backend memory allocated once.
 *
 * A value may be a channel slice of another (a block output inside its
 * cell's concatenated output).  Nodes with acc set add their output to
 * what an earlier node wrote (the second path of an add combiner).
 * net_plan folds an identity op that copies a batch norm's output into
 * that batch norm (a second output, written as it writes its own), unless
 * CELLAR_IDENTITY=copy, and two like pools of one input into one output
 * (NASNet-A's avg_pool_3x3(0) avg_pool_3x3(0) add) into one pool scaled by
 * the sum of their drop-path scales, unless CELLAR_TWINS=apart; where the
 * backend offers it (bn_affine), a batch norm between a separable op's
 * two layers is applied by the second as it reads, unless
 * CELLAR_BN_APPLY=apart, and that batch norm and the one after the
 * second layer back-propagated through by the layer before them as it
 * reads its gradient, unless CELLAR_BN_DX=apart (=inner: the first
 * only).
 *
 * Builder calls never fail on their own: the first misuse (a shape that
 * does not fit) is kept as the network's error and net_plan() returns it,
 * so a builder can be written as straight-line code. */
#ifndef CELLAR_NN_NET_H
#define CELLAR_NN_NET_H

#include "backend/backend.h"
#include "core/err.h"
#include "core/rng.h"

typedef enum { NODE_CONV, NODE_BN, NODE_POOL, NODE_COPY, NODE_GAP, NODE_LINEAR } node_kind;

typedef struct net_node {
    node_kind kind;
    int x, y;        /* value ids */
    int acc;         /* forward: add into y */
    int path;        /* drop-path slot whose per-image scale applies, or -1 */
    int y2, acc2;    /* set by net_plan: a batch norm's second output value
                      * (or -1): an identity op that copied y into y2 (adding
                      * when acc2), folded in; backward, y2's gradient is
                      * added to y's */
    int twin;        /* set by net_plan: a pool standing for two of one input
                      * into one output (the second adding), its output
                      * scaled by the sum of both paths' drop-path scales
                      * (2 without drop-path) */
    int path2;       /* a twin: the second pool's drop-path slot */
    int twin_row;    /* a twin with paths: its row of summed scales in path_scale */
    int need_dx;     /* set by net_plan: the input wants a gradient */
    int dx_acc;      /* set by net_plan: add into the input gradient */
    int sep;         /* set by net_plan: a convolution whose output the next
                      * node, a convolution too, reads, neither adding into
                      * its output: the backend may run the two forward as
                      * one (be->sep_fwd: a separable layer's halves) */
    int sep_ran;     /* the last forward ran this node and the next as one */
    int sepb;        /* set by net_plan: a sep pair whose backward the backend
                      * takes as one (be->sep_bwd, at this node: the next
                      * node, the only reader of this one's output, then
                      * gives only its filter gradient; 2: that too, so the
                      * forward need not write this node's output) */
    int bst;         /* set by net_plan: a batch norm whose statistics the
                      * convolution writing its input may take as it writes
                      * (be->sep_fwd's or be->conv_fwd_stats' stats, at
                      * net->bst + bst_off) */
    long bst_off;
    int bst_parts;   /* the last forward: how many partial sums that
                      * convolution took (0: none, the batch norm takes its own) */
    int bbst;        /* set by net_plan: a batch norm whose output the sep
                      * pair after it (sepb) alone reads, so that the pair's
                      * backward may take the sums of dy this one's backward
                      * needs as it writes dy (be->sep_bwd_stats, at net->bst +
                      * bbst_off) */
    long bbst_off;
    int bbst_parts;  /* the last backward: how many partial sums the pair
                      * took (0: none, the batch norm takes its own) */
    int bnin;        /* set by net_plan: a batch norm (with bst) whose output
                      * only the separable pair after it reads, and which
                      * that pair applies as it reads its input (be->sep_fwd's
                      * and sep_bwd's xab; unless CELLAR_BN_APPLY=apart): its
                      * forward gives only each channel's scale and shift
                      * (be->bn_affine, at net->bab + bab_off), its output
                      * never written; its backward as ever */
    long bab_off;
    int xbn;         /* set by net_plan: a convolution (the first of a pair)
                      * whose input is batch norm xbn's output (bnin), read
                      * through it from that batch norm's input; -1: none */
    int bdy;         /* set by net_plan: a batch norm whose data gradient
                      * the separable pair before it makes as it reads dy
                      * (be->sep_bwd's gb; see CELLAR_BN_DX): its backward
                      * gives dgamma, dbeta and the factors
                      * (be->bn_bwd_factors, at net->bab + bdy_off), its dx
                      * never written */
    long bdy_off;
    int gbn;         /* set by net_plan: a convolution (the first of a pair)
                      * whose dy is made from batch norm gbn's (bdy); -1: none */
    long p_off;      /* parameters: conv W; bn gamma, beta; linear W, b */
    long p_len;
    long s_off;      /* bn: running mean, running var, saved mean, saved 1/std */
    union {
        conv_desc conv;
        pool_desc pool;
        bn_desc bn;
    } u;
} net_node;

typedef struct net_value {
    int c, h, w;
    int parent, c0;  /* a channel slice [c0, c0 + c) of parent, or parent = -1 */
    long off;        /* root values: offset in the arenas (set by net_plan) */
} net_value;

typedef struct cl_net {
    cl_backend *be;
    net_node *nodes;
    int n_nodes, cap_nodes;
    net_value *vals;
    int n_vals, cap_vals;
    int input, logits;      /* value ids */
    int n_paths;
    int n_twins;            /* set by net_plan: twin pools with drop-path slots */
    long n_params, n_state;
    cl_err build_err;       /* the first builder error */

    /* set by net_plan */
    int max_batch;
    long arena_floats;      /* floats of each of the activation and gradient arenas */
    long p_storage;         /* floats of each parameter array: n_params and the
                             * zero padding that starts every block on 16 bytes */
    void *arena;            /* the one block of backend memory all below live in */
    size_t arena_bytes;
    float *act, *grad;      /* activation and gradient arenas */
    float *params, *pgrad, *mom, *state;
    float *path_scale;      /* [n_paths + n_twins + 1][max_batch]: drop-path
                             * scales, then each twin's two summed (twin_row),
                             * then a row of 2 (twins without drop-path) */
    float *path_host;       /* the same, drawn in host memory */
    int *twin_pairs;        /* [n_twins][2]: the paths each sum row adds (backend memory) */
    double *bst;            /* the batch-norm statistics convolutions take (bst) */
    float *bab;             /* the scales and shifts of batch norms a pair applies
                             * (bnin), the factors of those a pair back-propagates
                             * through (bdy) */
    int *labels;            /* [max_batch] */
    float *loss_dev;
    int *correct_dev;

    /* per-node seconds, forward and backward, when profiling is on; with
     * the backend's timing marks (prof_marks), 2 * (n_nodes + 1) of them:
     * mark i + 1 after forward node i, mark n_nodes + 2 + k after the k-th
     * node the backward takes, marks 0 and n_nodes + 1 at each pass's start */
    double *prof_fwd, *prof_bwd;
    int prof_marks;
    double *prof_t;

    /* lanes (lanes.c): the ops of each pass spread over the backend's
     * lanes, or NULL (every op on be) */
    struct net_lanes *lanes;

    /* run state */
    int batch;              /* images in the last forward */
    int train;              /* mode of the last forward */
    int drop_active;        /* path_scale holds a draw for this step */
    long sgd_steps;
} cl_net;

cl_net *net_new(cl_backend *be);   /* NULL when out of memory */
void net_free(cl_net *net);

/* ---- building ---- */
int net_value_new(cl_net *net, int c, int h, int w);
int net_value_slice(cl_net *net, int parent, int c0, int c);
int net_path_new(cl_net *net);
/* each returns the node index, or -1 after a builder error */
int net_conv(cl_net *net, int x, int y, const conv_desc *d, int acc);
int net_bn(cl_net *net, int x, int y, int acc, int path);
int net_pool(cl_net *net, int x, int y, const pool_desc *d, int acc, int path);
int net_copy(cl_net *net, int x, int y, int acc, int path);
int net_gap(cl_net *net, int x, int y);
int net_linear(cl_net *net, int x, int y);

/* Drop the ops whose results nothing needed reads (a cell input no block
 * uses, a cell output no later cell reads) and their parameters, so the
 * network computes, counts and trains only what reaches the logits. */
void net_prune(cl_net *net);

int net_plan(cl_net *net, int max_batch, cl_err *err);

/* PyTorch's default initialisation: conv and linear weights (and the
 * linear bias) uniform in +-1/sqrt(fan_in), BN gamma 1 and beta 0, running
 * mean 0 and variance 1. */
int net_init_params(cl_net *net, cl_rng *rng, cl_err *err);

/* ---- running ---- */
/* Draw this step's drop-path masks: each path of each image is dropped
 * with probability prob, kept paths scaled by 1/(1 - prob).  prob = 0
 * turns drop-path off. */
void net_drop_path(cl_net *net, float prob, cl_rng *rng);

/* x: n images [n][c][h][w] in host memory, n <= max_batch */
int net_forward(cl_net *net, const float *x, int n, int train, cl_err *err);
/* Mean cross-entropy of the last forward against host labels; with
 * backward set, also the gradient of the logits for net_backward(). */
int net_loss(cl_net *net, const int *labels, float *loss, int *correct, int backward, cl_err *err);
int net_backward(cl_net *net, cl_err *err);
void net_sgd(cl_net *net, float lr, float momentum, float weight_decay);
/* ---- running without waiting ----
 * The queued calls put their work on the backend and return at once (on
 * a GPU, the host runs ahead while the device computes); their errors show
 * at the next be->sync.  A training step that never waits: a batch written
 * straight into net_input_buf / net_label_buf (be->batch_gather),
 * net_drop_path_draw, net_forward_queued, net_loss_queued into slots in
 * backend memory, net_backward_queued, net_sgd. */
float *net_input_buf(cl_net *net);   /* [max_batch][c][h][w], backend memory */
int *net_label_buf(cl_net *net);     /* [max_batch] */
/* Drop-path masks drawn by the backend from (seed, step): see
 * drop_draw_one.  With sr (backend.h's step counter) the step and its
 * probability come from there, and prob > 0 only says masks are on. */
void net_drop_path_draw(cl_net *net, float prob, uint64_t seed, long step, const step_ref *sr);
int net_forward_queued(cl_net *net, int n, int train, cl_err *err);
/* The loss and the count of right answers of the last forward, against
 * net_label_buf, into *loss_dev and *correct_dev (backend memory; with sr
 * into the step's slot of those arrays) */
void net_loss_queued(cl_net *net, float *loss_dev, int *correct_dev, int backward,
                     const step_ref *sr);
int net_backward_queued(cl_net *net, cl_err *err);
/* SGD at the learning rate of sr's step (the momentum buffer must have
 * started at zero) */
void net_sgd_queued(cl_net *net, float momentum, float weight_decay, const step_ref *sr);

/* copy the logits of the last forward to host memory ([batch][classes]) */
void net_logits(cl_net *net, float *out);

/* Time every node.  Off by default.  On a backend with timing marks (a
 * GPU's events) the marks are queued between the nodes and nothing waits:
 * net_profile_take() adds the device's time between them once a training
 * step (forward and backward) has been queued, or after each replay of a
 * step recorded with profiling on.  Elsewhere each node is timed alone,
 * waiting after it (taking is then a no-op).  net_profile_report() sums
 * the seconds by op class. */
int net_profile(cl_net *net, int on, cl_err *err);
/* 1 when profiling times nodes with the backend's marks */
int net_profile_marked(const cl_net *net);
int net_profile_take(cl_net *net, cl_err *err);

typedef struct net_prof_row {
    char name[48];      /* "depthwise 5x5 s1", "batch norm", ... */
    double fwd, bwd;    /* seconds */
    double fwd_bytes, bwd_bytes;   /* the least memory traffic of one pass
                                    * at the last batch: each tensor and
                                    * parameter read or written once */
    int count;          /* nodes of this class */
} net_prof_row;

/* Rows sorted by total time; returns how many were written (<= max). */
int net_profile_report(const cl_net *net, net_prof_row *rows, int max);

/* ---- lanes (lanes.c; net_plan and the passes use them) ----
 * Where the backend has lanes (be->lanes > 1), net_lanes_plan schedules
 * each pass (0 forward, 1 backward) over them and makes them; without,
 * it does nothing and every op runs on be. */
int net_lanes_plan(cl_net *net, cl_err *err);
void net_lanes_free(cl_net *net);
/* The backend that runs entry e of a pass: node e; backward, where
 * net_lanes_split(net, i), node i is two entries: i its data gradient
 * and n_nodes + i its filter gradient, which may run on another lane */
cl_backend *net_lane_backend(const cl_net *net, int pass, int e);
int net_lanes_split(const cl_net *net, int i);
/* around a pass: the lanes wait for be, then be for the lanes */
void net_lanes_begin(cl_net *net, int pass);
void net_lanes_end(cl_net *net, int pass);
/* around entry e: its waits queued, its backend returned; its event after */
cl_backend *net_lane_enter(cl_net *net, int pass, int e);
void net_lane_leave(cl_net *net, int pass, int e);
/* how many lanes the network's passes use (1: none but be), and how many
 * events their nodes wait for in a training step */
int net_lanes_used(const cl_net *net, int *waits);

/* ---- facts ---- */
long net_param_count(const cl_net *net);
/* bytes of backend memory the planned network holds (arenas, parameters
 * and their SGD state, batch-norm state) */
size_t net_memory(const cl_net *net);
/* FLOPs of the forward pass of one image: 2 per multiply-add of the
 * convolutions and the linear layer */
double net_flops(const cl_net *net);
/* identity ops net_plan folded into batch norms (see CELLAR_IDENTITY) */
int net_identity_folds(const cl_net *net);
/* batch norms the separable pair after them applies (bnin; see
 * CELLAR_BN_APPLY) */
int net_bn_applied(const cl_net *net);
/* batch norms whose data gradient the separable pair before them makes
 * (bdy; see CELLAR_BN_DX) */
int net_bn_dx_fused(const cl_net *net);
/* pools standing for two (net_plan's twins) */
int net_twin_pools(const cl_net *net);
tview net_view(const cl_net *net, const float *arena, int value, int n);
/* value v as channels [*c0, *c1) of its root value *root (itself, or the
 * value it is a slice of) */
void net_value_span(const cl_net *net, int v, int *root, int *c0, int *c1);

#endif
