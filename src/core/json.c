/* json.c - an in-place reader for the JSON cellar writes (see json.h). */
#include "core/json.h"

#include <stdlib.h>
#include <string.h>

#define JSON_DEPTH 64

static const char *ws(const char *s)
{
    while (s && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++;
    return s;
}

/* past a string starting at its opening quote, or NULL */
static const char *skip_string(const char *s)
{
    for (s++; *s; s++) {
        if (*s == '\\') {
            if (!*++s)
                return NULL;
        } else if (*s == '"') {
            return s + 1;
        }
    }
    return NULL;
}

/* past one value of any kind, or NULL when it is malformed or cut */
static const char *skip_value(const char *s)
{
    char open[JSON_DEPTH];
    int depth = 0;
    s = ws(s);
    if (!s || !*s)
        return NULL;
    do {
        s = ws(s);
        if (*s == '"') {
            if (!(s = skip_string(s)))
                return NULL;
        } else if (*s == '{' || *s == '[') {
            if (depth == JSON_DEPTH)
                return NULL;
            open[depth++] = *s == '{' ? '}' : ']';
            s++;
            continue;
        } else if (*s == '}' || *s == ']') {
            if (!depth || *s != open[depth - 1])
                return NULL;
            depth--;
            s++;
        } else if (*s == ',' || *s == ':') {
            if (!depth)
                return NULL;
            s++;
            continue;
        } else if (*s) {
            /* a number or a literal: up to the next delimiter */
            const char *t = s;
            while (*t && !strchr(",:]}\"{[ \t\n\r", *t))
                t++;
            if (t == s)
                return NULL;
            s = t;
        } else {
            return NULL;
        }
    } while (depth);
    return s;
}

const char *json_get(const char *obj, const char *key)
{
    size_t klen = strlen(key);
    const char *s = ws(obj);
    if (!s || *s != '{')
        return NULL;
    s = ws(s + 1);
    if (*s == '}')
        return NULL;
    for (;;) {
        const char *k = s, *end;
        if (*k != '"' || !(end = skip_string(k)))
            return NULL;
        s = ws(end);
        if (*s != ':')
            return NULL;
        s = ws(s + 1);
        if ((size_t)(end - k - 2) == klen && !strncmp(k + 1, key, klen))
            return s;
        if (!(s = skip_value(s)))
            return NULL;
        s = ws(s);
        if (*s != ',')
            return NULL;
        s = ws(s + 1);
    }
}

const char *json_first(const char *arr)
{
    const char *s = ws(arr);
    if (!s || *s != '[')
        return NULL;
    s = ws(s + 1);
    return *s && *s != ']' ? s : NULL;
}

const char *json_next(const char *v)
{
    const char *s = skip_value(v);
    if (!s)
        return NULL;
    s = ws(s);
    return *s == ',' ? ws(s + 1) : NULL;
}

int json_number(const char *v, double *out)
{
    char *end;
    double x;
    v = ws(v);
    if (!v || !(*v == '-' || (*v >= '0' && *v <= '9')))
        return -1;
    x = strtod(v, &end);
    if (end == v || (*end && !strchr(",]} \t\n\r", *end)))
        return -1;
    *out = x;
    return 0;
}

int json_text(const char *v, char *out, size_t cap)
{
    size_t n = 0;
    v = ws(v);
    if (!v || *v != '"' || !skip_string(v) || !cap)
        return -1;
    for (v++; *v != '"'; v++) {
        char c = *v;
        if (c == '\\') {
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char *p = strchr(from, *++v);
            if (*v == 'u') {
                char hex[5];
                long code;
                for (int i = 1; i <= 4; i++)
                    if (!v[i] || !strchr("0123456789abcdefABCDEF", v[i]))
                        return -1;
                memcpy(hex, v + 1, 4);
                hex[4] = '\0';
                v += 4;
                code = strtol(hex, NULL, 16);
                c = code > 0 && code < 0x80 ? (char)code : '?';
            } else if (p && *v) {
                c = to[p - from];
            } else {
                return -1;
            }
        }
        if (n + 1 < cap)
            out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}
