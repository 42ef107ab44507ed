#!/usr/bin/env python3
"""Builds tiny random Nemotron-H checkpoints and their reference outputs (developer tool).

For each config below this writes tests/data/models/<name>/ with
  config.json, model.safetensors (F32), tokenizer.json, tokenizer_config.json   (a HF model dir)
  golden.json   reference float32 logits (every position) for a few token sequences and a
                32-token greedy continuation, computed with transformers' own NemotronH code
                (pure-PyTorch path, CPU, float32).

Spec §8: the pure-PyTorch Mamba path clamps dt >= time_step_min after the softplus, the kernel
path and reel do not. The generator sets every mixer's time_step_limit to (0, inf) after the
model is built (a 0 in the config would break dt initialisation).

Weights are re-drawn with larger scales than the HF init (std 0.02 gives near-uniform logits,
which would hide errors): projections ~ N(0, 1/in), norms ~ 1 + N(0, 0.2), A_log, dt_bias, D and
the conv taps spread out so every term of the mixer matters.

Needs: pip install torch transformers safetensors gguf   (PyPI; developer machines only)
Run:   python3 scripts/golden/make_tiny_models.py [OUT_DIR]
"""
import json
import math
import os
import shutil
import sys

import numpy as np
import torch
import transformers
from gguf import GGMLQuantizationType as GGT
import gguf.quants as gq
from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders, processors, trainers

try:
    from transformers.models.nemotron_h import NemotronHConfig, NemotronHForCausalLM
except ImportError:
    sys.exit("this transformers (%s) has no transformers.models.nemotron_h" % transformers.__version__)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOCAB = 512
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "[INST]", "[/INST]", "<SPECIAL_6>", "<SPECIAL_7>",
            "<SPECIAL_8>", "<SPECIAL_9>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]
TEKKEN = (r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|"
          r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}|"
          r" ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+")

CONFIGS = [
    # several heads per group (4), attention with 2 query heads per KV head, q width == H
    dict(name="tiny-a", seed=1, hidden_size=64, pattern="M*M-M*-", mamba_num_heads=8,
         mamba_head_dim=8, n_groups=2, ssm_state_size=16, conv_kernel=4, num_attention_heads=4,
         num_key_value_heads=2, head_dim=16, intermediate_size=128, chunk_size=8, tie=False),
    # one group per head, K=3, q width (72) != H (48), tied embeddings (no lm_head tensor)
    dict(name="tiny-b", seed=2, hidden_size=48, pattern="M-*M", mamba_num_heads=4,
         mamba_head_dim=12, n_groups=4, ssm_state_size=8, conv_kernel=3, num_attention_heads=6,
         num_key_value_heads=3, head_dim=12, intermediate_size=96, chunk_size=4, tie=True),
    # a single group for all heads, one KV head for 5 query heads, starts with attention
    dict(name="tiny-c", seed=3, hidden_size=80, pattern="*-MM-M*", mamba_num_heads=6,
         mamba_head_dim=10, n_groups=1, ssm_state_size=12, conv_kernel=4, num_attention_heads=5,
         num_key_value_heads=1, head_dim=16, intermediate_size=160, chunk_size=16, tie=False),
    # MoE (nemotron_h_moe; no "-" layer, which GGUF could not tell from "E", as in the 30B):
    # 6 routed experts, 2 used, shared expert, score-correction bias
    dict(name="tiny-moe", seed=4, hidden_size=32, pattern="ME*EM", mamba_num_heads=4,
         mamba_head_dim=8, n_groups=2, ssm_state_size=8, conv_kernel=4, num_attention_heads=2,
         num_key_value_heads=1, head_dim=16, intermediate_size=64, chunk_size=8, tie=False,
         moe=dict(n_routed_experts=6, num_experts_per_tok=2, moe_intermediate_size=24,
                  moe_shared_expert_intermediate_size=40, routed_scaling_factor=2.5,
                  norm_topk_prob=True)),
]

CORPUS = """Once upon a time a small robot lived in a quiet town by the sea. Every morning it
walked to the harbour, counted the boats and wrote their names in a notebook. The fishermen
laughed, then they began to wave. One day a storm came and the robot kept the lamp burning all
night so the boats could find their way home. Scene 1: a wide shot of the harbour at dawn.
Scene 2: close-up of the notebook, numbers 1 2 3 4 5 6 7 8 9 0. {"scene": "storm", "shots": 3}
The quick brown fox jumps over the lazy dog! What is 2+2? It is 4. Hello, world.
"""


def make_tokenizer(out_dir):
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(TEKKEN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False, trim_offsets=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    # a few hundred pseudo-words (fixed, no randomness) give the trainer enough pairs to merge
    syll = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "qu", "ph", "th"]
    extra = " ".join(syll[i % 12] + syll[(i * 5 + 1) % 12] + syll[(i * 7 + 3) % 12]
                     for i in range(400))
    tok.train_from_iterator([CORPUS] * 4 + [extra], trainer=trainer)
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    tmpl_path = "/work/shared/templates/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16.jinja"
    template = open(tmpl_path).read() if os.path.exists(tmpl_path) else None
    cfg = {"bos_token": "<s>", "eos_token": "<|im_end|>", "unk_token": "<unk>",
           "pad_token": "<pad>", "add_bos_token": True, "add_eos_token": False,
           "model_max_length": 4096, "tokenizer_class": "PreTrainedTokenizerFast"}
    if template:
        cfg["chat_template"] = template
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    return tok


def randomize(model, cfg, gen):
    def normal(shape, std):
        return torch.randn(shape, generator=gen) * std

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("A_log"):
                p.copy_(torch.log(torch.rand(p.shape, generator=gen) * 8 + 0.5))
            elif name.endswith("dt_bias"):
                p.copy_(normal(p.shape, 1.0) - 1.0)
            elif name.endswith(".D"):
                p.copy_(normal(p.shape, 1.0))
            elif "conv1d.weight" in name:
                p.copy_(normal(p.shape, 0.5))
            elif "conv1d.bias" in name:
                p.copy_(normal(p.shape, 0.2))
            elif name.endswith("norm.weight") or name.endswith("norm_f.weight"):
                p.copy_(1.0 + normal(p.shape, 0.2))
            elif "embeddings" in name:
                p.copy_(normal(p.shape, 1.0))
            elif p.dim() == 2:
                p.copy_(normal(p.shape, 1.0 / math.sqrt(p.shape[1])))
            elif p.dim() == 3:  # stacked experts [E, out, in]
                p.copy_(normal(p.shape, 1.0 / math.sqrt(p.shape[2])))
            else:
                p.copy_(normal(p.shape, 0.1))
    with torch.no_grad():
        for name, b in model.named_buffers():
            if name.endswith("e_score_correction_bias"):  # selection only, never the weights
                b.copy_(normal(b.shape, 0.3))
    for m in model.modules():
        if hasattr(m, "time_step_limit"):
            m.time_step_limit = (0.0, float("inf"))
        if hasattr(m, "time_step_min"):
            m.time_step_min = 0.0


@torch.no_grad()
def logits_of(model, ids):
    out = model(input_ids=torch.tensor([ids]), use_cache=False)
    return out.logits[0].float()


@torch.no_grad()
def greedy(model, ids, n):
    ids = list(ids)
    new = []
    for _ in range(n):
        nxt = int(torch.argmax(logits_of(model, ids)[-1]))
        ids.append(nxt)
        new.append(nxt)
    return new


def rows(t):
    return [[float("%.9g" % v) for v in row] for row in t.tolist()]


def build(c, out_root):
    out = os.path.join(out_root, c["name"])
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    torch.manual_seed(c["seed"])
    tok = make_tokenizer(out)
    config = NemotronHConfig(
        vocab_size=VOCAB, hidden_size=c["hidden_size"], hybrid_override_pattern=c["pattern"],
        num_attention_heads=c["num_attention_heads"], num_key_value_heads=c["num_key_value_heads"],
        head_dim=c["head_dim"], intermediate_size=c["intermediate_size"],
        mamba_num_heads=c["mamba_num_heads"], mamba_head_dim=c["mamba_head_dim"],
        n_groups=c["n_groups"], ssm_state_size=c["ssm_state_size"], conv_kernel=c["conv_kernel"],
        chunk_size=c["chunk_size"], max_position_embeddings=4096, tie_word_embeddings=c["tie"],
        bos_token_id=1, eos_token_id=11, pad_token_id=3, layer_norm_epsilon=1e-5,
        use_mamba_kernels=False, torch_dtype="float32", **c.get("moe", {}))
    model = NemotronHForCausalLM(config).float().eval()
    gen = torch.Generator().manual_seed(c["seed"])
    randomize(model, c, gen)
    if c["tie"]:
        # transformers 5's NemotronH declares no tied keys, so tie_word_embeddings alone does not
        # tie: give lm_head the embedding's values (the saved file then drops lm_head)
        with torch.no_grad():
            model.lm_head.weight.copy_(model.model.embeddings.weight)
    model.save_pretrained(out, safe_serialization=True)
    if c["tie"]:
        # a tied checkpoint must not need lm_head.weight: drop it so readers fall back to the
        # embeddings (transformers 5 writes both)
        from safetensors.torch import load_file, save_file
        path = os.path.join(out, "model.safetensors")
        tensors = load_file(path)
        tensors.pop("lm_head.weight", None)
        save_file(tensors, path, metadata={"format": "pt"})
    # the saved config must keep the pattern string readers look for
    with open(os.path.join(out, "config.json")) as f:
        saved = json.load(f)
    saved["hybrid_override_pattern"] = c["pattern"]
    # transformers writes (0, inf) as {"__float__": "Infinity"}, which is not what published
    # checkpoints carry; reel ignores the limit anyway (no clamp)
    saved.pop("time_step_limit", None)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(saved, f, indent=1, sort_keys=True)

    g = torch.Generator().manual_seed(100 + c["seed"])
    seqs = [[1], torch.randint(14, VOCAB, (6,), generator=g).tolist(),
            [1] + torch.randint(14, VOCAB, (20,), generator=g).tolist()]
    golden = {"model": c["name"], "transformers": transformers.__version__,
              "torch": torch.__version__, "n_vocab": VOCAB, "config": c, "sequences": []}
    for s in seqs:
        golden["sequences"].append({"tokens": s, "logits": rows(logits_of(model, s))})
    prompt = seqs[2][:9]
    golden["greedy"] = {"prompt": prompt, "n": 32, "tokens": greedy(model, prompt, 32)}
    text = "Hello, world. The robot"
    ids = tok.encode(text).ids
    golden["text"] = {"prompt": text, "ids": ids, "greedy": greedy(model, ids, 16)}
    # the same model with every matrix rounded to float16 / bfloat16 (what a GGUF conversion
    # keeps in 16 bits: the 2-D tensors; norms, conv, A, D, dt_bias stay F32), for those paths
    # q8_0 / q4_0: the matrices whose rows are whole 32-blocks go through gguf-py's reference
    # quantizer and back (the others are F16, the converter's fallback)
    orig = {k: v.clone() for k, v in model.state_dict().items()}
    for key in ("f16", "bf16", "q8_0", "q4_0") if "moe" not in c else ():
        model.load_state_dict(orig)
        with torch.no_grad():
            for p in model.parameters():
                if p.dim() != 2:
                    continue
                if key == "bf16":
                    p.copy_(p.to(torch.bfloat16).float())
                elif key == "f16" or p.shape[1] % 32:
                    p.copy_(p.half().float())
                else:
                    qt = GGT.Q8_0 if key == "q8_0" else GGT.Q4_0
                    a = p.detach().numpy().astype(np.float32)
                    p.copy_(torch.from_numpy(gq.dequantize(gq.quantize(a, qt), qt).reshape(a.shape)))
        # the last 6 positions are enough here (the full prompt still runs); keeps files small
        golden[key] = {"tokens": seqs[2], "first": len(seqs[2]) - 6,
                       "logits": rows(logits_of(model, seqs[2])[-6:])}
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
    size = sum(os.path.getsize(os.path.join(out, x)) for x in os.listdir(out))
    print("%s: %d bytes, pattern %s" % (out, size, c["pattern"]))


def main():
    out_root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "data", "models")
    torch.set_num_threads(1)
    for c in CONFIGS:
        build(c, out_root)


if __name__ == "__main__":
    main()
