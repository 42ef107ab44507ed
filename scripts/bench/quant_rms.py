#!/usr/bin/env python3
"""Developer check (not a test): reel's quantizers against llama.cpp's on the same data.

    /tmp/quant-venv/bin/python scripts/bench/quant_rms.py --libreel build/lib/libreel.so

For each type reel writes, quantizes the same random rows with reel_kernels_quantize_row
(libreel) and with ggml_quantize_chunk (the libggml-base that llama-cpp-python ships, no
importance matrix), decodes BOTH with gguf-py's independent numpy dequantizer and prints the
round-trip RMS error over sigma, whether the bytes are identical, and whether reel's own
dequantizer agrees with gguf-py's on reel's bytes (a layout check). Data: Gaussian (sigma 1)
and uniform in [-1, 1).
"""
import argparse, ctypes, glob, os, sys

import numpy as np
from gguf import GGMLQuantizationType as QT
from gguf.quants import dequantize
from gguf.constants import GGML_QUANT_SIZES

TYPES = ["Q8_0", "Q4_0", "Q5_0", "Q5_1", "IQ4_NL", "Q4_K", "Q5_K", "Q6_K"]


def ggml_lib():
    import llama_cpp

    d = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    return ctypes.CDLL(sorted(glob.glob(os.path.join(d, "libggml-base.so*")))[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--libreel", default="build/lib/libreel.so")
    ap.add_argument("--rows", type=int, default=256)
    ap.add_argument("--cols", type=int, default=4096)
    a = ap.parse_args()
    reel = ctypes.CDLL(a.libreel)
    ggml = ggml_lib()
    reel.reel_kernels_quantize_row.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                               ctypes.c_int64]
    reel.reel_kernels_dequantize_row.argtypes = reel.reel_kernels_quantize_row.argtypes
    ggml.ggml_quantize_chunk.restype = ctypes.c_size_t
    ggml.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                         ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                                         ctypes.c_void_p]
    rng = np.random.default_rng(7)
    data = {
        "gauss": rng.standard_normal((a.rows, a.cols)).astype(np.float32),
        "uniform": rng.uniform(-1, 1, (a.rows, a.cols)).astype(np.float32),
    }
    print(f"{'type':8} {'data':8} {'reel rms/sd':>12} {'llama rms/sd':>13} {'same bytes':>11} "
          f"{'layout ok':>10}")
    for name in TYPES:
        t = QT[name]
        bs, bb = GGML_QUANT_SIZES[t]
        rb = a.cols // bs * bb
        ggml.ggml_quantize_init(int(t))
        for kind, x in data.items():
            x = np.ascontiguousarray(x)
            qr = np.zeros((a.rows, rb), np.uint8)
            for r in range(a.rows):
                rc = reel.reel_kernels_quantize_row(int(t), x[r].ctypes.data, qr[r].ctypes.data,
                                                    a.cols)
                assert rc == 0, (name, rc)
            ql = np.zeros((a.rows, rb), np.uint8)
            ggml.ggml_quantize_chunk(int(t), x.ctypes.data, ql.ctypes.data, 0, a.rows, a.cols, None)
            yr = dequantize(qr, t).reshape(a.rows, a.cols)
            yl = dequantize(ql, t).reshape(a.rows, a.cols)
            own = np.zeros_like(x)
            for r in range(a.rows):
                reel.reel_kernels_dequantize_row(int(t), qr[r].ctypes.data, own[r].ctypes.data,
                                                 a.cols)
            sd = float(x.std())
            er = float(np.sqrt(np.mean((x - yr) ** 2))) / sd
            el = float(np.sqrt(np.mean((x - yl) ** 2))) / sd
            same = bool(np.array_equal(qr, ql))
            layout = bool(np.allclose(own, yr, rtol=0, atol=1e-6 * float(np.abs(x).max())))
            print(f"{name:8} {kind:8} {er:12.5f} {el:13.5f} {str(same):>11} {str(layout):>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
