/* main.c - the cellar command: a table of subcommands. */
#include <stdio.h>
#include <string.h>

#include "config.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("cellar %s\n", PACKAGE_VERSION);
        return 0;
    }
    fprintf(stderr, "cellar: no command given\n");
    return 2;
}
