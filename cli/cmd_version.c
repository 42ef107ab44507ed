/* reel version: the version and the options this binary was built with. */
#include "cli/cli.h"
#include "core/core.h"
#include "kernels/kernels.h"
#include "reel_config.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/opensslv.h>
#include <stdio.h>

static int run(int argc, char **argv)
{
    if (argc > 1) return reel_cli_usage("version", "unexpected argument '%s'", argv[1]);
    char cpu[256];
    reel_kernels_cpu_describe(cpu, sizeof cpu);
    printf("reel %s\n", REEL_VERSION);
    printf("build: %s, %s%s%s%s\n", REEL_BUILD_TYPE, REEL_C_COMPILER, *REEL_ARCH_FLAGS ? ", " : "",
           REEL_ARCH_FLAGS, REEL_SANITIZE ? ", ASan+UBSan" : "");
    printf("cpu features: %s\n", cpu);
    printf("cuda: %s\n", reel_kernels_cuda_built() ? "on" : "off (built without nvcc)");
    printf("libraries: jansson %s, libcurl %s, %s\n", JANSSON_VERSION,
           curl_version_info(CURLVERSION_NOW)->version, OPENSSL_VERSION_TEXT);
    return REEL_EXIT_OK;
}

static const reel_cli_cmd reel_cmd_version = {
    "version",
    "show the version and build options (CPU features, CUDA)",
    "Usage: reel version   (also: reel --version, reel -V)\n\n"
    "Prints the reel version, the build type and compiler flags, the SIMD extensions the CPU\n"
    "offers (the kernels pick from these at run time), whether the CUDA backend is built in,\n"
    "and the versions of the libraries reel was linked against.\n",
    run,
};
REEL_CLI_COMMAND(reel_cmd_version)
