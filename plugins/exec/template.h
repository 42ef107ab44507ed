/* The exec plugin's argv template expansion, shared with its fuzz target. */
#ifndef REEL_PLUGIN_EXEC_TEMPLATE_H
#define REEL_PLUGIN_EXEC_TEMPLATE_H

#include <stddef.h>

/* Longest expanded argument, in bytes. */
#define EXEC_TEMPLATE_MAX (1u << 20)

/* Expands "{name}" placeholders in tmpl with the value of the same name ("{{" and "}}" give a
 * literal brace). An unknown name, an unclosed "{", a lone "}" or an expansion longer than
 * EXEC_TEMPLATE_MAX is an error: returns NULL with a message in err. The result is malloc'ed. */
char *exec_template_expand(const char *tmpl, const char *const *names, const char *const *values,
                           size_t n, char *err, size_t err_size);

#endif
