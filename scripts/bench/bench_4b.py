#!/usr/bin/env python3
"""Developer benchmark (not a test): reel vs llama.cpp on a random-weight model with the real
Nemotron-3-Nano-4B shape (docs/model.md §1.2), both against one memory-bound yardstick.
docs/performance.md ("Method") says what it measures and why; in short:

    /tmp/bench-venv/bin/python scripts/bench/bench_4b.py --reel build/bin/reel --types q4_0 q8_0 \
        -t 2 -p 512 -n 128 --rounds 10 --raw bench-raw/
    python3 scripts/bench/bench_4b.py --from-raw bench-raw/      # the table again, nothing run

- Models: OUTDIR/nano4b-random-<type>.gguf with llama.cpp's tensor names: F16, Q8_0 and Q4_0
  written directly (random blocks with sane scales: timings are real, text is noise), any other
  type by `reel quantize` from the F16 file; --model FILE measures a given GGUF file instead.
- Tests, the same for both engines, each engine a fresh process a test: ppP (one P-token prompt
  from an empty context) and tgN at depth P (N single-token steps after an untimed P-token
  prompt: `reel bench -p 0 -n N -d P`, and scripts/bench/llama_run.py for llama-cpp-python).
  Both do one untimed warm-up run of each test in the process before the timed one
  (--no-warmup: neither does).
- Rounds alternate the order (A-B, then B-A). Within an engine's turn: pp, then the read loop,
  tg, the read loop again; the read loop (scripts/bench/readloop.c: T threads over huge pages,
  median of its passes) is the yardstick for both engines, taken the same way right around each
  engine's tg.
- Share of the bound = bytes a token moves x tg tokens/s / the mean rate of the two read loops
  around that tg run; the bytes (weights read, recurrent state and KV rows read, state and the
  new KV row written, each once) come from the GGUF file's own tensor sizes and shapes, the same
  for both engines (cross-checked with reel bench's "token_bytes"). A share over 100% is a
  measurement error, printed as such.
- Printed: medians, the median of the per-round ratios reel / llama.cpp with a distribution-free
  95% confidence interval (order statistics; needs >= 6 rounds), the CPU model, reel's backend
  and CPU features, llama.cpp's version and system info, each engine's prompt batch size.
- --raw DIR writes every run's JSON and every read loop to DIR (one file each, plus meta.json);
  --from-raw DIR recomputes the table from those files alone.

--rss-ctx C instead fills a C-token context (one C-token prompt) in both engines and reports
each process's peak resident memory. --no-llama measures reel alone (llama-cpp-python is a
developer tool, imported only by llama_run.py). Whether llama.cpp reads the files reel writes
is scripts/bench/llama_quant_check.py.
"""
import argparse, glob, json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchstats import cpu_model, median, median_ci  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

# the Nemotron-3-Nano-4B shape (docs/model.md §1.2)
SHAPES = {
    "4b": dict(H=3136, NH=96, P=80, G=8, N=128, K=4, NA=40, NKV=8, HD=128, F=12544, V=131072,
               PATTERN="M-M-M-MM-M-M*-M-M*-M-M-M*-M-M-MM*-MMM-M-M-"),
}
QT = {"q8_0": (8, 34), "q4_0": (2, 18)}  # written directly: ggml type id, block bytes
FILE_TYPE = {"f16": 1, "q8_0": 7, "q4_0": 2}


def qmatrix(rng, n_in, n_out, typ):
    """an n_out x n_in weight matrix of typ whose rows dot a unit-rms x to about unit rms"""
    import numpy as np
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
    import numpy as np
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



# ---- bytes a decoded token moves, from the file alone (the same for both engines) -------------

def _field(r, key, default=None):
    f = r.fields.get(key)
    if f is None:
        return default
    vals = [f.parts[i] for i in f.data]
    if f.types and f.types[0].name == "STRING":
        return bytes(vals[0]).decode()
    vals = [v.tolist()[0] if hasattr(v, "tolist") else v for v in vals]
    return vals if len(vals) > 1 or (f.types and f.types[0].name == "ARRAY") else vals[0]


def token_bytes(path):
    """{"weights", "state", "kv_row"}: weight bytes a decoded token reads (every matrix but the
    conv taps and norms, one embedding row, the whole embedding again when the head is tied to
    it, routed experts in the share used/count), the bytes of recurrent state (fp32 Mamba SSM and
    conv states) it reads and again writes, and the bytes of one position's K and V rows (f16)
    over all attention layers. From the GGUF file's tensor sizes and hyper-parameters only."""
    import gguf
    r = gguf.GGUFReader(path)
    a = _field(r, "general.architecture")
    L = int(_field(r, f"{a}.block_count"))
    per_layer = lambda key: (lambda v: [int(x) for x in v] if isinstance(v, list) else [int(v or 0)] * L)(
        _field(r, f"{a}.{key}", 0))
    hkv, ff = per_layer("attention.head_count_kv"), per_layer("feed_forward_length")
    n_attn = sum(1 for h in hkv if h > 0)
    n_mamba = sum(1 for h, f in zip(hkv, ff) if h == 0 and f == 0)
    if "moe" in a:  # MoE layers carry experts, not a feed_forward_length: count them out
        n_mamba = sum(1 for i in range(L) if any(t.name.startswith(f"blk.{i}.ssm_in") for t in r.tensors))
    names = {t.name for t in r.tensors}
    tied = "output.weight" not in names
    E, k = int(_field(r, f"{a}.expert_count", 0) or 0), int(_field(r, f"{a}.expert_used_count", 0) or 0)
    w = 0.0
    for t in r.tensors:
        shape = [int(x) for x in t.shape]
        if len(shape) < 2 or 1 in shape[:2] or "conv1d" in t.name or "ssm_norm" in t.name:
            continue
        nb = float(t.n_bytes)
        if t.name == "token_embd.weight":
            w += nb / shape[1] + (nb if tied else 0)
        elif "_exps" in t.name:
            w += nb * k / E
        else:
            w += nb
    nh = int(_field(r, f"{a}.ssm.time_step_rank"))
    Di, N = int(_field(r, f"{a}.ssm.inner_size")), int(_field(r, f"{a}.ssm.state_size"))
    G, K = int(_field(r, f"{a}.ssm.group_count")), int(_field(r, f"{a}.ssm.conv_kernel"))
    state = 4.0 * n_mamba * (nh * (Di // nh) * N + (Di + 2 * G * N) * (K - 1))
    H, NA = int(_field(r, f"{a}.embedding_length")), int(_field(r, f"{a}.attention.head_count"))
    hd = int(_field(r, f"{a}.attention.key_length", 0) or H // NA)
    nkv = max(hkv) if hkv else 0
    return {"weights": w, "state": state, "kv_row": 2.0 * n_attn * nkv * hd * 2}


def tg_bytes(tb, depth, n):
    """bytes a token of tgN at depth moves, each once, averaged over its positions"""
    return tb["weights"] + (tb["state"] + (depth + (n - 1) / 2) * tb["kv_row"]) + (tb["state"] + tb["kv_row"])


# ---- running things ----------------------------------------------------------------------------

def cpu_flags():
    """the vector instruction sets /proc/cpuinfo lists (what either engine could use)"""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("flags"):
                fl = line.split(":", 1)[1].split()
                return " ".join(f for f in fl if f.startswith(("avx", "fma", "f16c", "amx")))
    except OSError:
        pass
    return "?"


def build_readloop(where):
    exe = os.path.join(where, "readloop")
    subprocess.run(["cc", "-O2", "-mavx2", "-pthread", "-o", exe, os.path.join(HERE, "readloop.c")], check=True)
    return exe


def run_json(cmd):
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()[-600:]}")
    j = json.loads(out.stdout)
    j["_wall_s"] = time.time() - t0
    return j


def engine_cmd(a, engine, path, p, n, d):
    if engine == "reel":
        cmd = [a.reel, "bench", "-m", path, "-p", str(p), "-n", str(n), "-d", str(d), "-t", str(a.threads),
               "-r", "1", "-b", str(a.reel_batch), "--json"]
    else:
        cmd = [a.llama_python, os.path.join(HERE, "llama_run.py"), "-m", path, "-p", str(p), "-n", str(n),
               "-d", str(d), "-t", str(a.threads), "-b", str(a.llama_batch)]
    return cmd + (["--no-warmup"] if a.no_warmup else [])


class Raw:
    """every run's JSON in a file of its own under DIR (or only in memory without --raw)"""

    def __init__(self, d):
        self.dir, self.recs, self.seq = d, [], 0
        if d:
            os.makedirs(d, exist_ok=True)

    def add(self, typ, rnd, engine, what, data, cmd):
        self.seq += 1
        rec = {"type": typ, "round": rnd, "seq": self.seq, "engine": engine, "what": what, "cmd": cmd,
               "finished_at": time.time(), "data": data}
        self.recs.append(rec)
        if self.dir:
            name = f"{typ}-r{rnd:02d}-{self.seq:04d}-{engine}-{what}.json"
            with open(os.path.join(self.dir, name), "w") as f:
                json.dump(rec, f, indent=1)
        return data

    def meta(self, m):
        if self.dir:
            with open(os.path.join(self.dir, "meta.json"), "w") as f:
                json.dump(m, f, indent=1)


def load_raw(d):
    meta = json.load(open(os.path.join(d, "meta.json")))
    recs = [json.load(open(p)) for p in glob.glob(os.path.join(d, "*-r*-*.json"))]
    recs.sort(key=lambda r: r["seq"])
    return meta, recs


# ---- the table -----------------------------------------------------------------------------------

def fmt_ci(xs, f):
    ci = median_ci(xs)
    return f"{f(ci[0])}–{f(ci[1])}" if ci else f"no CI: {len(xs)} rounds < 6"


def fmt_share(xs):
    """median share of the bound with its CI; over 100% it is a measurement error, not a result"""
    if not xs:
        return "n/a"
    m, over = median(xs), sum(1 for x in xs if x > 1)
    if m > 1:
        return f"measurement error (median {100 * m:.0f}% > 100%)"
    ci = median_ci(xs)
    txt = f"{100 * m:.0f}%"
    if ci and ci[1] <= 1:
        txt += f" ({100 * ci[0]:.0f}–{100 * ci[1]:.0f}%)"
    elif ci:
        txt += f" ({100 * ci[0]:.0f}%–past 100%)"
    if over:
        txt += f"; {over} round(s) over 100%: measurement error"
    return txt


def table(meta, recs):
    P, N, D = meta["p"], meta["n"], meta["depth"]
    out = [f"CPU: {meta['cpu']} ({meta.get('cpu_flags', '?')}); {meta['threads']} threads; {meta['rounds']} rounds a type, order alternating "
           f"(A-B, B-A); warm-up: {'one untimed run of each test, both engines' if meta['warmup'] else 'none'}"]
    for e in ("reel", "llama.cpp"):
        info = meta.get("engines", {}).get(e)
        if info:
            out.append(f"{e}: " + "; ".join(f"{k} {v}" for k, v in info.items()))
    out.append(f"tests: pp{P} from an empty context; tg{N} after an untimed {D}-token prompt (depth {D}); "
               f"yardstick: scripts/bench/readloop.c, {meta['threads']} threads, huge pages, median of its passes, "
               f"run right before and after each engine's tg")
    out.append("")
    out.append(f"| type | reel pp{P} | llama.cpp pp{P} | ratio (95% CI) | reel tg{N} @ d{D} | llama.cpp tg{N} @ d{D} "
               f"| ratio (95% CI) | bytes/token | read loop GB/s | reel tg / bound (95% CI) "
               f"| llama.cpp tg / bound (95% CI) |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    f2, f3 = (lambda v: f"{v:.2f}"), (lambda v: f"{v:.3f}")
    for typ, tinfo in meta["types"].items():
        rs = [r for r in recs if r["type"] == typ]
        per = {}  # round -> engine -> {"pp", "tg", "loops"}
        for r in rs:
            e = per.setdefault(r["round"], {}).setdefault(r["engine"], {"loops": []})
            if r["what"] == "loop":
                e["loops"].append(r["data"]["median_gb_s"] * 1e9)
            else:
                for res in r["data"]["results"]:
                    e[res["test"][:2]] = res["tps"]
        B = tinfo["tg_bytes"]
        col = {k: [] for k in ("rpp", "lpp", "rtg", "ltg", "ppr", "tgr", "rsh", "lsh", "bw")}
        for rnd in sorted(per):
            g = per[rnd]
            for e, pre in (("reel", "r"), ("llama.cpp", "l")):
                x = g.get(e)
                if not x:
                    continue
                if "pp" in x:
                    col[pre + "pp"].append(x["pp"])
                if "tg" in x:
                    col[pre + "tg"].append(x["tg"])
                    if len(x["loops"]) == 2:
                        rate = sum(x["loops"]) / 2
                        col["bw"].append(rate)
                        col[pre + "sh"].append(B * x["tg"] / rate)
            if "reel" in g and "llama.cpp" in g:
                for t in ("pp", "tg"):
                    if t in g["reel"] and t in g["llama.cpp"]:
                        col[t + "r"].append(g["reel"][t] / g["llama.cpp"][t])
        md = lambda v: f2(median(v)) if v else "n/a"
        ratio = lambda v: f"{median(v):.2f}× ({fmt_ci(v, f2)})" if v else "n/a"
        out.append(f"| {typ} | {md(col['rpp'])} | {md(col['lpp'])} | {ratio(col['ppr'])} | {md(col['rtg'])} "
                   f"| {md(col['ltg'])} | {ratio(col['tgr'])} | {B / 2**20:.1f} MiB | "
                   f"{median(col['bw']) / 1e9 if col['bw'] else float('nan'):.1f} | {fmt_share(col['rsh'])} "
                   f"| {fmt_share(col['lsh'])} |")
    out.append("")
    out.append("t/s: medians over the rounds; ratio: reel / llama.cpp, median of the per-round ratios, with a "
               "distribution-free 95% CI of that median (order statistics). bytes/token: weights read + recurrent "
               "state and KV rows read + state and the new KV row written, each once, from the file (the same "
               "for both engines). tg / bound: bytes/token x tg t/s over the mean rate of the two read loops run "
               "right before and after that engine's tg; a share over 100% is a measurement error, not a result.")
    for typ, tinfo in meta["types"].items():
        note = tinfo.get("check")
        if note:
            out.append(f"{typ}: {note}")
    return "\n".join(out)


# ---- main ----------------------------------------------------------------------------------------

def rss_mode(a):
    print(f"CPU: {cpu_model()}; {a.threads} threads; peak RSS after a {a.rss_ctx}-token prompt\n")
    print("| type | file | reel | llama.cpp | reel / llama.cpp |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for typ in a.types:
        path = a.model or model_file(a.reel, a.out, typ)
        r = run_json([a.reel, "bench", "-m", path, "-p", str(a.rss_ctx), "-n", "0", "-t", str(a.threads), "-r", "1",
                      "--no-warmup", "--json"])["results"][0]["peak_rss_bytes"]
        l = None
        if not a.no_llama:
            l = run_json([a.llama_python, os.path.join(HERE, "llama_run.py"), "-m", path, "-t", str(a.threads),
                          "--rss", str(a.rss_ctx)])["peak_rss_bytes"]
        g = lambda v: f"{v / 1e9:.2f} GB" if v else "n/a"
        print(f"| {typ} | {g(os.path.getsize(path))} | {g(r)} | {g(l)} | {f'{r / l:.2f}x' if l else 'n/a'} |",
              flush=True)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reel", default="build/bin/reel")
    ap.add_argument("--out", default="/tmp/reel-bench", help="where the random models are written")
    ap.add_argument("--types", nargs="+", default=["q4_0", "q8_0"],
                    help="f16, q8_0, q4_0 (written directly) or any type reel quantize writes")
    ap.add_argument("--model", help="measure this GGUF file instead of a random model (one 'type')")
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("-p", type=int, default=512, help="prompt length, and the depth of the tg test")
    ap.add_argument("-n", type=int, default=128, help="decoded tokens, after the -p prompt")
    ap.add_argument("--rounds", type=int, default=10, help="alternating rounds a type (>= 6 for a 95%% CI)")
    ap.add_argument("--no-warmup", action="store_true", help="neither engine warms up")
    ap.add_argument("--reel-batch", type=int, default=256, help="reel bench -b (prompt batch)")
    ap.add_argument("--llama-batch", type=int, default=512, help="llama.cpp n_batch = n_ubatch")
    ap.add_argument("--loop-mib", type=int, default=1024, help="read-loop buffer (MiB)")
    ap.add_argument("--loop-passes", type=int, default=5)
    ap.add_argument("--no-llama", action="store_true", help="reel only (no llama-cpp-python)")
    ap.add_argument("--llama-python", default=sys.executable, help="a Python with llama_cpp")
    ap.add_argument("--raw", help="write every run's JSON and read loop here")
    ap.add_argument("--from-raw", help="print the table from a --raw folder, running nothing")
    ap.add_argument("--rss-ctx", type=int, default=0, help="report peak memory at this context instead")
    a = ap.parse_args()
    if a.from_raw:
        print(table(*load_raw(a.from_raw)))
        return 0
    if a.p <= 0 and a.n <= 0:
        ap.error("nothing to measure: -p 0 and -n 0")
    if a.model:
        a.types = [os.path.basename(a.model)]
    os.makedirs(a.out, exist_ok=True)
    if a.rss_ctx:
        return rss_mode(a)
    engines = ["reel"]
    if not a.no_llama:
        chk = subprocess.run([a.llama_python, "-c", "import llama_cpp"], capture_output=True, text=True)
        if chk.returncode:
            sys.exit(f"bench_4b: llama_cpp is not importable by {a.llama_python} "
                     f"({chk.stderr.strip().splitlines()[-1] if chk.stderr.strip() else '?'}); "
                     f"install llama-cpp-python there, or pass --llama-python or --no-llama")
        engines.append("llama.cpp")
    raw = Raw(a.raw)
    tmp = tempfile.mkdtemp(prefix="reel-bench-")
    loop = build_readloop(tmp)
    P, N = a.p, a.n
    meta = {"cpu": cpu_model(), "threads": a.threads, "p": P, "n": N, "depth": P, "rounds": a.rounds,
            "warmup": not a.no_warmup, "argv": sys.argv, "engines": {}, "types": {},
            "loop": {"mib": a.loop_mib, "passes": a.loop_passes}}
    ver = subprocess.run([a.reel, "--version"], capture_output=True, text=True).stdout.strip().splitlines()
    meta["engines"]["reel"] = {"version": ver[0] if ver else "?"}
    meta["cpu_flags"] = cpu_flags()
    print(f"CPU: {meta['cpu']} ({meta['cpu_flags']}); {a.threads} threads; engines: {', '.join(engines)}; "
          f"{a.rounds} rounds a type", flush=True)
    for typ in a.types:
        path = a.model or model_file(a.reel, a.out, typ)
        tb = token_bytes(path)
        meta["types"][typ] = {"path": path, "file_bytes": os.path.getsize(path), "token_bytes": tb,
                              "tg_bytes": tg_bytes(tb, P, N)}
        active = list(engines)
        for rnd in range(1, a.rounds + 1):
            order = list(active) if rnd % 2 else active[::-1]
            line = []
            for e in order:
                try:
                    if P:
                        cmd = engine_cmd(a, e, path, P, 0, 0)
                        j = raw.add(typ, rnd, e, "pp", run_json(cmd), cmd)
                        line.append(f"{e} pp {j['results'][0]['tps']:.2f}")
                    if N:
                        lcmd = [loop, str(a.threads), str(a.loop_mib), str(a.loop_passes)]
                        raw.add(typ, rnd, e, "loop", run_json(lcmd), lcmd + ["(before tg)"])
                        cmd = engine_cmd(a, e, path, 0, N, P)
                        j = raw.add(typ, rnd, e, "tg", run_json(cmd), cmd)
                        raw.add(typ, rnd, e, "loop", run_json(lcmd), lcmd + ["(after tg)"])
                        line.append(f"{e} tg {j['results'][0]['tps']:.2f}")
                except RuntimeError as err:
                    if e == "reel":
                        raise
                    print(f"  llama.cpp failed on {typ}, measured without it: {err}", flush=True)
                    active.remove(e)
                    continue
                info = meta["engines"].setdefault(e, {})
                if e == "reel":
                    info.update(backend=j["backend"], cpu_features=j["cpu_features"], batch=j["batch"])
                    got = j["results"][0].get("token_bytes")
                    if got and N:
                        mine = meta["types"][typ]["tg_bytes"]
                        theirs = got["weights"] + got["state_read"] + got["state_written"]
                        meta["types"][typ]["check"] = (
                            f"bytes/token from the file {mine:.0f}, reel bench's token_bytes {theirs:.0f} "
                            f"({'equal' if abs(mine - theirs) <= 1e-6 * mine else 'DIFFERENT: check the count'})")
                else:
                    info.update(version=j["version"], system_info=j["system_info"],
                                batch=f"n_batch {j['batch']}, n_ubatch {j['ubatch']}")
            print(f"  {typ} round {rnd}/{a.rounds}: " + "; ".join(line), flush=True)
            raw.meta(meta)
    raw.meta(meta)
    print()
    print(table(meta, raw.recs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
