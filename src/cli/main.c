/* main.c - the cellar command: a table of subcommands, chosen by name or
 * unique prefix. */
#include <stdio.h>
#include <string.h>

#include "backend/backend.h"
#include "cli/cli.h"
#include "config.h"

static const cli_cmd *const commands[] = {&cmd_run,  &cmd_resume, &cmd_show,
                                          &cmd_export, &cmd_render, &cmd_train, &cmd_bench};

static void usage(FILE *out)
{
    fprintf(out, "usage: cellar [FILE.lua | NAME | FILE.db] [options]   the workbench screen\n"
                 "       cellar COMMAND [options]\n\n"
                 "cellar: neural architecture search in the manner of NASNet.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < CL_ARRAY_LEN(commands); i++)
        fprintf(out, "  %-8s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(out, "\n'cellar COMMAND --help' describes a command, 'cellar help screen' the\n"
                 "screen; man cellar has it all.\n");
}

static void version(void)
{
    printf("cellar %s\n", PACKAGE_VERSION);
#ifdef HAVE_CUDA
    printf("backends: cpu (OpenBLAS, OpenMP), %s\n", backend_cuda_info());
#else
    printf("backends: cpu (OpenBLAS, OpenMP); no CUDA backend (built without CUDA)\n");
#endif
#ifdef HAVE_NCURSES
    printf("screen: yes (ncurses)\n");
#else
    printf("screen: no (built without ncurses)\n");
#endif
#ifdef HAVE_GRAPHVIZ
    printf("cell rendering: yes (Graphviz)\n");
#else
    printf("cell rendering: no (built without Graphviz)\n");
#endif
}

int main(int argc, char **argv)
{
    const cli_cmd *found = NULL;
    size_t len;
    int ambiguous = 0;
    /* no command: the screen, on a file, a shipped experiment or a journal */
    if (argc < 2 || (argv[1][0] == '-' && strcmp(argv[1], "--help") && strcmp(argv[1], "-h") &&
                     strcmp(argv[1], "--version") && strcmp(argv[1], "-V")))
        return cmd_screen.run(argc, argv);
    if (strchr(argv[1], '.') || strchr(argv[1], '/') || !strcmp(argv[1], "quick") ||
        !strcmp(argv[1], "rl-vs-random") || !strcmp(argv[1], "cifar10"))
        return cmd_screen.run(argc, argv);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        if (argc > 2 && !strcmp(argv[1], "help")) {
            if (!strcmp(argv[2], "screen")) {
                fputs(cmd_screen.usage, stdout);
                return 0;
            }
            for (size_t i = 0; i < CL_ARRAY_LEN(commands); i++)
                if (!strcmp(commands[i]->name, argv[2])) {
                    fputs(commands[i]->usage, stdout);
                    return 0;
                }
            fprintf(stderr, "cellar help: no command '%s'\n", argv[2]);
            return 2;
        }
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        version();
        return 0;
    }
    len = strlen(argv[1]);
    for (size_t i = 0; i < CL_ARRAY_LEN(commands); i++) {
        if (!strcmp(commands[i]->name, argv[1])) {
            found = commands[i];
            ambiguous = 0;
            break;
        }
        if (!strncmp(commands[i]->name, argv[1], len)) {
            ambiguous += found != NULL;
            found = commands[i];
        }
    }
    if (!found || ambiguous) {
        const char *names[CL_ARRAY_LEN(commands)];
        char near[64] = "";
        for (size_t i = 0; i < CL_ARRAY_LEN(commands); i++)
            names[i] = commands[i]->name;
        if (!found)
            cl_did_you_mean(argv[1], len, names, (int)CL_ARRAY_LEN(names), "", "", near,
                            sizeof near);
        fprintf(stderr, "cellar: %s command '%s'%s (commands:", found ? "ambiguous" : "unknown",
                argv[1], near);
        for (size_t i = 0; i < CL_ARRAY_LEN(commands); i++)
            fprintf(stderr, " %s", commands[i]->name);
        fprintf(stderr, ")\n");
        return 2;
    }
    return found->run(argc - 1, argv + 1);
}
