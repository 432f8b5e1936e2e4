/* format.c - the picture format a file name suggests; built with or
 * without Graphviz, so that every caller reads extensions the same way. */
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "render/render.h"

const char *render_format_of(const char *path)
{
    static const char *const ext[][2] = {
        {".svg", "svg"}, {".png", "png"}, {".dot", "dot"}, {".gv", "dot"}, {".txt", "ascii"},
    };
    size_t n = path ? strlen(path) : 0;
    for (size_t i = 0; i < CL_ARRAY_LEN(ext); i++) {
        size_t m = strlen(ext[i][0]);
        if (n > m && !strcasecmp(path + n - m, ext[i][0]))
            return ext[i][1];
    }
    return NULL;
}
