/* reel info --devices: the compute devices reel can use. */
#include "cli/cli.h"
#include "core/core.h"
#include "kernels/kernels.h"

#include <stdio.h>
#include <string.h>

static int show_devices(void)
{
    char cpu[256], mem[32];
    reel_kernels_cpu_describe(cpu, sizeof cpu);
    printf("cpu: %d threads, %s\n", reel_cpu_count(), cpu);
    const char *why = NULL;
    int n = reel_kernels_gpu_count(&why);
    if (n == 0) {
        printf("cuda: none (%s)\n", why ? why : "no device");
        return REEL_EXIT_OK;
    }
    for (int i = 0; i < n; i++) {
        reel_gpu_info g;
        if (reel_kernels_gpu_info(i, &g) < 0) return reel_cli_fail("info");
        printf("cuda:%d: %s, compute %d.%d, %d SMs, %s\n", i, g.name, g.cc_major, g.cc_minor,
               g.multiprocessors, reel_format_bytes((double)g.total_mem, mem, sizeof mem));
    }
    return REEL_EXIT_OK;
}

static int run(int argc, char **argv)
{
    int devices = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--devices") == 0)
            devices = 1;
        else if (argv[i][0] == '-')
            return reel_cli_usage("info", "unknown option '%s'", argv[i]);
        else
            return reel_cli_usage("info", "reading model files is not built yet; only "
                                          "'reel info --devices' works in this version");
    }
    if (!devices) return reel_cli_usage("info", "nothing to show: use --devices");
    return show_devices();
}

static const reel_cli_cmd reel_cmd_info = {
    "info",
    "show the compute devices (--devices)",
    "Usage: reel info --devices\n\n"
    "  --devices   list the CPU (threads, SIMD extensions) and the CUDA GPUs reel can use,\n"
    "              or why none can be used (no CUDA in this build, no driver, no GPU)\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_info)
