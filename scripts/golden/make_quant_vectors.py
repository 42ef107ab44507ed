#!/usr/bin/env python3
"""Reference dequantization vectors for the GGML block types reel reads (developer tool).

Random block bytes (with the f16 scale fields set to finite values) are decoded by gguf-py's
numpy reference (gguf.quants.dequantize, the Python twin of ggml's C code) and written to
tests/data/quant/vectors.json: per type the raw bytes (hex) and the expected floats.

Needs: pip install gguf numpy     Run: python3 scripts/golden/make_quant_vectors.py
"""
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# type: (block bytes, offsets of f16 scale fields inside a block)
TYPES = {
    T.Q4_0: (18, [0]), T.Q4_1: (20, [0, 2]), T.Q5_0: (22, [0]), T.Q5_1: (24, [0, 2]),
    T.Q8_0: (34, [0]), T.IQ4_NL: (18, [0]), T.Q2_K: (84, [80, 82]), T.Q3_K: (110, [108]),
    T.Q4_K: (144, [0, 2]), T.Q5_K: (176, [0, 2]), T.Q6_K: (210, [208]),
}


def main():
    rng = np.random.default_rng(1234)
    out = []
    for t, (bb, f16_offsets) in TYPES.items():
        nblocks = 3
        raw = bytearray(rng.integers(0, 256, size=bb * nblocks, dtype=np.uint8).tobytes())
        for b in range(nblocks):
            for off in f16_offsets:
                v = np.float16(rng.uniform(0.002, 0.2) * rng.choice([-1, 1]))
                raw[b * bb + off:b * bb + off + 2] = v.tobytes()
        vals = dequantize(np.frombuffer(bytes(raw), dtype=np.uint8), t).astype(np.float32)
        assert np.all(np.isfinite(vals))
        out.append({"type": int(t), "name": t.name, "hex": bytes(raw).hex(),
                    "values": [float("%.9g" % v) for v in vals.ravel()]})
    path = os.path.join(ROOT, "tests", "data", "quant", "vectors.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
