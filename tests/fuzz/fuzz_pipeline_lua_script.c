/* Fuzz target: Lua scripts built from random API calls, run by reel_pipeline_run with the
 * sandbox on. The input bytes drive a small generator that writes one statement per opcode:
 * reel.json.encode/decode of deep, cyclic or odd values, video/audio/concat/mix nodes with
 * random parameters, reel.validate with random schemas, io.open and reel.read_json of random
 * relative paths (some through links that leave the folder), and tiny renders through a stage
 * runner that writes a few bytes. Each statement runs inside pcall, so one error does not hide
 * the rest; reel itself must never crash, whatever the script does. */
#include "pipeline/pipeline.h"

#include "core/core.h"

#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct gen {
    const uint8_t *p;
    size_t n;
    reel_strbuf out;
} gen;

static unsigned next(gen *g)
{
    if (!g->n) return 0;
    g->n--;
    return *g->p++;
}

static const char *pick(gen *g, const char *const *items, size_t count)
{
    return items[next(g) % count];
}

#define PICK(g, arr) pick(g, arr, sizeof arr / sizeof *arr)

/* A Lua string literal of up to 16 input bytes, any byte value, as decimal escapes. */
static void gen_string(gen *g)
{
    unsigned len = next(g) % 17;
    reel_strbuf_str(&g->out, "\"");
    for (unsigned i = 0; i < len && g->n; i++) reel_strbuf_printf(&g->out, "\\%u", next(g));
    reel_strbuf_str(&g->out, "\"");
}

static void gen_value(gen *g, int depth)
{
    static const char *const atoms[] = {"nil",
                                        "true",
                                        "false",
                                        "0",
                                        "-1",
                                        "1.5",
                                        "1e308",
                                        "0/0",
                                        "math.huge",
                                        "-math.huge",
                                        "math.maxinteger",
                                        "math.mininteger",
                                        "reel.json.null",
                                        "print",
                                        "nodes[1]",
                                        "c",
                                        "deep",
                                        "''",
                                        "{}",
                                        "{{}}",
                                        "{[1]=1,[3]=3}",
                                        "{1,2,x=3}",
                                        "{[true]=1}"};
    unsigned op = next(g) % 5;
    if (depth >= 3 || op == 0) {
        reel_strbuf_str(&g->out, PICK(g, atoms));
    } else if (op == 1) {
        gen_string(g);
    } else if (op == 2) {
        reel_strbuf_printf(&g->out, "%d", (int)(next(g) << 8 | next(g)) - 32768);
    } else if (op == 3) { /* array */
        unsigned len = next(g) % 4;
        reel_strbuf_str(&g->out, "{");
        for (unsigned i = 0; i < len; i++) {
            gen_value(g, depth + 1);
            reel_strbuf_str(&g->out, ",");
        }
        reel_strbuf_str(&g->out, "}");
    } else { /* object */
        static const char *const keys[] = {"a", "b", "text", "duration_s", "fps", "k", "name"};
        unsigned len = next(g) % 4;
        reel_strbuf_str(&g->out, "{");
        for (unsigned i = 0; i < len; i++) {
            reel_strbuf_printf(&g->out, "%s=", PICK(g, keys));
            gen_value(g, depth + 1);
            reel_strbuf_str(&g->out, ",");
        }
        reel_strbuf_str(&g->out, "}");
    }
}

static void gen_schema(gen *g, int depth)
{
    static const char *const types[] = {"string", "number", "integer", "boolean",
                                        "null",   "object", "array",   "nope"};
    unsigned op = depth >= 3 ? 0 : next(g) % 5;
    if (op == 0) {
        reel_strbuf_printf(&g->out, "{type=\"%s\"}", PICK(g, types));
    } else if (op == 1) {
        reel_strbuf_str(&g->out, "{type=\"object\",properties={a=");
        gen_schema(g, depth + 1);
        reel_strbuf_str(&g->out, ",b=");
        gen_schema(g, depth + 1);
        reel_strbuf_printf(&g->out, "},required={%s}}", next(g) & 1 ? "\"a\"" : "");
    } else if (op == 2) {
        reel_strbuf_str(&g->out, "{type=\"array\",items=");
        gen_schema(g, depth + 1);
        reel_strbuf_printf(&g->out, ",maxItems=%u}", next(g) % 4);
    } else if (op == 3) {
        reel_strbuf_str(&g->out, "{anyOf={");
        gen_schema(g, depth + 1);
        reel_strbuf_str(&g->out, ",");
        gen_schema(g, depth + 1);
        reel_strbuf_str(&g->out, "}}");
    } else { /* a $ref to a definition that does not refer back (cycles are the validator's) */
        reel_strbuf_str(&g->out, "{[\"$ref\"]=\"#/$defs/leaf\",[\"$defs\"]={leaf=");
        gen_schema(g, 3);
        reel_strbuf_str(&g->out, "}}");
    }
}

static void gen_node_ref(gen *g)
{
    reel_strbuf_printf(&g->out, "nodes[%u]", next(g) % 8 + 1);
}

static void gen_statement(gen *g)
{
    static const char *const paths[] = {"a/x.json",   "a",           "..",       ".",
                                        "link/x",     "link",        "inlink/x", "a/../a/y",
                                        "../escape",  "/etc/passwd", "dangling", "a//./z",
                                        "nolink/q/r", "x.json",      "",         "a/"};
    static const char *const modes[] = {"r", "w", "a", "r+", "w+", "rb", "x", "a+b"};
    static const char *const plugins[] = {"card", "tone", "missing", "exec", "comfyui"};
    static const char *const renders[] = {"film.mp4",   ".",        "..",       "a",
                                          "link/f.mp4", "dangling", "a/f.webm", "/tmp/f.mp4"};
    reel_strbuf_str(&g->out, "pcall(function() ");
    switch (next(g) % 12) {
    case 0: /* deep or cyclic tables */
        reel_strbuf_printf(&g->out, "local t = 1 for i = 1, %u do t = {%s} end ", next(g) + 100,
                           next(g) & 1 ? "t" : "k = t");
        if (next(g) & 1) reel_strbuf_str(&g->out, "t[2] = t ");
        reel_strbuf_str(&g->out, "deep = t reel.json.encode(t) ");
        break;
    case 1:
        reel_strbuf_str(&g->out, "reel.json.encode(");
        gen_value(g, 0);
        reel_strbuf_str(&g->out, ") ");
        break;
    case 2: {
        unsigned d = next(g) % 4;
        reel_strbuf_printf(&g->out, "local s = string.rep('[', %u) .. ", d ? 50 * d * d : 1);
        gen_string(g);
        reel_strbuf_printf(&g->out, " .. string.rep(']', %u) reel.json.decode(s) ",
                           d ? 50 * d * d : 1);
        break;
    }
    case 3:
    case 4:
        reel_strbuf_printf(&g->out, "nodes[#nodes + 1] = reel.%s{plugin = \"%s\", p = ",
                           next(g) & 1 ? "video" : "audio", PICK(g, plugins));
        gen_value(g, 0);
        reel_strbuf_str(&g->out, "} ");
        break;
    case 5:
        reel_strbuf_printf(&g->out, "nodes[#nodes + 1] = reel.%s{", next(g) & 1 ? "concat" : "mix");
        for (unsigned i = next(g) % 3; i < 3; i++) {
            gen_node_ref(g);
            reel_strbuf_str(&g->out, ", ");
        }
        reel_strbuf_str(&g->out, "gains = ");
        gen_value(g, 2);
        reel_strbuf_str(&g->out, "} ");
        break;
    case 6:
        reel_strbuf_str(&g->out, "reel.validate(");
        gen_value(g, 0);
        reel_strbuf_str(&g->out, ", ");
        gen_schema(g, 0);
        reel_strbuf_str(&g->out, ") ");
        break;
    case 7:
        reel_strbuf_printf(&g->out,
                           "local f = io.open(\"%s\", \"%s\") if f then f:write(\"{}\") "
                           "f:close() end ",
                           PICK(g, paths), PICK(g, modes));
        break;
    case 8:
        reel_strbuf_printf(&g->out, "reel.read_json(\"%s\") ", PICK(g, paths));
        break;
    case 9:
        reel_strbuf_str(&g->out, "reel.render(");
        gen_node_ref(g);
        reel_strbuf_printf(&g->out, ", \"%s\", {fps = %u}) ", PICK(g, renders), next(g) % 300);
        break;
    case 10:
        gen_node_ref(g);
        reel_strbuf_str(&g->out, ":with_audio(");
        gen_node_ref(g);
        reel_strbuf_str(&g->out, ") ");
        break;
    default:
        reel_strbuf_printf(&g->out, "for _ in io.lines(\"%s\") do end ", PICK(g, paths));
        break;
    }
    reel_strbuf_str(&g->out, "end)\n");
}

/* The stage runner: a few bytes per stage, and no stage for the plugin "missing". */
static int fz_run(const reel_stage_io *io)
{
    return reel_file_write_atomic(io->out_path, "x", 1);
}

static const char *fz_ext(const char *kind, const json_t *params)
{
    (void)kind;
    (void)params;
    return ".txt";
}

static const char *fz_version(const char *kind, const json_t *params)
{
    (void)kind;
    const char *plugin = reel_json_str(params, "plugin", NULL);
    if (plugin && strcmp(plugin, "missing") == 0) {
        reel_set_error(REEL_ENOTFOUND, "no such plugin");
        return NULL;
    }
    return "1";
}

static const reel_stage_runner fz_runner = {fz_run, fz_ext, fz_version, NULL};

static char *top, *script_dir, *out_dir, *script_path;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    nftw(top, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup_once(void)
{
    char tmpl[] = "/tmp/reel-fuzz-lua-XXXXXX";
    top = reel_xstrdup(mkdtemp(tmpl));
    script_dir = reel_xasprintf("%s/s", top);
    out_dir = reel_xasprintf("%s/out", top);
    script_path = reel_xasprintf("%s/fuzz.lua", script_dir);
    atexit(cleanup);
    mkdir(script_dir, 0755);
    char *p = reel_xasprintf("%s/a", script_dir);
    mkdir(p, 0755);
    free(p);
    /* links that leave the script's folder, stay inside it, or point nowhere outside */
    p = reel_xasprintf("%s/link", script_dir);
    if (symlink(top, p) != 0) abort();
    free(p);
    p = reel_xasprintf("%s/inlink", script_dir);
    if (symlink("a", p) != 0) abort();
    free(p);
    p = reel_xasprintf("%s/dangling", script_dir);
    char *target = reel_xasprintf("%s/escaped", top);
    if (symlink(target, p) != 0) abort();
    free(target);
    free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!top) setup_once();
    gen g = {data, size, {0}};
    reel_strbuf_str(&g.out, "local nodes, c, deep = {}, {}, {} c[1] = c\n"
                            "nodes[1] = reel.video{plugin = 'card'}\n"
                            "nodes[2] = reel.audio{plugin = 'tone'}\n");
    for (int i = 0; i < 64 && g.n; i++) gen_statement(&g);
    if (reel_file_write_atomic(script_path, g.out.p, g.out.n) < 0) abort();
    free(g.out.p);

    /* the script runs from its own folder, so relative paths start there */
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd) || chdir(script_dir) != 0) abort();
    reel_pipeline_params p = reel_pipeline_default_params();
    p.script = script_path;
    p.out_dir = out_dir;
    p.progress = 0;
    p.jobs = 1;
    p.max_attempts = 1;
    p.max_lua_mem = (size_t)64 << 20;
    p.runner = &fz_runner;
    reel_pipeline_reset_cancel();
    reel_pipeline_run(&p);
    reel_clear_error();
    if (chdir(cwd) != 0) abort();

    /* nothing may appear outside the two folders the script was given */
    DIR *d = opendir(top);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            strcmp(e->d_name, "s") == 0 || strcmp(e->d_name, "out") == 0)
            continue;
        fprintf(stderr, "a script created %s/%s, outside its folders\n", top, e->d_name);
        abort();
    }
    if (d) closedir(d);
    nftw(out_dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
