/* strategy.c - the registry of strategies and the blob helpers they share. */
#include "search/strategy.h"

#include <stdlib.h>
#include <string.h>

const strategy_vt *const strategy_registry[] = {
    &strategy_ppo, &strategy_reinforce, &strategy_random, &strategy_evolution, NULL,
};

int strategy_find(const char *name, const strategy_vt **out, cl_err *err)
{
    cl_buf names = {0};
    for (int i = 0; strategy_registry[i]; i++)
        if (!strcmp(strategy_registry[i]->name, name)) {
            *out = strategy_registry[i];
            return CL_OK;
        }
    for (int i = 0; strategy_registry[i]; i++)
        buf_printf(&names, "%s%s", i ? ", " : "", strategy_registry[i]->name);
    ERR_SET(err, CL_ERR_ARG, "unknown strategy '%s' (valid: %s)", name, names.s ? names.s : "");
    buf_free(&names);
    return CL_ERR_ARG;
}

void blob_put(blob_w *w, const void *data, size_t n)
{
    if (w->failed)
        return;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        unsigned char *q;
        while (cap < w->len + n)
            cap *= 2;
        q = realloc(w->p, cap);
        if (!q) {
            w->failed = 1;
            return;
        }
        w->p = q;
        w->cap = cap;
    }
    memcpy(w->p + w->len, data, n);
    w->len += n;
}

void blob_get(blob_r *r, void *data, size_t n)
{
    if (r->failed || r->pos + n > r->len) {
        r->failed = 1;
        memset(data, 0, n);
        return;
    }
    memcpy(data, r->p + r->pos, n);
    r->pos += n;
}
