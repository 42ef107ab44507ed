#!/usr/bin/env python3
"""Developer check (not a test): llama.cpp reads what `reel quantize` writes.

    /tmp/quant-venv/bin/python scripts/bench/llama_quant_check.py --reel build/bin/reel

Writes a small random Nemotron-H model in F32 (H 256, so the K types are used, with an FFN
width of 288 and attention output rows that exercise the fallbacks), quantizes it with
`reel quantize` to each TYPE, and runs the same tokens through reel (`reel logits --all`) and
llama.cpp (llama-cpp-python) on the F32 and on each quantized file. Prints, per file, the RMS
difference of the two engines' logits over the RMS logit (both read the same bytes, so this
should be small: only the engines' arithmetic differs) and each engine's error against its own
F32 result. Then quantizes the same F32 file with llama.cpp's own llama_model_quantize to the
same ftype and lists the tensors whose type differs from reel's choice (none for the mixes
q4_k_m, q5_k_m, q4_k_s, q5_k_s; reel's single types are "pure", llama.cpp's raise output.weight
and a few others). --experts E writes the MoE variant (nemotron_h_moe, E experts of width 256
and a shared expert in each '-' layer; E = 8 triggers llama.cpp's Mixtral rules). On a random
MoE, llama.cpp's logits on a quantized file drift from its own float result on the same
weights (int8 activations flip expert choices), for its own q4_k_m as for reel's, so compare
"llama vs F32" with "reel vs F32" there. Small on purpose (2 shared cores).

    measured (H 256, 10 layers, llama-cpp-python 0.3.36): dense, every TYPE: reel vs llama.cpp
    0.02-0.035 of the RMS logit (F32: 0.0002), both engines' error vs F32 within a few percent
    of each other, top-1 equal on 18-20 of 20; tensor types identical for every mix, dense
    and MoE (6, 8, 16 experts).
"""
import argparse, json, os, subprocess, sys, tempfile

import numpy as np

H, NH, P, G, N, K, NA, NKV, HD, F, V = 256, 8, 32, 2, 16, 4, 8, 2, 32, 288, 300
FE = 256  # expert width of the MoE variant
PATTERN = "M-*M-*-M*-"
DI = NH * P
DC = DI + 2 * G * N
TOKENS = [1, 40, 41, 42, 43, 60, 61, 62, 63, 70, 71, 72, 100, 101, 102, 200, 201, 202, 250, 251]


def write_model(path, seed=3, experts=0):
    """experts > 0: the MoE variant (nemotron_h_moe), every '-' layer an 'E' layer with that
    many experts of width FE and a shared expert of width F"""
    import gguf

    rng = np.random.default_rng(seed)
    L = len(PATTERN)
    a = "nemotron_h_moe" if experts else "nemotron_h"
    w = gguf.GGUFWriter(path, a)
    w.add_uint32(f"{a}.block_count", L)
    w.add_uint32(f"{a}.embedding_length", H)
    w.add_uint32(f"{a}.context_length", 4096)
    w.add_array(f"{a}.feed_forward_length", [(FE if experts else F) if c == "-" else 0 for c in PATTERN])
    w.add_uint32(f"{a}.attention.head_count", NA)
    w.add_array(f"{a}.attention.head_count_kv", [NKV if c == "*" else 0 for c in PATTERN])
    w.add_uint32(f"{a}.attention.key_length", HD)
    w.add_uint32(f"{a}.attention.value_length", HD)
    w.add_float32(f"{a}.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_float32(f"{a}.attention.layer_norm_epsilon", 1e-5)
    w.add_uint32(f"{a}.ssm.conv_kernel", K)
    w.add_uint32(f"{a}.ssm.state_size", N)
    w.add_uint32(f"{a}.ssm.group_count", G)
    w.add_uint32(f"{a}.ssm.inner_size", DI)
    w.add_uint32(f"{a}.ssm.time_step_rank", NH)
    w.add_uint32(f"{a}.vocab_size", V)
    if experts:
        w.add_uint32(f"{a}.expert_count", experts)
        w.add_uint32(f"{a}.expert_used_count", 2)
        w.add_uint32(f"{a}.expert_feed_forward_length", FE)
        w.add_uint32(f"{a}.expert_shared_feed_forward_length", F)
        w.add_uint32(f"{a}.expert_shared_count", 1)
        w.add_float32(f"{a}.expert_weights_scale", 2.5)
        w.add_bool(f"{a}.expert_weights_norm", True)
        w.add_uint32(f"{a}.expert_group_count", 1)
        w.add_uint32(f"{a}.expert_group_used_count", 1)
    w.add_uint32("general.file_type", 0)
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

    def mat(n_in, n_out):  # about unit gain
        return (rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)).astype(np.float32)

    def vec(shape, v=None):
        if v is not None:
            return np.full(shape, v, np.float32)
        return (rng.standard_normal(shape) * 0.1).astype(np.float32)

    w.add_tensor("token_embd.weight", mat(H, V) * 4)
    w.add_tensor("output_norm.weight", vec((H,), 1.0))
    w.add_tensor("output.weight", mat(H, V) * 4)
    for i, c in enumerate(PATTERN):
        b = f"blk.{i}."
        w.add_tensor(b + "attn_norm.weight", vec((H,), 1.0))
        if c == "M":
            w.add_tensor(b + "ssm_in.weight", mat(H, 2 * DI + 2 * G * N + NH))
            w.add_tensor(b + "ssm_conv1d.weight", vec((DC, K)))
            w.add_tensor(b + "ssm_conv1d.bias", vec((DC,)))
            w.add_tensor(b + "ssm_dt.bias", vec((NH,), 0.0))
            w.add_tensor(b + "ssm_a", -np.exp(rng.uniform(0, 2, (NH, 1))).astype(np.float32))
            w.add_tensor(b + "ssm_d", vec((NH, 1), 1.0))
            w.add_tensor(b + "ssm_norm.weight", vec((G, DI // G), 1.0))
            w.add_tensor(b + "ssm_out.weight", mat(DI, H))
        elif c == "*":
            w.add_tensor(b + "attn_q.weight", mat(H, NA * HD))
            w.add_tensor(b + "attn_k.weight", mat(H, NKV * HD))
            w.add_tensor(b + "attn_v.weight", mat(H, NKV * HD))
            w.add_tensor(b + "attn_output.weight", mat(NA * HD, H))
        elif experts:
            w.add_tensor(b + "ffn_gate_inp.weight", mat(H, experts))
            w.add_tensor(b + "exp_probs_b.bias", vec((experts,), 0.0))
            w.add_tensor(b + "ffn_up_exps.weight", np.stack([mat(H, FE) for _ in range(experts)]))
            w.add_tensor(b + "ffn_down_exps.weight",
                         np.stack([mat(FE, H) for _ in range(experts)]))
            w.add_tensor(b + "ffn_up_shexp.weight", mat(H, F))
            w.add_tensor(b + "ffn_down_shexp.weight", mat(F, H))
        else:
            w.add_tensor(b + "ffn_up.weight", mat(H, F))
            w.add_tensor(b + "ffn_down.weight", mat(F, H))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def reel_logits(reel, path):
    out = subprocess.run([reel, "logits", "-m", path, "--tokens", ",".join(map(str, TOKENS)),
                          "--all", "-t", "2"], check=True, capture_output=True, text=True).stdout
    return np.array(json.loads(out)["logits"], dtype=np.float64)


def llama_logits(path):
    from llama_cpp import Llama

    m = Llama(model_path=path, n_ctx=64, n_threads=2, logits_all=True, verbose=False)
    m.eval(TOKENS)
    x = np.array(m.scores[: len(TOKENS)], dtype=np.float64)
    m.close()
    return x


FTYPE = {"q4_k_m": 15, "q5_k_m": 17, "q4_k_s": 14, "q5_k_s": 16, "q6_k": 18, "q5_0": 8,
         "q5_1": 9, "iq4_nl": 25, "q8_0": 7, "q4_0": 2}


def type_differences(src, reel_file, t, d):
    import ctypes
    import llama_cpp
    from gguf import GGUFReader

    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype, p.nthread = FTYPE[t], 2
    out = os.path.join(d, f"llama-{t}.gguf")
    if llama_cpp.llama_model_quantize(src.encode(), out.encode(), ctypes.byref(p)) != 0:
        return "llama_model_quantize failed"
    a = {x.name: x.tensor_type.name for x in GGUFReader(out).tensors}
    b = {x.name: x.tensor_type.name for x in GGUFReader(reel_file).tensors}
    diff = [f"{n}: llama.cpp {a[n]}, reel {b.get(n)}" for n in a if a[n] != b.get(n)]
    return "; ".join(diff) if diff else "none"


def rel(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b ** 2)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reel", default="build/bin/reel")
    ap.add_argument("--experts", type=int, default=0, help="write the MoE variant")
    ap.add_argument("--types", nargs="+", default=["q4_k_m", "q5_k_m", "q4_k_s", "q5_k_s",
                                                    "q6_k", "q5_0", "q5_1", "iq4_nl", "q4_k",
                                                    "q5_k"])
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        f32 = os.path.join(d, "m-f32.gguf")
        write_model(f32, experts=a.experts)
        r0, l0 = reel_logits(a.reel, f32), llama_logits(f32)
        print(f"F32: reel vs llama.cpp {rel(r0, l0):.4f}")
        print(f"{'type':8} {'reel vs llama.cpp':>18} {'reel vs F32':>12} {'llama vs F32':>13} "
              f"{'top-1 same':>11}")
        quantized = {}
        for t in a.types:
            q = os.path.join(d, f"m-{t}.gguf")
            s = subprocess.run([a.reel, "quantize", f32, q, t, "-q"], check=True,
                               capture_output=True, text=True).stdout.strip()
            quantized[t] = q
            r, l = reel_logits(a.reel, q), llama_logits(q)
            top = int((r.argmax(1) == l.argmax(1)).sum())
            print(f"{t:8} {rel(r, l):18.4f} {rel(r, r0):12.4f} {rel(l, l0):13.4f} "
                  f"{top:>6}/{len(TOKENS)}   {s.split('(')[1].split(')')[0]}")
        print("tensor types that differ from llama-quantize's for the same ftype:")
        for t in a.types:
            if t in FTYPE:
                print(f"  {t}: {type_differences(f32, quantized[t], t, d)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
