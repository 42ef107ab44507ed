#!/usr/bin/env python3
"""Converts a tiny Nemotron-H Hugging Face directory (F32 safetensors) to GGUF v3 (developer tool).

Pure standard library, written from the GGUF layout (docs/model.md §4): the tensor names, shapes and
type rules of llama.cpp's converter (1-D tensors, norms, ssm_conv1d, ssm_a, ssm_d stay F32;
ssm_a = -exp(A_log); ssm_norm reshaped to {Di/G, G}; ssm_conv1d squeezed to {K, Dc}). Used to
make GGUF fixtures of the golden models independently of reel's own writer.

Run: python3 scripts/golden/hf_to_gguf.py HF_DIR OUT.gguf [f32|f16]
"""
import json
import math
import os
import struct
import sys

GGML_F32, GGML_F16 = 0, 1
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)
ALIGN = 32


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            assert info["dtype"] == "F32", (name, info["dtype"])
            a, b = info["data_offsets"]
            f.seek(base + a)
            raw = f.read(b - a)
            out[name] = (info["shape"], list(struct.unpack("<%df" % ((b - a) // 4), raw)))
        return out


def w_str(buf, s):
    b = s.encode("utf-8")
    buf += struct.pack("<Q", len(b)) + b


def w_kv(buf, key, typ, val):
    w_str(buf, key)
    buf += struct.pack("<I", typ)
    w_val(buf, typ, val)


def w_val(buf, typ, val):
    if typ == T_U32:
        buf += struct.pack("<I", val)
    elif typ == T_I32:
        buf += struct.pack("<i", val)
    elif typ == T_F32:
        buf += struct.pack("<f", val)
    elif typ == T_BOOL:
        buf += struct.pack("<B", 1 if val else 0)
    elif typ == T_STR:
        w_str(buf, val)
    elif typ == T_ARR:
        etyp, items = val
        buf += struct.pack("<IQ", etyp, len(items))
        for it in items:
            w_val(buf, etyp, it)
    else:
        raise ValueError(typ)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    outtype = sys.argv[3] if len(sys.argv) > 3 else "f32"
    cfg = json.load(open(os.path.join(src, "config.json")))
    tj = json.load(open(os.path.join(src, "tokenizer.json")))
    tc = json.load(open(os.path.join(src, "tokenizer_config.json")))
    st = read_safetensors(os.path.join(src, "model.safetensors"))
    pattern = cfg["hybrid_override_pattern"]
    L, H = len(pattern), cfg["hidden_size"]
    nh, P, G, N = cfg["mamba_num_heads"], cfg["mamba_head_dim"], cfg["n_groups"], cfg["ssm_state_size"]
    Di = nh * P
    arch = "nemotron_h"

    tensors = []  # (name, ne list, ggml type, floats)

    def add(name, shape, data, force_f32=False):
        ne = list(reversed(shape))
        typ = GGML_F16 if (outtype == "f16" and len(ne) >= 2 and not force_f32) else GGML_F32
        tensors.append((name, ne, typ, data))

    add("token_embd.weight", *st["backbone.embeddings.weight"])
    add("output_norm.weight", *st["backbone.norm_f.weight"])
    if "lm_head.weight" in st and not cfg.get("tie_word_embeddings"):
        add("output.weight", *st["lm_head.weight"])
    hf = {"in_proj.weight": "ssm_in.weight", "out_proj.weight": "ssm_out.weight",
          "conv1d.bias": "ssm_conv1d.bias", "dt_bias": "ssm_dt.bias",
          "q_proj.weight": "attn_q.weight", "k_proj.weight": "attn_k.weight",
          "v_proj.weight": "attn_v.weight", "o_proj.weight": "attn_output.weight",
          "up_proj.weight": "ffn_up.weight", "down_proj.weight": "ffn_down.weight"}
    for i in range(L):
        p = "backbone.layers.%d." % i
        add("blk.%d.attn_norm.weight" % i, *st[p + "norm.weight"])
        for k, (shape, data) in sorted(st.items()):
            if not k.startswith(p + "mixer."):
                continue
            leaf = k[len(p + "mixer."):]
            if leaf in hf:
                add("blk.%d.%s" % (i, hf[leaf]), shape, data)
            elif leaf == "conv1d.weight":
                add("blk.%d.ssm_conv1d.weight" % i, [shape[0], shape[2]], data, True)
            elif leaf == "A_log":
                add("blk.%d.ssm_a" % i, [nh, 1], [-math.exp(v) for v in data], True)
            elif leaf == "D":
                add("blk.%d.ssm_d" % i, [nh, 1], data, True)
            elif leaf == "norm.weight":
                add("blk.%d.ssm_norm.weight" % i, [G, Di // G], data, True)
            else:
                raise KeyError(k)

    kv = bytearray()
    n_kv = 0

    def kvp(key, typ, val):
        nonlocal n_kv
        w_kv(kv, key, typ, val)
        n_kv += 1

    kvp("general.architecture", T_STR, arch)
    kvp("general.alignment", T_U32, ALIGN)
    kvp(arch + ".block_count", T_U32, L)
    kvp(arch + ".context_length", T_U32, cfg.get("max_position_embeddings", 4096))
    kvp(arch + ".embedding_length", T_U32, H)
    kvp(arch + ".feed_forward_length", T_ARR,
        (T_I32, [cfg["intermediate_size"] if c == "-" else 0 for c in pattern]))
    kvp(arch + ".attention.head_count", T_U32, cfg["num_attention_heads"])
    kvp(arch + ".attention.head_count_kv", T_ARR,
        (T_I32, [cfg["num_key_value_heads"] if c == "*" else 0 for c in pattern]))
    kvp(arch + ".attention.key_length", T_U32, cfg["head_dim"])
    kvp(arch + ".attention.value_length", T_U32, cfg["head_dim"])
    kvp(arch + ".attention.layer_norm_rms_epsilon", T_F32, cfg["layer_norm_epsilon"])
    kvp(arch + ".ssm.conv_kernel", T_U32, cfg["conv_kernel"])
    kvp(arch + ".ssm.state_size", T_U32, N)
    kvp(arch + ".ssm.group_count", T_U32, G)
    kvp(arch + ".ssm.inner_size", T_U32, Di)
    kvp(arch + ".ssm.time_step_rank", T_U32, nh)
    kvp(arch + ".vocab_size", T_U32, cfg["vocab_size"])
    vocab = tj["model"]["vocab"]
    toks = [None] * len(vocab)
    for t, i in vocab.items():
        toks[i] = t
    specials = {a["content"] for a in tj.get("added_tokens", []) if a.get("special")}
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    kvp("tokenizer.ggml.model", T_STR, "gpt2")
    kvp("tokenizer.ggml.pre", T_STR, "pixtral")
    kvp("tokenizer.ggml.tokens", T_ARR, (T_STR, toks))
    kvp("tokenizer.ggml.token_type", T_ARR, (T_I32, [3 if t in specials else 1 for t in toks]))
    kvp("tokenizer.ggml.merges", T_ARR, (T_STR, merges))
    kvp("tokenizer.ggml.bos_token_id", T_U32, vocab[tc["bos_token"]])
    kvp("tokenizer.ggml.eos_token_id", T_U32, vocab[tc["eos_token"]])
    kvp("tokenizer.ggml.padding_token_id", T_U32, vocab[tc["pad_token"]])
    kvp("tokenizer.ggml.add_bos_token", T_BOOL, True)
    if tc.get("chat_template"):
        kvp("tokenizer.chat_template", T_STR, tc["chat_template"])

    info = bytearray()
    blobs = []
    off = 0
    for name, ne, typ, data in tensors:
        w_str(info, name)
        info += struct.pack("<I", len(ne))
        for d in ne:
            info += struct.pack("<Q", d)
        info += struct.pack("<IQ", typ, off)
        blob = struct.pack("<%d%s" % (len(data), "e" if typ == GGML_F16 else "f"), *data)
        pad = (-len(blob)) % ALIGN
        blobs.append(blob + b"\0" * pad)
        off += len(blob) + pad
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), n_kv) + bytes(kv) + bytes(info)
    head += b"\0" * ((-len(head)) % ALIGN)
    with open(dst, "wb") as f:
        f.write(head)
        for b in blobs:
            f.write(b)
    print("%s: %d tensors, %d bytes" % (dst, len(tensors), len(head) + off))


if __name__ == "__main__":
    main()
