#!/usr/bin/env python3
"""`reel pull` against `curl` on the same file over loopback (developer benchmark, not a test).

    python3 scripts/bench/pull_rate.py --reel build/bin/reel --size-mb 1024 --rounds 6 --raw DIR

Makes a file of random bytes (--size-mb), serves it from a small stand-in for the Hugging Face
hub on 127.0.0.1 (the tree listing with the file's SHA-256 as its LFS oid, and
/resolve/main/FILE with ranges; Python's standard library, a thread per connection, the file
sent with sendfile), then alternates, round by round, `curl -s -o` of the file's URL and
`reel pull test/big-GGUF:Q4_0` into an empty store (the order swapped every round). Each
side's rate is its file size over its wall time (process start to exit), so reel's SHA-256
check and fsync of the download count against it, and curl checks nothing (--same-work: curl,
then sha256sum and sync of the file, reel's guarantees). Before each timed run the page cache's
dirty pages are written out (untimed): curl leaves its whole file dirty, and without that the
next run's own writes wait behind it, which penalised reel, whose fsync waits for the disk. Printed: both median rates
and the median per-round ratio reel / curl with its distribution-free 95% confidence interval.
"""
import argparse, hashlib, http.server, json, os, shutil, subprocess, sys, tempfile, threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchstats import cpu_model, median, median_ci  # noqa: E402

REPO, NAME = "test/big-GGUF", "big-Q4_0.gguf"


def make_file(path, size):
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            b = os.urandom(min(left, 1 << 22))
            f.write(b)
            h.update(b)
            left -= len(b)
    return h.hexdigest()


class Hub(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path.startswith(f"/api/models/{REPO}/tree/main"):
            body = json.dumps([{"type": "file", "oid": "0" * 40, "path": NAME,
                                "size": self.server.size,
                                "lfs": {"oid": self.server.sha, "size": self.server.size}}]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path != f"/{REPO}/resolve/main/{NAME}":
            self.send_error(404)
            return
        size, start = self.server.size, 0
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes=") and rng[6:].split("-")[0].isdigit():
            start = int(rng[6:].split("-")[0])
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        with open(self.server.file, "rb") as f:
            os.sendfile(self.wfile.fileno(), f.fileno(), start, size - start)


def timed(cmd, env=None):
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, env=env)
    dt = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"pull_rate: {' '.join(cmd)} failed ({out.returncode}): {out.stderr[-400:]!r}")
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reel", default="build/bin/reel")
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--dir", help="scratch folder (default: a new temporary one)")
    ap.add_argument("--same-work", action="store_true",
                    help="the peer also checks the SHA-256 and syncs the file (curl && sha256sum "
                         "&& sync FILE), as reel pull does")
    ap.add_argument("--raw", help="folder for every round's figures")
    args = ap.parse_args()
    if not shutil.which("curl"):
        sys.exit("pull_rate: curl is not installed (apt-get install curl)")
    work = args.dir or tempfile.mkdtemp(prefix="reel-pull-rate-")
    os.makedirs(work, exist_ok=True)
    src, size = os.path.join(work, "src.bin"), args.size_mb << 20
    print(f"pull_rate: writing {args.size_mb} MiB of random bytes to {src}", flush=True)
    sha = make_file(src, size)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    srv.file, srv.size, srv.sha = src, size, sha
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{srv.server_address[1]}"
    url = f"{endpoint}/{REPO}/resolve/main/{NAME}"
    store, dst = os.path.join(work, "store"), os.path.join(work, "curl.bin")
    env = dict(os.environ, HF_ENDPOINT=endpoint, REEL_MODELS=store)
    env.pop("REEL_OFFLINE", None)
    curl_v = subprocess.run(["curl", "--version"], capture_output=True, text=True).stdout
    rates = {"curl": [], "reel": []}
    ratios, rows = [], []
    for r in range(1, args.rounds + 1):
        order = ("curl", "reel") if r % 2 else ("reel", "curl")
        got = {}
        for k in order:
            shutil.rmtree(store, ignore_errors=True)
            if os.path.exists(dst):
                os.unlink(dst)
            os.sync()  # no dirty backlog from the previous run (see the docstring)
            if k == "curl" and args.same_work:
                # curl given reel's guarantees: the SHA-256 checked, the file on disk
                got[k] = timed(["sh", "-c", 'curl -s -f -o "$1" "$2" && sha256sum "$1" >/dev/null'
                                ' && sync "$1"', "sh", dst, url])
            elif k == "curl":
                got[k] = timed(["curl", "-s", "-f", "-o", dst, url])
            else:
                got[k] = timed([args.reel, "pull", f"{REPO}:Q4_0", "--json"], env)
        c, p = size / got["curl"] / 2**20, size / got["reel"] / 2**20
        rates["curl"].append(c)
        rates["reel"].append(p)
        ratios.append(p / c)
        rows.append({"round": r, "order": order, "curl_s": got["curl"], "reel_s": got["reel"]})
        print(f"round {r}/{args.rounds}: curl {c:.0f} MiB/s, reel pull {p:.0f} MiB/s, "
              f"ratio {p / c:.3f}", flush=True)
    shutil.rmtree(store, ignore_errors=True)
    srv.shutdown()
    ci = median_ci(ratios)
    cis = f"{ci[0]:.3f}-{ci[1]:.3f}" if ci else "n/a (fewer than 6 rounds)"
    summary = (f"CPU: {cpu_model()}; {args.size_mb} MiB over loopback, {args.rounds} rounds, "
               f"order alternating; {curl_v.splitlines()[0] if curl_v else 'curl'}"
               f"{' + sha256sum + sync' if args.same_work else ''}\n"
               f"curl {median(rates['curl']):.0f} MiB/s, reel pull {median(rates['reel']):.0f} "
               f"MiB/s (SHA-256 checked); reel / curl {median(ratios):.3f} (95% CI {cis})")
    print(summary)
    if args.raw:
        os.makedirs(args.raw, exist_ok=True)
        with open(os.path.join(args.raw, "rounds.json"), "w") as f:
            json.dump(rows, f, indent=1)
        with open(os.path.join(args.raw, "summary.txt"), "w") as f:
            f.write(summary + "\n")
    if not args.dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
