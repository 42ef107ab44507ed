/* reel core: capabilities the user grants a run: programs it may execute ("exec") and hosts it
 * may reach ("net"). The grants are process-wide and are added only by the program embedding
 * reel (the CLI, from its command line); nothing a script or a node's parameters say can add
 * one, and they are not part of any cache key. Without a grant, everything is refused.
 *
 *     reel_grant_add("exec", "ffmpeg");          // bare name: resolved through PATH
 *     reel_grant_add("net", "gpu1:8188");        // host, or host:port
 *     if (!reel_grant_allowed("exec", "/usr/bin/ffmpeg")) ...refuse...
 */
#ifndef REEL_CORE_GRANT_H
#define REEL_CORE_GRANT_H

#ifdef __cplusplus
extern "C" {
#endif

/* Grants capability "exec" (a program: an absolute or relative path, or a bare name found
 * through PATH) or "net" (HOST, HOST:PORT, [IPV6] or [IPV6]:PORT; HOST alone allows every
 * port). Returns 0, or REEL_EINVAL / REEL_ENOTFOUND with a message naming the value. */
int reel_grant_add(const char *capability, const char *value);

/* 1 if value is granted, else 0. "exec": a program path (resolved like a grant and compared
 * with every granted program); "net": HOST:PORT (or [IPV6]:PORT), host names compared
 * case-insensitively and without DNS. Thread-safe; the signature is the plugin ABI's
 * reel_plugin_host.allowed. */
int reel_grant_allowed(const char *capability, const char *value);

/* Forgets every grant (for tests and for programs that run several pipelines). */
void reel_grant_clear(void);

/* The program a command name runs, as an absolute path with its folder made canonical (the
 * file name itself is kept, so a symlink such as sh -> dash stays "sh"): a name with a '/' is
 * taken as a path, a bare name is looked up in PATH. NULL if there is no such executable file.
 * Owned by the caller. */
char *reel_grant_resolve_program(const char *name);

#ifdef __cplusplus
}
#endif

#endif
