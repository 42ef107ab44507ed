#!/usr/bin/env python3
"""Reference quantizer outputs for the types reel claims to write exactly as GGML does
(developer tool).

Float rows (random data at several scales, plus edge cases: zeros, one large value, a
negative maximum, values on rounding ties, tiny and huge magnitudes) are quantized by gguf-py's
numpy reference (gguf.quants.quantize, the Python twin of ggml's reference quantizers) and
written to tests/data/quant/quantize_goldens.json: per case the input as float32 bit patterns
and, per type, the expected bytes (hex). tests/test_kernels_quant_golden.c compares reel's
quantizers with them byte for byte.

Needs: pip install gguf numpy     Run: python3 scripts/golden/make_quant_goldens.py
"""
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import quantize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TYPES = [T.Q8_0, T.Q4_0, T.Q5_0, T.Q5_1, T.F16, T.BF16]
N = 256  # elements a row: whole blocks of every type above


def cases(rng):
    yield "gaussian", rng.standard_normal(N).astype(np.float32)
    yield "gaussian_small", (rng.standard_normal(N) * 1e-3).astype(np.float32)
    yield "gaussian_large", (rng.standard_normal(N) * 1e3).astype(np.float32)
    yield "uniform_positive", rng.uniform(0, 1, N).astype(np.float32)
    yield "uniform_negative", rng.uniform(-1, 0, N).astype(np.float32)
    yield "zeros", np.zeros(N, np.float32)
    x = np.zeros(N, np.float32)
    x[::32] = 1.0
    x[5::32] = -0.5
    yield "one_large_per_block", x
    x = rng.standard_normal(N).astype(np.float32) * 0.1
    x[::32] = -3.0  # the maximum magnitude is negative
    yield "negative_max", x
    # values that land exactly on .5 after scaling by the block's inverse scale
    base = np.tile(np.array([8, -8, 4, -4, 2.5, -2.5, 1.5, -1.5, 0.5, -0.5, 3.5, -3.5, 6.5, -6.5, 7.5, -7.5,
                             5.5, -5.5, 0, 1, 2, 3, 4, 5, 6, 7, -1, -2, -3, -4, -5, -6], np.float32), N // 32)
    yield "ties", base / 8.0
    yield "mixed_magnitudes", (rng.standard_normal(N) * np.exp(rng.uniform(-8, 8, N))).astype(np.float32)
    yield "f16_edges", np.tile(np.array([65504, -65504, 6.1e-5, -6.1e-5, 6e-8, 1e-9, 0.1, 1 / 3],
                                        np.float32), N // 8)


def main():
    rng = np.random.default_rng(20261207)
    out = []
    for name, x in cases(rng):
        row = {"name": name, "bits": [int(b) for b in x.view(np.uint32)], "expected": {}}
        for t in TYPES:
            q = quantize(x.reshape(1, N), t)
            row["expected"][t.name] = q.tobytes().hex()
        out.append(row)
    path = os.path.join(ROOT, "tests", "data", "quant", "quantize_goldens.json")
    with open(path, "w") as f:
        json.dump({"generator": "gguf.quants.quantize", "n": N, "cases": out}, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path}: {len(out)} cases x {len(TYPES)} types")


if __name__ == "__main__":
    main()
