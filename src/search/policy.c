/* policy.c - a controller update read back from the journal (policy.h). */
#include "search/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

/* the registry indices of an array of names (ops or combiners), at most
 * max of them; -1 for a name `find` does not know, or too many */
static int names_of(const char *arr, int (*find)(const char *, size_t), unsigned char *out,
                    int max)
{
    char name[32];
    int n = 0;
    for (const char *v = json_first(arr); v; v = json_next(v)) {
        int k = json_text(v, name, sizeof name) ? -1 : find(name, strlen(name));
        if (k < 0 || n == max)
            return -1;
        out[n++] = (unsigned char)k;
    }
    return n;
}

/* the space as the journal's settings give it ("space": {B, inputs, ops,
 * combiners}) */
static int space_of_settings(const char *settings, cl_space *s, cl_err *err)
{
    const char *sp = settings ? json_get(settings, "space") : NULL;
    double B, inputs;
    memset(s, 0, sizeof *s);
    if (!sp || json_number(json_get(sp, "B"), &B) || json_number(json_get(sp, "inputs"), &inputs))
        return ERR_SET(err, CL_ERR_FORMAT, "the journal's settings do not give its space");
    if (json_text(json_get(sp, "name"), s->name, sizeof s->name))
        snprintf(s->name, sizeof s->name, "?");
    s->B = (int)B;
    s->inputs = (int)inputs;
    if ((s->n_ops = names_of(json_get(sp, "ops"), geno_op_find, s->ops, OP_COUNT)) < 0)
        return ERR_SET(err, CL_ERR_FORMAT, "the journal's space has an op cellar does not "
                       "know, or too many");
    if ((s->n_combs = names_of(json_get(sp, "combiners"), geno_comb_find, s->combs,
                               COMB_COUNT)) < 0)
        return ERR_SET(err, CL_ERR_FORMAT, "the journal's space has a combiner cellar does "
                       "not know, or too many");
    if (space_validate(s, err)) {
        err_prefix(err, "the journal's space");
        return err->code;
    }
    return CL_OK;
}

/* "1 2 3 ... 20" as "1-20" when it is a run, else "k trials, first to last" */
static void trials_text(const char *ids, char *out, size_t cap)
{
    long first = 0, last = 0, n = 0, run = 1;
    char *end;
    for (const char *s = ids ? ids : ""; *s; s = end) {
        long v = strtol(s, &end, 10);
        if (end == s)
            break;
        if (n && v != last + 1)
            run = 0;
        if (!n)
            first = v;
        last = v;
        n++;
    }
    if (!n)
        snprintf(out, cap, "?");
    else if (n == 1)
        snprintf(out, cap, "%ld", first);
    else if (run)
        snprintf(out, cap, "%ld-%ld", first, last);
    else
        snprintf(out, cap, "%ld trials, %ld to %ld", n, first, last);
}

static int read_decisions(const char *json, policy *p, cl_err *err)
{
    int n_choices[SPACE_MAX_DECISIONS], t = 0;
    static const char *const what[5] = {"input 1", "input 2", "op 1", "op 2", "combiner"};
    const char *v;
    p->n = space_decisions(&p->space, n_choices);
    for (v = json_first(json); v && t < p->n; v = json_next(v), t++) {
        policy_decision *d = &p->d[t];
        double x;
        int k = 0;
        d->cell = t / (5 * p->space.B);
        d->block = t % (5 * p->space.B) / 5 + 1;
        snprintf(d->what, sizeof d->what, "%s", what[t % 5]);
        d->n = n_choices[t];
        if (json_number(json_get(v, "entropy"), &d->entropy) ||
            json_number(json_get(v, "choice"), &x) || x < 0 || x >= d->n)
            break;
        d->choice = (int)x;
        for (const char *q = json_first(json_get(v, "probs")); q; q = json_next(q), k++)
            if (k == d->n || json_number(q, &d->probs[k]))
                break;
        if (k != d->n)
            break;
    }
    if (t != p->n || v)
        return ERR_SET(err, CL_ERR_FORMAT, "update %lld: its decisions do not read as %d of the "
                       "space %s", (long long)p->step, p->n, p->space.name);
    return CL_OK;
}

int policy_read(cl_store *st, int64_t step, policy *p, cl_err *err)
{
    store_experiment x;
    store_ctrl_step s;
    int found = 0, rc;
    memset(p, 0, sizeof *p);
    memset(&x, 0, sizeof x);
    if ((rc = store_ctrl_step_get(st, 0, &s, &found, err)))
        return rc;
    if (!found)
        return ERR_SET(err, CL_ERR_ARG, "no controller update in the journal yet (a random or "
                       "evolution search has none; a controller learns after its first batch "
                       "of trials)");
    p->steps = s.step;
    if (step > 0 && step != s.step) {
        store_ctrl_step_clear(&s);
        if ((rc = store_ctrl_step_get(st, step, &s, &found, err)))
            return rc;
        if (!found)
            return ERR_SET(err, CL_ERR_ARG, "no controller update %lld: the journal holds 1 to "
                           "%lld", (long long)step, (long long)p->steps);
    }
    p->step = s.step;
    p->entropy = s.entropy;
    p->reward_ema = s.reward_ema;
    p->time = s.time;
    trials_text(s.trials, p->trials, sizeof p->trials);
    if (!s.decisions)
        rc = ERR_SET(err, CL_ERR_ARG, "controller update %lld has no record of its decisions",
                     (long long)s.step);
    else if (!(rc = store_experiment_get(st, &x, err)) &&
             !(rc = space_of_settings(x.settings, &p->space, err)) &&
             !(rc = read_decisions(s.decisions, p, err))) {
        int actions[SPACE_MAX_DECISIONS];
        cl_genotype g;
        for (int t = 0; t < p->n; t++)
            actions[t] = p->d[t].choice;
        if (!(rc = space_decode(&p->space, actions, &g, err)))
            geno_format(&g, p->genotype, sizeof p->genotype);
    }
    store_ctrl_step_clear(&s);
    store_experiment_clear(&x);
    return rc;
}

const char *policy_choice_name(const policy *p, const policy_decision *d, int k, char *buf,
                               size_t cap)
{
    int role = (int)(d - p->d) % 5;
    if (k < 0 || k >= d->n)
        snprintf(buf, cap, "?");
    else if (role < 2) {
        int in = k + 2 - p->space.inputs;   /* genotype input index */
        if (in < 2)
            snprintf(buf, cap, "%s", in ? "h[i]" : "h[i-1]");
        else
            snprintf(buf, cap, "block %d", in - 1);
    } else if (role < 4) {
        snprintf(buf, cap, "%s", geno_ops[p->space.ops[k]].name);
    } else {
        snprintf(buf, cap, "%s", geno_comb_names[p->space.combs[k]]);
    }
    return buf;
}

int policy_settled(const policy *p)
{
    int n = 0;
    for (int t = 0; t < p->n; t++)
        n += p->d[t].probs[p->d[t].choice] >= POLICY_SETTLED;
    return n;
}
