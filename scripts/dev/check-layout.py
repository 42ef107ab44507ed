#!/usr/bin/env python3
"""House rules a build can check: no two source files call into each other in a circle, and no
source file grows past the size a reader can hold in mind.

  scripts/dev/check-layout.py BUILD_DIR      exit 1 and name the files when a rule is broken

Circles are found from the object files of the library and the CLI: a file depends on another
when it uses a symbol the other defines (nm). Tests, fuzz targets and benchmarks are not counted.
"""
import os
import re
import subprocess
import sys

MAX_LINES = 900
# generated or tabular files that may be longer (none today)
LONG_OK = set()
SOURCE_DIRS = ("core", "kernels", "llm", "pipeline", "serve", "plugins", "cli")


def objects(build):
    for root, _, files in os.walk(build):
        if "/tests" in root or "CMakeFiles" not in root:
            continue
        for f in files:
            if f.endswith(".o"):
                yield os.path.join(root, f)


def source_of(obj):
    # build/llm/CMakeFiles/reel_llm.dir/grammar-parse.c.o -> llm/grammar-parse.c
    m = re.search(r"/([^/]+)/CMakeFiles/[^/]+\.dir/(.+)\.o$", obj)
    if not m:
        return None
    return m.group(2) if m.group(2).startswith(SOURCE_DIRS) else f"{m.group(1)}/{m.group(2)}"


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    defined, used = {}, {}
    for obj in objects(build):
        src = source_of(obj)
        if not src or not src.startswith(SOURCE_DIRS):
            continue
        out = subprocess.run(["nm", obj], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "U":
                used.setdefault(src, set()).add(parts[1])
            elif len(parts) == 3 and parts[1] in "TDBRV":
                defined[parts[2]] = src
    if not defined:
        print(f"check-layout: no object files under {build}", file=sys.stderr)
        return 1
    edges = {s: {defined[u] for u in syms if u in defined and defined[u] != s}
             for s, syms in used.items()}
    # Tarjan's strongly connected components, iteratively.
    index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter[0]; counter[0] += 1
        stack.append(start); on.add(start)
        while work:
            v, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]; counter[0] += 1
                    stack.append(nxt); on.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                elif nxt in on:
                    low[v] = min(low[v], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop(); on.discard(w); comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    sccs.append(sorted(comp))
    bad = 0
    for comp in sccs:
        print("check-layout: these files call into each other in a circle: " + ", ".join(comp))
        bad += 1
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for d in SOURCE_DIRS:
        for root, _, files in os.walk(os.path.join(top, d)):
            for f in files:
                if f.endswith((".c", ".h", ".cu")):
                    p = os.path.join(root, f)
                    rel = os.path.relpath(p, top)
                    with open(p, encoding="utf-8", errors="replace") as fh:
                        n = sum(1 for _ in fh)
                    if n > MAX_LINES and rel not in LONG_OK:
                        print(f"check-layout: {rel} has {n} lines (more than {MAX_LINES}): cut it at a seam")
                        bad += 1
    if bad == 0:
        print(f"check-layout: no circles among {len(edges)} files, none over {MAX_LINES} lines")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
