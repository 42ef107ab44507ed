#!/usr/bin/env python3
"""Developer benchmark (not a test): reel vs llama.cpp on a random-weight model with the real
Nemotron-3-Nano-4B shape (spec §1.2), plus the DRAM read bandwidth bound for decode.

    python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install gguf numpy llama-cpp-python
    /tmp/bench-venv/bin/python scripts/bench/bench_4b.py --reel build/bin/reel --types q4_0 q8_0

Writes OUTDIR/nano4b-random-<type>.gguf directly in GGUF with llama.cpp's tensor names (random
blocks with sane scales, so timings are real but the text is noise), runs
`reel bench -p 512 -n 128 -t T` and the same prompt/decode lengths through llama-cpp-python
on the same file, measures DRAM read bandwidth with a small C read loop (T threads), and prints
a table with reel/llama.cpp ratios and decode as a share of the bandwidth bound
(bound = bandwidth / bytes of weights read per token).
"""
import argparse, os, re, subprocess, sys, tempfile, time

import numpy as np

H, L, NH, P, G, N, K, NA, NKV, HD, F, V = 3136, 42, 96, 80, 8, 128, 4, 40, 8, 128, 12544, 131072
PATTERN = "M-M-M-MM-M-M*-M-M*-M-M-M*-M-M-MM*-MMM-M-M-"
DI = NH * P
DC = DI + 2 * G * N
QT = {"q8_0": (8, 34), "q4_0": (2, 18)}  # ggml type id, block bytes


def qmatrix(rng, n_in, n_out, typ):
    tid, bb = QT[typ]
    nb = n_in // 32
    raw = rng.integers(0, 256, size=(n_out, nb, bb), dtype=np.uint8)
    # scale so that a row . (unit-rms x) has unit rms: q std 74 (q8_0) or 4.6 (q4_0)
    d = 1.0 / ((74.0 if typ == "q8_0" else 4.6) * np.sqrt(n_in))
    raw[:, :, 0:2] = np.frombuffer(np.float16(d).tobytes(), dtype=np.uint8)
    return raw.reshape(n_out, nb * bb)


def write_model(path, typ, seed=1):
    import gguf
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(path, "nemotron_h")
    a = "nemotron_h"
    w.add_uint32(f"{a}.block_count", L)
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
    w.add_uint32("general.file_type", 7 if typ == "q8_0" else 2)
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
    T = gguf.GGMLQuantizationType.Q8_0 if typ == "q8_0" else gguf.GGMLQuantizationType.Q4_0
    f32 = lambda shape, v=None: (np.full(shape, v, np.float32) if v is not None
                                 else (rng.standard_normal(shape) * 0.1).astype(np.float32))
    w.add_tensor("token_embd.weight", qmatrix(rng, H, V, typ), raw_dtype=T)
    w.add_tensor("output_norm.weight", f32((H,), 1.0))
    w.add_tensor("output.weight", qmatrix(rng, H, V, typ), raw_dtype=T)
    for i, c in enumerate(PATTERN):
        b = f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", f32((H,), 1.0))
        if c == "M":
            w.add_tensor(b + "ssm_in.weight", qmatrix(rng, H, 2 * DI + 2 * G * N + NH, typ), raw_dtype=T)
            w.add_tensor(b + "ssm_conv1d.weight", f32((DC, K)))
            w.add_tensor(b + "ssm_conv1d.bias", f32((DC,)))
            w.add_tensor(b + "ssm_dt.bias", f32((NH,), 0.0))
            w.add_tensor(b + "ssm_a", -np.exp(rng.uniform(0, 2, (NH, 1))).astype(np.float32))
            w.add_tensor(b + "ssm_d", f32((NH, 1), 1.0))
            w.add_tensor(b + "ssm_norm.weight", f32((G, DI // G), 1.0))
            w.add_tensor(b + "ssm_out.weight", qmatrix(rng, DI, H, typ), raw_dtype=T)
        elif c == "*":
            w.add_tensor(b + "attn_q.weight", qmatrix(rng, H, NA * HD, typ), raw_dtype=T)
            w.add_tensor(b + "attn_k.weight", qmatrix(rng, H, NKV * HD, typ), raw_dtype=T)
            w.add_tensor(b + "attn_v.weight", qmatrix(rng, H, NKV * HD, typ), raw_dtype=T)
            w.add_tensor(b + "attn_output.weight", qmatrix(rng, NA * HD, H, typ), raw_dtype=T)
        else:
            w.add_tensor(b + "ffn_up.weight", qmatrix(rng, H, F, typ), raw_dtype=T)
            w.add_tensor(b + "ffn_down.weight", qmatrix(rng, F, H, typ), raw_dtype=T)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def weight_bytes_per_token(typ):
    """bytes of matrices read per decoded token (token_embd reads one row only)"""
    bb = QT[typ][1] / 32
    m = (2 * DI + 2 * G * N + NH) * H + DI * H
    a = (NA * HD + 2 * NKV * HD) * H + NA * HD * H
    f = 2 * F * H
    n = sum(m if c == "M" else a if c == "*" else f for c in PATTERN) + V * H
    return n * bb


BW_C = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <immintrin.h>
static size_t n; static char *buf; static int nt;
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
__attribute__((target("avx2"))) static void *rd(void *a){ long i=(long)a; size_t b=n/nt*i,e=n/nt*(i+1);
  __m256i s0=_mm256_setzero_si256(),s1=s0; for(size_t k=b;k<e;k+=64){ s0=_mm256_xor_si256(s0,_mm256_load_si256((__m256i*)(buf+k)));
  s1=_mm256_xor_si256(s1,_mm256_load_si256((__m256i*)(buf+k+32)));} static volatile long sink; sink=_mm256_extract_epi64(_mm256_xor_si256(s0,s1),0); return 0;}
int main(int c,char**v){ nt=atoi(v[1]); n=(size_t)1<<31; buf=aligned_alloc(64,n); memset(buf,1,n);
 double best=0; for(int r=0;r<5;r++){ pthread_t th[64]; double t0=now(); for(long i=0;i<nt;i++) pthread_create(&th[i],0,rd,(void*)i);
 for(int i=0;i<nt;i++) pthread_join(th[i],0); double g=n/(now()-t0)/1e9; if(g>best)best=g;} printf("%.2f\n",best); return 0;}
"""


def bandwidth(threads):
    d = tempfile.mkdtemp()
    src, exe = os.path.join(d, "bw.c"), os.path.join(d, "bw")
    open(src, "w").write(BW_C)
    subprocess.run(["cc", "-O2", "-pthread", "-o", exe, src], check=True)
    return float(subprocess.run([exe, str(threads)], capture_output=True, text=True, check=True).stdout)


def reel_bench(reel, path, threads, pp, tg, reps):
    out = subprocess.run([reel, "bench", "-m", path, "-p", str(pp), "-n", str(tg), "-t", str(threads),
                          "-r", str(reps)], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr)
    r = {}
    for line in out.stdout.splitlines():
        m = re.search(r"\| (pp|tg)(\d+) \| ([\d.]+) ±", line)
        if m:
            r[m.group(1)] = float(m.group(3))
    return r, out.stdout


def llama_bench(path, threads, pp, tg, reps):
    try:
        import llama_cpp
    except ImportError as e:
        return None, f"llama-cpp-python not importable: {e}"
    try:
        llm = llama_cpp.Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=pp + tg + 8,
                              n_batch=pp, n_ubatch=pp, verbose=False)
    except Exception as e:  # noqa: BLE001 - report whatever llama.cpp says
        return None, f"llama.cpp cannot load the file: {e}"
    toks = [300 + (i * 7919) % 100000 for i in range(pp + tg)]
    res = {"pp": [], "tg": []}
    for r in range(reps + 1):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(toks[:pp])
        t1 = time.perf_counter()
        for i in range(tg):
            llm.eval([toks[pp + i]])
        t2 = time.perf_counter()
        if r:  # first run is the warm-up
            res["pp"].append(pp / (t1 - t0))
            res["tg"].append(tg / (t2 - t1))
    return {k: float(np.mean(v)) for k, v in res.items()}, f"llama-cpp-python {llama_cpp.__version__}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reel", default="build/bin/reel")
    ap.add_argument("--out", default="/tmp/reel-bench")
    ap.add_argument("--types", nargs="+", default=["q4_0", "q8_0"], choices=list(QT))
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=1)
    ap.add_argument("--no-llama", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    bw = bandwidth(a.threads)
    print(f"CPU: {cpu}; {a.threads} threads; DRAM read bandwidth {bw:.1f} GB/s", flush=True)
    rows = []
    for typ in a.types:
        path = os.path.join(a.out, f"nano4b-random-{typ}.gguf")
        if not os.path.exists(path):
            t0 = time.time()
            write_model(path, typ)
            print(f"wrote {path} ({os.path.getsize(path) / 1e9:.2f} GB) in {time.time() - t0:.0f} s", flush=True)
        r, table = reel_bench(a.reel, path, a.threads, a.p, a.n, a.r)
        print(table, flush=True)
        l, note = (None, "skipped") if a.no_llama else llama_bench(path, a.threads, a.p, a.n, a.r)
        print(f"llama.cpp: {note}: {l}", flush=True)
        bound = bw * 1e9 / weight_bytes_per_token(typ)
        rows.append((typ, r, l, bound))
    print(f"\n| type | reel pp{a.p} | llama.cpp pp{a.p} | ratio | reel tg{a.n} | llama.cpp tg{a.n} | ratio "
          f"| DRAM bound t/s | reel tg / bound |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for typ, r, l, bound in rows:
        lp = f"{l['pp']:.2f}" if l else "n/a"
        lt = f"{l['tg']:.2f}" if l else "n/a"
        rp = f"{r['pp'] / l['pp']:.2f}x" if l else "n/a"
        rt = f"{r['tg'] / l['tg']:.2f}x" if l else "n/a"
        print(f"| {typ} | {r['pp']:.2f} | {lp} | {rp} | {r['tg']:.2f} | {lt} | {rt} | {bound:.2f} "
              f"| {100 * r['tg'] / bound:.0f}% |")


if __name__ == "__main__":
    sys.exit(main())
