/* json.h - reading the small JSON texts cellar itself writes (a journal's
 * settings, a controller step's decisions) in place, without a tree: find
 * a key of an object, step through an array, read a number or a string.
 *
 * A value is a pointer into the text at its first character.  Every
 * function returns NULL (or -1) where the text is not what was asked for,
 * so a malformed or truncated text is refused, never read past its end. */
#ifndef CELLAR_CORE_JSON_H
#define CELLAR_CORE_JSON_H

#include <stddef.h>

/* The value of `key` in the object `obj` (its own keys only, not those of
 * nested objects), or NULL. */
const char *json_get(const char *obj, const char *key);

/* The first element of the array `arr`, or NULL when it is empty or not
 * an array; json_next gives the element after `v`, NULL after the last. */
const char *json_first(const char *arr);
const char *json_next(const char *v);

/* A number; 0 with *out set, -1 when `v` is not one (null included). */
int json_number(const char *v, double *out);

/* A string's characters, unescaped (\uXXXX beyond ASCII as '?'), cut to
 * cap - 1 bytes; 0, or -1 when `v` is not a string. */
int json_text(const char *v, char *out, size_t cap);

#endif
