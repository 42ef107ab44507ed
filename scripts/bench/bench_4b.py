#!/usr/bin/env python3
"""Developer benchmark (not a test): reel vs llama.cpp on a random-weight model with the real
Nemotron-3-Nano-4B shape (docs/model.md §1.2), plus the DRAM read bandwidth bound for decode.

    python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install gguf numpy llama-cpp-python
    /tmp/bench-venv/bin/python scripts/bench/bench_4b.py --reel build/bin/reel --types q4_0 q8_0
    /tmp/bench-venv/bin/python scripts/bench/bench_4b.py --types q4_0 --rss-ctx 8192

Writes OUTDIR/nano4b-random-<type>.gguf with llama.cpp's tensor names: F16, Q8_0 and Q4_0
directly (random values / random blocks with sane scales, so timings are real but the text is
noise); every other type (q4_k_m, q5_0, q6_k, ...) by `reel quantize` from the F16 file. Runs
`reel bench -p 512 -n 128 -t T` (then `-p 0 -n 32 --bound`) and the same prompt/decode lengths through
llama-cpp-python on the same file, in alternating rounds (--rounds, default 3; each round first
measures DRAM read bandwidth with a small C read loop on T threads over huge pages, again after
reel's run, and keeps the larger), and prints the medians, the median of the per-round
reel/llama.cpp ratios with their range, and decode as a share of the bandwidth bound: reel's from `--bound` (every
decoded token paired with a read pass over the same weights on the same threads, so that a
shared machine's bandwidth swings cancel; the token's bytes are its weights plus the recurrent
state it reads and writes), llama.cpp's as its decode over the round's read-loop bandwidth and
the weight bytes a token reads (from the file's own tensor sizes).

--rss-ctx C instead fills a C-token context (one C-token prompt) in both engines and reports
each process's peak resident memory.

Whether llama.cpp reads the files reel writes (every type, logits side by side) is
scripts/bench/llama_quant_check.py.
"""
import argparse, json, os, subprocess, sys, tempfile, time

import numpy as np

# the Nemotron-3-Nano-4B shape (docs/model.md §1.2)
SHAPES = {
    "4b": dict(H=3136, NH=96, P=80, G=8, N=128, K=4, NA=40, NKV=8, HD=128, F=12544, V=131072,
               PATTERN="M-M-M-MM-M-M*-M-M*-M-M-M*-M-M-MM*-MMM-M-M-"),
}
QT = {"q8_0": (8, 34), "q4_0": (2, 18)}  # written directly: ggml type id, block bytes
FILE_TYPE = {"f16": 1, "q8_0": 7, "q4_0": 2}


def qmatrix(rng, n_in, n_out, typ):
    """an n_out x n_in weight matrix of typ whose rows dot a unit-rms x to about unit rms"""
    if typ == "f16":
        return (rng.standard_normal((n_out, n_in), dtype=np.float32) / np.sqrt(n_in)).astype(np.float16)
    tid, bb = QT[typ]
    nb = n_in // 32
    raw = rng.integers(0, 256, size=(n_out, nb, bb), dtype=np.uint8)
    # q std 74 (q8_0) or 4.6 (q4_0)
    d = 1.0 / ((74.0 if typ == "q8_0" else 4.6) * np.sqrt(n_in))
    raw[:, :, 0:2] = np.frombuffer(np.float16(d).tobytes(), dtype=np.uint8)
    return raw.reshape(n_out, nb * bb)


def write_model(path, typ, shape="4b", seed=1):
    import gguf
    S = SHAPES[shape]
    H, NH, P, G, N, K = S["H"], S["NH"], S["P"], S["G"], S["N"], S["K"]
    NA, NKV, HD, F, V, PATTERN = S["NA"], S["NKV"], S["HD"], S["F"], S["V"], S["PATTERN"]
    DI = NH * P
    DC = DI + 2 * G * N
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(path, "nemotron_h")
    a = "nemotron_h"
    w.add_uint32(f"{a}.block_count", len(PATTERN))
    w.add_uint32(f"{a}.embedding_length", H)
    w.add_uint32(f"{a}.context_length", 1 << 20)  # u32: llama.cpp rejects u64
    w.add_array(f"{a}.feed_forward_length", [F if c == "-" else 0 for c in PATTERN])
    w.add_uint32(f"{a}.attention.head_count", NA)
    w.add_array(f"{a}.attention.head_count_kv", [NKV if c == "*" else 0 for c in PATTERN])
    w.add_uint32(f"{a}.attention.key_length", HD)
    w.add_uint32(f"{a}.attention.value_length", HD)
    w.add_float32(f"{a}.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_float32(f"{a}.attention.layer_norm_epsilon", 1e-5)  # llama-cpp-python 0.3.36 asks for it
    w.add_uint32(f"{a}.ssm.conv_kernel", K)
    w.add_uint32(f"{a}.ssm.state_size", N)
    w.add_uint32(f"{a}.ssm.group_count", G)
    w.add_uint32(f"{a}.ssm.inner_size", DI)
    w.add_uint32(f"{a}.ssm.time_step_rank", NH)
    w.add_uint32(f"{a}.vocab_size", V)
    w.add_uint32("general.file_type", FILE_TYPE[typ])
    # a byte-level BPE vocabulary of V tokens (the byte alphabet first, as gpt2 needs)
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b), cs.append(256 + n)
            n += 1
    toks = [chr(c) for c in cs] + ["Ġt"] + [f"<r{i}>" for i in range(V - 257)]
    w.add_string("tokenizer.ggml.model", "gpt2")
    w.add_string("tokenizer.ggml.pre", "default")
    w.add_array("tokenizer.ggml.tokens", toks)
    w.add_array("tokenizer.ggml.token_type", [1] * V)
    w.add_array("tokenizer.ggml.merges", ["Ġ t"])
    w.add_uint32("tokenizer.ggml.bos_token_id", 1)
    w.add_uint32("tokenizer.ggml.eos_token_id", 2)
    T = {"q8_0": gguf.GGMLQuantizationType.Q8_0, "q4_0": gguf.GGMLQuantizationType.Q4_0}.get(typ)
    f32 = lambda shape, v=None: (np.full(shape, v, np.float32) if v is not None
                                 else (rng.standard_normal(shape) * 0.1).astype(np.float32))
    mat = lambda n_in, n_out: (dict(tensor=qmatrix(rng, n_in, n_out, typ), raw_dtype=T) if T
                               else dict(tensor=qmatrix(rng, n_in, n_out, typ)))
    add = lambda name, spec: w.add_tensor(name, spec.pop("tensor"), **spec)
    add("token_embd.weight", mat(H, V))
    w.add_tensor("output_norm.weight", f32((H,), 1.0))
    add("output.weight", mat(H, V))
    for i, c in enumerate(PATTERN):
        b = f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", f32((H,), 1.0))
        if c == "M":
            add(b + "ssm_in.weight", mat(H, 2 * DI + 2 * G * N + NH))
            w.add_tensor(b + "ssm_conv1d.weight", f32((DC, K)))
            w.add_tensor(b + "ssm_conv1d.bias", f32((DC,)))
            w.add_tensor(b + "ssm_dt.bias", f32((NH,), 0.0))
            w.add_tensor(b + "ssm_a", -np.exp(rng.uniform(0, 2, (NH, 1))).astype(np.float32))
            w.add_tensor(b + "ssm_d", f32((NH, 1), 1.0))
            w.add_tensor(b + "ssm_norm.weight", f32((G, DI // G), 1.0))
            add(b + "ssm_out.weight", mat(DI, H))
        elif c == "*":
            add(b + "attn_q.weight", mat(H, NA * HD))
            add(b + "attn_k.weight", mat(H, NKV * HD))
            add(b + "attn_v.weight", mat(H, NKV * HD))
            add(b + "attn_output.weight", mat(NA * HD, H))
        else:
            add(b + "ffn_up.weight", mat(H, F))
            add(b + "ffn_down.weight", mat(F, H))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def model_file(reel, out, typ, shape="4b"):
    """path of the random model of typ, written if missing: f16, q8_0 and q4_0 directly, any
    other type by `reel quantize` from the F16 file"""
    direct = typ == "f16" or typ in QT
    path = os.path.join(out, f"nano{shape}-random-{typ}.gguf")
    if os.path.exists(path):
        return path
    t0 = time.time()
    if direct:
        write_model(path, typ, shape)
    else:
        src = model_file(reel, out, "f16", shape)
        subprocess.run([reel, "quantize", "-q", src, path, typ], check=True, stdout=subprocess.DEVNULL)
    print(f"wrote {path} ({os.path.getsize(path) / 1e9:.2f} GB) in {time.time() - t0:.0f} s", flush=True)
    return path


def weight_bytes_per_token(path):
    """bytes of matrices read per decoded token: every 2-D tensor, token_embd only one row"""
    import gguf
    r = gguf.GGUFReader(path)
    n = 0
    for t in r.tensors:
        if len(t.shape) < 2:
            continue
        n += int(t.n_bytes) // int(t.shape[1]) if t.name == "token_embd.weight" else int(t.n_bytes)
    return n


BW_C = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <immintrin.h>
static size_t n; static char *buf; static int nt;
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
__attribute__((target("avx2"))) static void *rd(void *a){ long i=(long)a; size_t b=n/nt*i,e=n/nt*(i+1);
  __m256i s0=_mm256_setzero_si256(),s1=s0; for(size_t k=b;k<e;k+=64){ s0=_mm256_xor_si256(s0,_mm256_load_si256((__m256i*)(buf+k)));
  s1=_mm256_xor_si256(s1,_mm256_load_si256((__m256i*)(buf+k+32)));} static volatile long sink; sink=_mm256_extract_epi64(_mm256_xor_si256(s0,s1),0); return 0;}
int main(int c,char**v){ nt=atoi(v[1]); n=(size_t)1<<31;
 /* huge pages where the kernel gives them: the read loop should not lose to page walks */
 buf=mmap(0,n,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0); madvise(buf,n,MADV_HUGEPAGE); memset(buf,1,n);
 double best=0; for(int r=0;r<5;r++){ pthread_t th[64]; double t0=now(); for(long i=0;i<nt;i++) pthread_create(&th[i],0,rd,(void*)i);
 for(int i=0;i<nt;i++) pthread_join(th[i],0); double g=n/(now()-t0)/1e9; if(g>best)best=g;} printf("%.2f\n",best); return 0;}
"""


def bandwidth(threads):
    d = tempfile.mkdtemp()
    src, exe = os.path.join(d, "bw.c"), os.path.join(d, "bw")
    open(src, "w").write(BW_C)
    subprocess.run(["cc", "-O2", "-pthread", "-o", exe, src], check=True)
    return float(subprocess.run([exe, str(threads)], capture_output=True, text=True, check=True).stdout)


def reel_bench(reel, path, threads, pp, tg, reps, *extra):
    """reel bench --json: {"pp", "tg", "rss", and with --bound "share" / "share_w" (decode as a share
    of the read rate of the same bytes, paired token by token; weights + state / weights only)}"""
    out = subprocess.run([reel, "bench", "-m", path, "-p", str(pp), "-n", str(tg), "-t", str(threads),
                          "-r", str(reps), "--json", *extra], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr)
    r = {}
    for res in json.loads(out.stdout)["results"]:
        kind = res["test"][:2]
        r[kind] = res["tps"]
        r["rss"] = res["peak_rss_bytes"]
        if "bound" in res:
            r["share"], r["share_w"] = res["bound"]["share"], res["bound"]["share_weights"]
    return r, out.stdout


class Llama:
    """llama-cpp-python on one file, loaded once; run() times one prompt and one decode"""

    def __init__(self, path, threads, pp, tg):
        import llama_cpp
        self.version = llama_cpp.__version__
        self.pp, self.tg = pp, tg
        self.llm = llama_cpp.Llama(model_path=path, n_threads=threads, n_threads_batch=threads,
                                   n_ctx=pp + tg + 8, n_batch=max(pp, 1), n_ubatch=max(pp, 1),
                                   verbose=False)
        self.toks = [300 + (i * 7919) % 100000 for i in range(pp + tg)]
        self.run()  # warm-up, as reel bench does

    def run(self):
        self.llm.reset()
        t0 = time.perf_counter()
        if self.pp:
            self.llm.eval(self.toks[:self.pp])
        t1 = time.perf_counter()
        for i in range(self.tg):
            self.llm.eval([self.toks[self.pp + i]])
        t2 = time.perf_counter()
        return {"pp": self.pp / (t1 - t0) if self.pp else 0.0, "tg": self.tg / (t2 - t1) if self.tg else 0.0}


def llama_open(path, threads, pp, tg):
    """(Llama, note) or (None, why not)"""
    try:
        import llama_cpp  # noqa: F401
    except ImportError as e:
        return None, f"llama-cpp-python not importable: {e}"
    try:
        l = Llama(path, threads, pp, tg)
    except Exception as e:  # noqa: BLE001 - report whatever llama.cpp says
        return None, f"llama.cpp cannot load the file: {e}"
    return l, f"llama-cpp-python {l.version}"


LLAMA_RSS = """
import resource, sys, llama_cpp
path, threads, ctx = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
llm = llama_cpp.Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=ctx + 8,
                      n_batch=512, n_ubatch=512, verbose=False)
llm.eval([300 + (i * 7919) % 100000 for i in range(ctx)])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def rss(reel, path, threads, ctx):
    """peak resident bytes of reel and of llama.cpp after a ctx-token prompt"""
    r, _ = reel_bench(reel, path, threads, ctx, 0, 1, "--no-warmup")
    out = subprocess.run([sys.executable, "-c", LLAMA_RSS, path, str(threads), str(ctx)],
                         capture_output=True, text=True)
    l = float(out.stdout.split()[-1]) if out.returncode == 0 else None
    return r["rss"], l, r["pp"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reel", default="build/bin/reel")
    ap.add_argument("--out", default="/tmp/reel-bench")
    ap.add_argument("--types", nargs="+", default=["q4_0", "q8_0"],
                    help="f16, q8_0, q4_0 (written directly) or any type reel quantize writes")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=1, help="reel bench repetitions within a round")
    ap.add_argument("--rounds", type=int, default=3, help="alternating reel / llama.cpp rounds a type")
    ap.add_argument("--no-llama", action="store_true")
    ap.add_argument("--rss-ctx", type=int, default=0, help="report peak memory at this context instead")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    if a.rss_ctx:
        print(f"CPU: {cpu}; {a.threads} threads; peak RSS after a {a.rss_ctx}-token prompt\n")
        print("| type | file | reel | llama.cpp | reel / llama.cpp |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for typ in a.types:
            path = model_file(a.reel, a.out, typ)
            r, l, _ = rss(a.reel, path, a.threads, a.rss_ctx)
            g = lambda v: f"{v / 1e9:.2f} GB" if v else "n/a"
            print(f"| {typ} | {g(os.path.getsize(path))} | {g(r)} | {g(l)} | "
                  f"{f'{r / l:.2f}x' if l else 'n/a'} |", flush=True)
        return 0
    print(f"CPU: {cpu}; {a.threads} threads; {a.rounds} rounds a type, each: DRAM read bandwidth, "
          f"reel, llama.cpp (the machine is shared: rounds alternate the engines so that both see "
          f"the same conditions; medians below)", flush=True)
    rows = []
    med = lambda v: float(np.median(v)) if v else float("nan")
    for typ in a.types:
        path = model_file(a.reel, a.out, typ)
        wb = weight_bytes_per_token(path)
        l, note = (None, "skipped") if a.no_llama else llama_open(path, a.threads, a.p, a.n)
        print(f"{typ}: llama.cpp: {note}", flush=True)
        res = {"bw": [], "rpp": [], "rtg": [], "lpp": [], "ltg": [], "share": [], "share_w": [], "lshare": []}
        for k in range(a.rounds):
            bw = bandwidth(a.threads)
            r, _ = reel_bench(a.reel, path, a.threads, a.p, a.n, a.r)
            if a.n:  # the bound in a run of its own: its tokens alternate with read passes
                b, _ = reel_bench(a.reel, path, a.threads, 0, min(a.n, 32), 1, "--bound")
                r["share"], r["share_w"] = b["share"], b["share_w"]
            bw = max(bw, bandwidth(a.threads))  # before and after reel's run: the larger
            res["bw"].append(bw)
            res["rpp"].append(r.get("pp", 0.0))
            res["rtg"].append(r.get("tg", 0.0))
            res["share"].append(r.get("share", 0.0))
            res["share_w"].append(r.get("share_w", 0.0))
            res["lshare"].append(0.0)
            line = f"  round {k + 1}: {bw:.1f} GB/s; reel pp {res['rpp'][-1]:.2f} tg {res['rtg'][-1]:.2f}"
            if l:
                lr = l.run()
                res["lpp"].append(lr["pp"])
                res["ltg"].append(lr["tg"])
                res["lshare"][-1] = lr["tg"] / (bw * 1e9 / wb)
                line += f"; llama.cpp pp {lr['pp']:.2f} tg {lr['tg']:.2f}"
            print(line, flush=True)
        del l
        rows.append((typ, res))
    print(f"\n| type | reel pp{a.p} | llama.cpp pp{a.p} | ratio | reel tg{a.n} | llama.cpp tg{a.n} | ratio "
          f"| reel tg / bound (weights only) | DRAM GB/s | llama.cpp tg / DRAM bound |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    pct = lambda v: f"{100 * med(v):.0f}% ({100 * min(v):.0f}-{100 * max(v):.0f}%)" if v else "n/a"
    for typ, res in rows:
        have = bool(res["lpp"])
        f = lambda v: f"{med(v):.2f}" if v else "n/a"
        # each round's reel and llama.cpp runs follow each other: the ratio is taken per round
        rng = lambda num, den: (f"{med([x / y for x, y in zip(num, den)]):.2f}x ({min(x / y for x, y in zip(num, den)):.2f}-"
                                f"{max(x / y for x, y in zip(num, den)):.2f})") if have else "n/a"
        print(f"| {typ} | {f(res['rpp'])} | {f(res['lpp'])} | {rng(res['rpp'], res['lpp'])} | {f(res['rtg'])} "
              f"| {f(res['ltg'])} | {rng(res['rtg'], res['ltg'])} | {pct(res['share'])} "
              f"({100 * med(res['share_w']):.0f}%) | {med(res['bw']):.1f} "
              f"| {pct(res['lshare']) if have else 'n/a'} |")
    print("\nmedians over the rounds; ratio = median of the per-round ratios (their range): a round's two runs follow each other, so they share the machine's state. reel's bound is "
          "a separate `reel bench -p 0 -n 32 --bound`: every decoded token paired with a read pass over the same weights on the same "
          "threads, the token's bytes (weights + recurrent state read and written) over the pass's rate, median "
          "of the pairs (weights only in brackets). llama.cpp's: its decode over the round's DRAM read rate "
          "(the C read loop before and after reel's run, the larger) and the weight bytes a token reads.")
    return 0

if __name__ == "__main__":
    sys.exit(main())
