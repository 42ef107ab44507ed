#!/usr/bin/env python3
"""Two reel builds side by side on one model (developer benchmark, not a test).

    python3 scripts/bench/ab_reel.py --a /tmp/base/build/bin/reel --b build/bin/reel \
        -m /tmp/reel-bench/nano4b-random-q4_0.gguf -p 64 -n 32 -t 2 --rounds 8 --raw out.jsonl

Each round runs `reel bench --json -r 1` with both builds, the order alternating (A-B, then B-A),
so a drift of the machine's speed during a round weighs on both. For every test (ppN, tgN) it
prints both builds' medians and the median of the per-round ratios B/A with a 95% confidence
interval for that median (distribution-free, from the order statistics of the ratios), plus the
CPU model and the instruction level each build reports. --raw writes every run's JSON, one line
each, so the figures can be checked later. Standard library only.
"""
import argparse, json, math, subprocess, sys


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def median_ci(xs, level=0.95):
    """Distribution-free CI of the median: ranks from the binomial(n, 1/2) distribution."""
    s = sorted(xs)
    n = len(s)
    if n < 6:
        return None
    cdf, k = 0.0, 0
    probs = [math.comb(n, i) / 2 ** n for i in range(n + 1)]
    while k < n and cdf + probs[k] <= (1 - level) / 2:
        cdf += probs[k]
        k += 1
    lo, hi = k, n - 1 - k
    if lo >= hi:
        return None
    return s[lo], s[hi]


def run(binary, args, raw):
    cmd = [binary, "bench", "-m", args.model, "-p", str(args.p), "-n", str(args.n), "-t",
           str(args.threads), "-r", "1", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"ab_reel: {' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()[-400:]}")
    j = json.loads(out.stdout)
    if raw:
        raw.write(json.dumps({"binary": binary, "result": j}) + "\n")
        raw.flush()
    return j


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="the reference build's reel")
    ap.add_argument("--b", required=True, help="the build under test")
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-p", type=int, default=64)
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--raw", help="write every run's JSON here (JSON lines)")
    args = ap.parse_args()
    raw = open(args.raw, "w") if args.raw else None
    tps = {"a": {}, "b": {}}
    ratios = {}
    levels = {}
    for r in range(args.rounds):
        order = ("a", "b") if r % 2 == 0 else ("b", "a")
        got = {}
        for who in order:
            j = run(getattr(args, who), args, raw)
            levels[who] = j.get("backend", "?")
            got[who] = {t["test"]: t["tps"] for t in j["results"]}
            for test, v in got[who].items():
                tps[who].setdefault(test, []).append(v)
        for test in got["a"]:
            ratios.setdefault(test, []).append(got["b"][test] / got["a"][test])
        print(f"round {r + 1}/{args.rounds} ({order[0].upper()} first): " +
              ", ".join(f"{t} B/A {got['b'][t] / got['a'][t]:.3f}" for t in got["a"]), flush=True)
    print(f"\nCPU: {cpu_model()}; A {args.a} ({levels.get('a')}), B {args.b} ({levels.get('b')}); "
          f"{args.threads} threads; {args.rounds} rounds, order alternating")
    print("| test | A t/s (median) | B t/s (median) | B/A (median of rounds) | 95% CI |")
    print("| --- | ---: | ---: | ---: | --- |")
    for test in ratios:
        ci = median_ci(ratios[test])
        cis = f"{ci[0]:.3f}–{ci[1]:.3f}" if ci else "too few rounds"
        print(f"| {test} | {median(tps['a'][test]):.2f} | {median(tps['b'][test]):.2f} | "
              f"{median(ratios[test]):.3f} | {cis} |")


if __name__ == "__main__":
    main()
