#!/usr/bin/env python3
"""llama.cpp's side of scripts/bench/bench_4b.py: one process that does for llama-cpp-python
what one `reel bench --json` does for reel, so that both engines are measured the same way.

    python scripts/bench/llama_run.py -m MODEL -p 0 -n 128 -d 512 -t 2

Loads the model, then for each test (ppP: one prompt of P tokens; tgN: N single-token steps)
runs, from a reset context, an untimed prefill of D tokens (-d) and the test: first once untimed
(the warm-up, as reel bench's; --no-warmup skips it), then timed. The token ids are reel
bench's (the same xorshift sequence modulo the vocabulary). Prints one JSON object shaped like
reel bench's: the llama.cpp build (version, llama_print_system_info()), batch sizes, and
"results" with test, n_tokens, depth, tps. --rss C instead evaluates one C-token prompt and
prints the peak resident bytes.
"""
import argparse, json, resource, sys, time


def reel_ids(count, vocab):
    """reel bench's fixed pseudo-random ids (xorshift64, the same seed)"""
    x, m, out = 0x9E3779B97F4A7C15, (1 << 64) - 1, []
    for _ in range(count):
        x ^= (x << 13) & m
        x ^= x >> 7
        x ^= (x << 17) & m
        out.append(x % vocab)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-d", type=int, default=0)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-b", "--batch", type=int, default=512, help="n_batch and n_ubatch")
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--rss", type=int, default=0)
    a = ap.parse_args()
    import llama_cpp
    info = llama_cpp.llama_print_system_info()
    info = info.decode() if isinstance(info, bytes) else str(info)
    n_ctx = (a.rss or a.d + max(a.p, a.n)) + 8
    llm = llama_cpp.Llama(model_path=a.model, n_threads=a.threads, n_threads_batch=a.threads,
                          n_ctx=n_ctx, n_batch=a.batch, n_ubatch=a.batch, verbose=False)
    ids = reel_ids(n_ctx, llm.n_vocab())
    if a.rss:
        llm.eval(ids[:a.rss])
        print(json.dumps({"peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
        return 0

    def once(n, single):
        llm.reset()
        if a.d:
            llm.eval(ids[:a.d])
        t = ids[a.d:a.d + n]
        t0 = time.perf_counter()
        if single:
            for tok in t:
                llm.eval([tok])
        else:
            llm.eval(t)
        return n / (time.perf_counter() - t0)

    results = []
    for tag, n, single in (("pp", a.p, False), ("tg", a.n, True)):
        if not n:
            continue
        if not a.no_warmup:
            once(n, single)
        tps = once(n, single)
        name = f"{tag}{n}" + (f" @ d{a.d}" if a.d else "")
        results.append({"test": name, "n_tokens": n, "depth": a.d, "tps": tps,
                        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024})
    print(json.dumps({"engine": "llama.cpp", "version": llama_cpp.__version__, "system_info": info.strip(),
                      "model": a.model, "threads": a.threads, "batch": a.batch, "ubatch": a.batch,
                      "depth": a.d, "warmup": not a.no_warmup, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
