/* cli.c - option parsing, progress line, small output helpers. */
#include "cli/cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "space/genotype.h"

volatile sig_atomic_t cli_signal;

static void on_signal(int sig) { cli_signal = sig; }

void cli_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

const char *cli_signal_name(int sig)
{
    return sig == SIGINT ? "Ctrl-C" : sig == SIGTERM ? "SIGTERM" : "a signal";
}

int cli_fail(const char *cmd, const cl_err *err)
{
    fprintf(stderr, "cellar %s: %s\n", cmd, err->msg[0] ? err->msg : err_str(err->code));
    return 1;
}

static int usage_error(const cli_cmd *cmd, int *exit_code, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "cellar %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'cellar %s --help')\n", cmd->name);
    *exit_code = 2;
    return 1;
}

static cli_opt *find_opt(cli_opt *opts, int nopts, const char *name, size_t len)
{
    for (int i = 0; i < nopts; i++)
        if (strlen(opts[i].name) == len && !strncmp(opts[i].name, name, len))
            return &opts[i];
    return NULL;
}

int cli_parse(const cli_cmd *cmd, int argc, char **argv, cli_opt *opts, int nopts,
              const char **pos, int *exit_code)
{
    int got_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL, *eq;
        char what[80];
        cli_opt *o;
        cl_err err = {0};
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(cmd->usage, stdout);
            *exit_code = 0;
            return 1;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (pos && !got_pos && a[0] != '-') {
                *pos = a;
                got_pos = 1;
                continue;
            }
            return usage_error(cmd, exit_code, a[0] == '-' ? "unknown option '%s'"
                                                            : "unexpected argument '%s'", a);
        }
        a += 2;
        eq = strchr(a, '=');
        o = find_opt(opts, nopts, a, eq ? (size_t)(eq - a) : strlen(a));
        if (!o) {
            cl_buf names = {0};
            const char *list[64];
            int len = (int)(eq ? eq - a : (long)strlen(a)), k = 0;
            for (int j = 0; j < nopts; j++) {
                buf_printf(&names, "%s--%s", j ? ", " : "", opts[j].name);
                if (k < (int)CL_ARRAY_LEN(list))
                    list[k++] = opts[j].name;
            }
            usage_error(cmd, exit_code, "unknown option '--%.*s'%s (valid: %s)", len, a,
                        cl_did_you_mean(a, (size_t)len, list, k, "--", "", what, sizeof what),
                        names.s ? names.s : "none");
            buf_free(&names);
            return 1;
        }
        o->seen = 1;
        if (o->kind == OPT_FLAG) {
            if (eq)
                return usage_error(cmd, exit_code, "--%s takes no value", o->name);
            *(int *)o->slot = 1;
            continue;
        }
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return usage_error(cmd, exit_code, "--%s needs a value", o->name);
        snprintf(what, sizeof what, "--%s", o->name);
        if (o->kind == OPT_LIST) {
            cli_list *l = o->slot;
            if (l->n == (int)(sizeof l->v / sizeof l->v[0]))
                return usage_error(cmd, exit_code, "--%s given too many times", o->name);
            l->v[l->n++] = val;
        } else if (o->kind == OPT_STR) {
            *(const char **)o->slot = val;
        } else if (o->kind == OPT_TRIAL && !strcmp(val, "best")) {
            *(int *)o->slot = 0;
        } else if (o->kind == OPT_TRIAL) {
            long v;
            if (parse_long(val, 1, 2147483647L, &v, what, &err))
                return usage_error(cmd, exit_code, "--%s: expected a trial number (1, 2, ...) "
                                   "or 'best', got '%s'", o->name, val);
            *(int *)o->slot = (int)v;
        } else if (o->kind == OPT_INT) {
            long v;
            if (parse_long(val, o->lo, o->hi, &v, what, &err))
                return usage_error(cmd, exit_code, "%s", err.msg);
            *(int *)o->slot = (int)v;
        } else {
            if (parse_double(val, (double *)o->slot, what, &err))
                return usage_error(cmd, exit_code, "%s", err.msg);
        }
    }
    return 0;
}

void progress_init(progress *p, FILE *out)
{
    p->out = out;
    p->tty = isatty(fileno(out));
    p->last = 0.0;
    p->shown = 0;
}

void progress_show(progress *p, int force, const char *fmt, ...)
{
    char line[256];
    double now;
    va_list ap;
    if (!p->tty)
        return;
    now = cl_now();
    if (!force && now - p->last < 0.1)
        return;
    p->last = now;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    {
        /* a line that wraps cannot be redrawn in place: cut it to the width */
        struct winsize ws;
        if (ioctl(fileno(p->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 &&
            strlen(line) >= ws.ws_col)
            line[ws.ws_col - 1] = '\0';
    }
    fprintf(p->out, "\r%s\033[K", line);
    fflush(p->out);
    p->shown = 1;
}

void progress_clear(progress *p)
{
    if (p->tty && p->shown) {
        fputs("\r\033[K", p->out);
        fflush(p->out);
    }
    p->shown = 0;
}


void json_string(cl_buf *b, const char *s)
{
    buf_printf(b, "\"");
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            buf_printf(b, "\\%c", ch);
        else if (ch < 0x20)
            buf_printf(b, "\\u%04x", ch);
        else
            buf_printf(b, "%c", ch);
    }
    buf_printf(b, "\"");
}

void cli_default_db(const char *file, const char *name, int several, char *out, size_t cap)
{
    const char *base = strrchr(file, '/');
    size_t len;
    base = base ? base + 1 : file;
    len = strlen(base);
    if (len > 4 && !strcmp(base + len - 4, ".lua"))
        len -= 4;
    if (several)
        snprintf(out, cap, "%.*s-%s.db", (int)len, base, name);
    else
        snprintf(out, cap, "%.*s.db", (int)len, base);
}

int cli_positional_genotype(const char *arg, cl_genotype *g)
{
    cl_err err = {0};
    return arg && access(arg, F_OK) != 0 && geno_from_arg(arg, g, &err) == CL_OK;
}
