#!/usr/bin/env python3
"""Grammar-constrained vs free decoding, side by side (developer benchmark, not a test): what a
JSON schema costs per generated token.

    python3 scripts/bench/constrained_decode.py --reel build/bin/reel \
        -m /tmp/reel-bench/nano4b-random-q4_0.gguf --schema scripts/bench/schemas/shots_patterns.json \
        -n 64 -t 2 --rounds 10 --raw DIR

Each round runs `reel generate -v` twice on the same prompt and seed, once free and once with
--json-schema, the order alternating (free first in odd rounds), and reads the decode rate
(tokens/s of the generated tokens, prompt excluded) from reel's timing line. Printed: both
medians and the median of the per-round ratios constrained / free with its distribution-free
95% confidence interval (benchstats.median_ci). A schema file may be a bare schema or a corpus
file with a "schema" key (tests/data/schemas); it must bound the answer's length, since a
random-weight model writes strings to their limits (scripts/bench/schemas/shots_patterns.json).
--raw DIR keeps every run's timing line.
"""
import argparse, json, os, re, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchstats import cpu_model, median, median_ci  # noqa: E402

TIMING = re.compile(r"(\d+) tokens in ([0-9.]+) s \(([0-9.]+) tok/s\)")


def run(args, schema_file):
    cmd = [args.reel, "generate", "-m", args.model, "-p", args.prompt, "-n", str(args.n), "-t",
           str(args.threads), "--seed", "1", "-v"]
    if schema_file:
        cmd += ["--json-schema", schema_file, "--no-schema-prompt"]  # the same prompt for both
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"constrained_decode: {' '.join(cmd)} failed ({out.returncode}): "
                 f"{out.stderr.strip()[-400:]}")
    line = [l for l in out.stderr.splitlines() if "tok/s" in l][-1]
    m = TIMING.findall(line)[-1]
    return {"tokens": int(m[0]), "seconds": float(m[1]), "tok_s": float(m[2]), "line": line}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reel", default="build/bin/reel")
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--schema", required=True)
    ap.add_argument("-p", "--prompt", default="Describe the film as JSON:")
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--raw", help="folder for every run's timing line")
    args = ap.parse_args()
    doc = json.load(open(args.schema))
    schema = doc["schema"] if isinstance(doc, dict) and "schema" in doc else doc
    tmp = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump(schema, tmp)
    tmp.close()
    if args.raw:
        os.makedirs(args.raw, exist_ok=True)
    free, cons, ratios = [], [], []
    for r in range(1, args.rounds + 1):
        order = [("free", None), ("schema", tmp.name)]
        if r % 2 == 0:
            order.reverse()
        got = {}
        for name, sf in order:
            got[name] = run(args, sf)
            if args.raw:
                with open(os.path.join(args.raw, f"round{r:02d}-{name}.json"), "w") as f:
                    json.dump(got[name], f)
        free.append(got["free"]["tok_s"])
        cons.append(got["schema"]["tok_s"])
        ratios.append(cons[-1] / free[-1])
        print(f"round {r}/{args.rounds}: free {free[-1]:.2f} tok/s ({got['free']['tokens']}), "
              f"schema {cons[-1]:.2f} tok/s ({got['schema']['tokens']}), "
              f"ratio {ratios[-1]:.3f}", flush=True)
    os.unlink(tmp.name)
    ci = median_ci(ratios)
    ci_text = f"95% CI {ci[0]:.3f}-{ci[1]:.3f}" if ci else "no 95% CI below 6 rounds"
    print(f"CPU: {cpu_model()}; {args.threads} threads; {args.rounds} rounds, order alternating; "
          f"schema {args.schema}")
    print(f"free {median(free):.2f} tok/s, constrained {median(cons):.2f} tok/s; "
          f"constrained / free {median(ratios):.3f} ({ci_text})")


if __name__ == "__main__":
    main()
