#!/usr/bin/env python3
"""Two reel builds side by side on one model (developer benchmark, not a test): the check that a
change kept the speed.

    python3 scripts/bench/ab_reel.py --a /tmp/base/build/bin/reel --b build/bin/reel \
        -m /tmp/reel-bench/nano4b-random-q4_0.gguf -p 64 -n 32 -t 2 --rounds 10 --raw DIR

Each round runs `reel bench --json -r 1` with both builds, the order alternating (A-B, then B-A),
so a drift of the machine's speed weighs on both. For every test (ppN, tgN) it prints both
builds' medians and the median of the per-round ratios B/A with its distribution-free 95%
confidence interval (benchstats.median_ci), the CPU model and the instruction level each build
reports. --raw DIR keeps every run's JSON (DIR/round<i>-<a|b>.json) so the table can be checked.
"""
import argparse, json, os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchstats import cpu_model, median, median_ci  # noqa: E402


def run(binary, args):
    cmd = [binary, "bench", "-m", args.model, "-p", str(args.p), "-n", str(args.n), "-t",
           str(args.threads), "-r", "1", "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"ab_reel: {' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()[-400:]}")
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="the reference build's reel")
    ap.add_argument("--b", required=True, help="the build under test")
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-p", type=int, default=64)
    ap.add_argument("-n", type=int, default=32)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--raw", help="folder for every run's JSON")
    args = ap.parse_args()
    if args.raw:
        os.makedirs(args.raw, exist_ok=True)
    tps, ratios, levels = {"a": {}, "b": {}}, {}, {}
    for r in range(args.rounds):
        order = ("a", "b") if r % 2 == 0 else ("b", "a")
        got = {}
        for who in order:
            j = run(getattr(args, who), args)
            if args.raw:
                with open(os.path.join(args.raw, f"round{r + 1}-{who}.json"), "w") as f:
                    json.dump({"binary": getattr(args, who), "order": order.index(who), "result": j}, f)
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
