/* theme.c - reading colour themes. */
#include "tui/theme.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const theme_elem_names[TH_COUNT] = {
    "text", "dim", "status", "hint", "border", "title", "focus", "selected",
    "good", "bad", "line", "points", "axis",
    "cell_input", "cell_op", "cell_combiner", "cell_output", "cell_edge", "cell_title",
    "log_info", "log_warn", "log_error", "log_command", "prompt", "overlay",
};

const char *const theme_names[] = {"default", "light", "high-contrast", "monochrome", NULL};

static const char *const colour_names[] = {"black", "red",     "green", "yellow",
                                           "blue",  "magenta", "cyan",  "white"};

static int parse_colour(const char *w, short *c)
{
    char *end;
    long v;
    if (!strcmp(w, "default")) {
        *c = -1;
        return 0;
    }
    for (int bright = 0; bright < 2; bright++) {
        const char *name = w;
        if (bright) {
            if (strncmp(w, "bright-", 7))
                continue;
            name = w + 7;
        }
        for (int i = 0; i < 8; i++)
            if (!strcmp(name, colour_names[i])) {
                *c = (short)(i + 8 * bright);
                return 0;
            }
    }
    v = strtol(w, &end, 10);
    if (end != w && !*end && v >= 0 && v <= 255) {
        *c = (short)v;
        return 0;
    }
    return -1;
}

int theme_parse_style(const char *text, theme_style *s)
{
    char buf[128], *save = NULL, *w;
    int want_bg = 0, got_fg = 0;
    s->fg = s->bg = -1;
    s->attrs = 0;
    snprintf(buf, sizeof buf, "%s", text);
    for (w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
        if (!strcmp(w, "on")) {
            want_bg = 1;
            continue;
        }
        if (!strcmp(w, "bold"))
            s->attrs |= THA_BOLD;
        else if (!strcmp(w, "underline"))
            s->attrs |= THA_UNDERLINE;
        else if (!strcmp(w, "reverse"))
            s->attrs |= THA_REVERSE;
        else if (!strcmp(w, "dim"))
            s->attrs |= THA_DIM;
        else if (want_bg) {
            if (parse_colour(w, &s->bg))
                return -1;
            want_bg = 0;
        } else if (!got_fg) {
            if (parse_colour(w, &s->fg))
                return -1;
            got_fg = 1;
        } else {
            return -1;
        }
    }
    return want_bg ? -1 : 0;
}

void theme_monochrome(tui_theme *t)
{
    static const unsigned attrs[TH_COUNT] = {
        [TH_DIM] = THA_DIM, [TH_STATUS] = THA_REVERSE, [TH_HINT] = THA_REVERSE,
        [TH_TITLE] = THA_BOLD, [TH_FOCUS] = THA_BOLD | THA_REVERSE, [TH_SELECTED] = THA_REVERSE,
        [TH_GOOD] = THA_BOLD, [TH_BAD] = THA_UNDERLINE, [TH_LINE] = THA_BOLD,
        [TH_CELL_INPUT] = THA_BOLD, [TH_CELL_COMBINER] = THA_UNDERLINE,
        [TH_CELL_OUTPUT] = THA_BOLD | THA_UNDERLINE, [TH_CELL_TITLE] = THA_BOLD,
        [TH_LOG_WARN] = THA_BOLD, [TH_LOG_ERROR] = THA_BOLD | THA_UNDERLINE,
        [TH_LOG_COMMAND] = THA_BOLD, [TH_PROMPT] = THA_BOLD, [TH_OVERLAY] = THA_REVERSE,
    };
    snprintf(t->name, sizeof t->name, "monochrome");
    for (int i = 0; i < TH_COUNT; i++) {
        t->s[i].fg = t->s[i].bg = -1;
        t->s[i].attrs = attrs[i];
    }
}

static int set_entry(void *ud, const char *key, const char *value)
{
    tui_theme *t = ud;
    if (!strcmp(key, "name"))
        return 0;
    for (int i = 0; i < TH_COUNT; i++)
        if (!strcmp(key, theme_elem_names[i]))
            return theme_parse_style(value, &t->s[i]) ? CL_ERR_FORMAT : 0;
    return CL_ERR_ARG;
}

int theme_load(cl_lua *L, const char *name, tui_theme *t, cl_err *err)
{
    char path[600];
    int rc;
    theme_monochrome(t);
    if (strchr(name, '/') || strstr(name, ".lua"))
        snprintf(path, sizeof path, "%s", name);
    else
        snprintf(path, sizeof path, "themes/%s.lua", name);
    if (!cl_lua_embedded(path, NULL) && !strchr(name, '/') && !strstr(name, ".lua")) {
        cl_buf names = {0};
        for (int i = 0; theme_names[i]; i++)
            buf_printf(&names, "%s%s", i ? ", " : "", theme_names[i]);
        ERR_SET(err, CL_ERR_ARG, "no theme '%s' (shipped: %s; or give a file path)", name,
                names.s ? names.s : "");
        buf_free(&names);
        return CL_ERR_ARG;
    }
    if ((rc = cl_lua_read_strings(L, path, set_entry, t, err))) {
        if (rc == CL_ERR_ARG)
            err_prefix(err, "theme '%s' (valid keys are the screen's elements: text, status, "
                            "border, line, points, cell_op, log_error, ...)", name);
        return rc;
    }
    snprintf(t->name, sizeof t->name, "%s", name);
    return CL_OK;
}
