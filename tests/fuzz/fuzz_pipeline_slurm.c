/* Fuzz target: the slurm executor's parsers of what sbatch and squeue print, and the checker of
 * job resource values (mem, time, gres...) that scripts and plugin descriptors give. Any text
 * parses into jobs with positive ids, known-length states and terminated comments, or fails with
 * an error naming the line; a resource value is accepted only if it is a short word; never
 * crash or read past the text. */
#include "pipeline/resources-impl.h"
#include "pipeline/slurm-impl.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so that reading one byte too far is caught under ASan */
    char *text = malloc(size ? size : 1);
    if (!text) return 0;
    if (size) memcpy(text, data, size);
    reeli_slurm_job *jobs = NULL;
    size_t n = 0;
    if (reeli_slurm_parse_squeue(text, size, &jobs, &n) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (jobs[i].id <= 0 || !jobs[i].state[0]) abort();
            if (strlen(jobs[i].state) >= sizeof jobs[i].state) abort();
            if (strlen(jobs[i].comment) >= sizeof jobs[i].comment) abort();
            if (jobs[i].cls != reeli_slurm_state_class(jobs[i].state)) abort();
            if (reeli_slurm_find(jobs, n, jobs[i].id) == NULL) abort();
        }
        free(jobs);
    } else if (jobs || n || !strstr(reel_last_error(), "squeue output line")) {
        abort();
    }
    /* sbatch's answer is read as a C string */
    char *s = malloc(size + 1);
    if (s) {
        if (size) memcpy(s, data, size);
        s[size] = '\0';
        long id = 0;
        if (reeli_slurm_parse_sbatch(s, &id) == 0 && id <= 0) abort();
        static const char *const keys[] = {"mem", "time", "gres", "partition", "account"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            if (reeli_res_check(keys[k], s)) continue;
            size_t len = strlen(s);
            if (len == 0 || len > 100) abort();
            for (size_t i = 0; i < len; i++)
                if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f) abort();
        }
        free(s);
    }
    free(text);
    return 0;
}
