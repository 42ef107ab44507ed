/* Private to llm/gguf-*.c: the limits the GGUF reader enforces and the writer respects. */
#ifndef REEL_LLM_GGUF_IMPL_H
#define REEL_LLM_GGUF_IMPL_H

#define MAX_NEST     8 /* arrays of arrays, deeper than any real file */
#define MAX_KEY_LEN  65535
#define MAX_NAME_LEN 1024

#endif
