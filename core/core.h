/* reel core: everything the other modules stand on. Include this, or the one header you need.
 *
 *   core/error.h     error codes, reel_strerror(), per-thread reel_last_error()
 *   core/log.h       leveled logging (REEL_LOG=debug|info|warn|error)
 *   core/alloc.h     allocation helpers, scratch arena
 *   core/pool.h      persistent thread pool with parallel-for
 *   core/file.h      mmap, whole-file reads, atomic writes, mkdir -p
 *   core/grant.h     capabilities the user grants a run (programs, hosts)
 *   core/hash.h      SHA-256 (OpenSSL), hex
 *   core/json.h      jansson helpers, canonical JSON for hashing
 *   core/proc.h      child process groups killed on exit, temporary folders swept
 *   core/progress.h  progress display (bar, rate, ETA)
 *   core/http.h      libcurl: downloads with resume, JSON POST, retries
 *   core/store.h     the local model store: references OWNER/REPO[:QUANT], resolving, listing
 *   core/hub.h       the Hugging Face hub client behind `reel pull`
 */
#ifndef REEL_CORE_H
#define REEL_CORE_H
#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "core/grant.h"
#include "core/hash.h"
#include "core/http.h"
#include "core/hub.h"
#include "core/json.h"
#include "core/log.h"
#include "core/pool.h"
#include "core/proc.h"
#include "core/progress.h"
#include "core/store.h"
#endif
