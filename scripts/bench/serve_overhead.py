#!/usr/bin/env python3
"""What `reel serve` costs over `reel generate` for the same work (developer benchmark, not a
test), and whether it holds up under concurrent clients.

    python3 scripts/bench/serve_overhead.py --reel build/bin/reel \
        -m /tmp/reel-bench/nano4b-random-q4_0.gguf -n 64 -t 2 --rounds 10 --raw DIR
    python3 scripts/bench/serve_overhead.py --reel build/bin/reel \
        -m tests/data/models/gguf/tiny-b-f16.gguf --clients 16 --requests 8

Overhead mode: one server stays up; each round runs, in alternating order, `reel generate -v`
(greedy, the prompt and token count below) and the same request to /v1/completions
(temperature 0, max_tokens N). generate's own timing line gives its compute time (prompt +
answer, model loading excluded); the server side is the client's wall time from sending the
request to the last byte of the answer, so HTTP, JSON, queueing and the server's tokenization
are all charged to the server. Printed: the median per-round ratio serve / generate with its
distribution-free 95% confidence interval, and the time per generated token of each.

Clients mode: --clients C threads each send --requests R streaming and non-streaming chat
requests at once; printed are the failures (any non-200 answer, a broken stream, an answer
without content) and the requests per second.
"""
import argparse, http.client, json, os, re, socket, subprocess, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchstats import cpu_model, median, median_ci  # noqa: E402

PROMPT_LINE = re.compile(r"prompt (\d+) tokens in ([0-9.]+) s")
ANSWER_LINE = re.compile(r"(\d+) tokens in ([0-9.]+) s \(([0-9.]+) tok/s\)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args, port):
    cmd = [args.reel, "serve", "-m", args.model, "--port", str(port), "-t", str(args.threads),
           "--parallel", str(max(1, args.parallel))]
    srv = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(600):
        if srv.poll() is not None:
            sys.exit(f"serve_overhead: {' '.join(cmd)} exited: {srv.stderr.read()[-400:]}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return srv
        except OSError:
            pass
        time.sleep(0.2)
    srv.kill()
    sys.exit("serve_overhead: the server did not come up in 120 s")


def post(port, path, body, timeout=600):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def run_generate(args):
    cmd = [args.reel, "generate", "-m", args.model, "-p", args.prompt, "-n", str(args.n), "-t",
           str(args.threads), "--temp", "0", "-v"]
    out = subprocess.run(cmd, capture_output=True, encoding="utf-8", errors="replace")
    if out.returncode != 0:
        sys.exit(f"serve_overhead: {' '.join(cmd)} failed: {out.stderr[-400:]}")
    line = [l for l in out.stderr.splitlines() if "tok/s" in l][-1]
    p = PROMPT_LINE.search(line)
    a = ANSWER_LINE.findall(line)[-1]
    return {"seconds": float(p.group(2)) + float(a[1]), "tokens": int(a[0]), "line": line}


def run_serve(args, port):
    body = {"model": "m", "prompt": args.prompt, "max_tokens": args.n, "temperature": 0}
    t0 = time.perf_counter()
    status, data = post(port, "/v1/completions", body)
    dt = time.perf_counter() - t0
    if status != 200:
        sys.exit(f"serve_overhead: /v1/completions answered {status}: {data[:300]!r}")
    usage = json.loads(data).get("usage", {})
    return {"seconds": dt, "tokens": usage.get("completion_tokens", 0), "usage": usage}


def overhead(args):
    port = free_port()
    srv = start_server(args, port)
    try:
        run_serve(args, port)  # the server's first request maps the weights in: not measured
        ratios, gen_tok, srv_tok = [], [], []
        if args.raw:
            os.makedirs(args.raw, exist_ok=True)
        for r in range(1, args.rounds + 1):
            order = ("gen", "serve") if r % 2 else ("serve", "gen")
            got = {}
            for k in order:
                got[k] = run_generate(args) if k == "gen" else run_serve(args, port)
            g, s = got["gen"], got["serve"]
            if g["tokens"] != s["tokens"]:
                print(f"round {r}: token counts differ (generate {g['tokens']}, serve "
                      f"{s['tokens']}); compared per token")
            gt, st = g["seconds"] / max(1, g["tokens"]), s["seconds"] / max(1, s["tokens"])
            ratios.append(st / gt)
            gen_tok.append(gt * 1e3)
            srv_tok.append(st * 1e3)
            print(f"round {r}/{args.rounds}: generate {gt * 1e3:.2f} ms/token, serve "
                  f"{st * 1e3:.2f} ms/token, ratio {st / gt:.3f}", flush=True)
            if args.raw:
                with open(os.path.join(args.raw, f"round{r:02d}.json"), "w") as f:
                    json.dump({"generate": g, "serve": s}, f, indent=1)
        ci = median_ci(ratios)
        cis = f"{ci[0]:.3f}-{ci[1]:.3f}" if ci else "n/a (fewer than 6 rounds)"
        print(f"CPU: {cpu_model()}; {args.threads} threads; {args.rounds} rounds, order "
              f"alternating; {args.n} tokens")
        print(f"generate {median(gen_tok):.2f} ms/token, serve {median(srv_tok):.2f} ms/token; "
              f"serve / generate {median(ratios):.3f} (95% CI {cis})")
    finally:
        srv.terminate()
        srv.wait()


def one_client(port, requests, n, failures, done, chat):
    for i in range(requests):
        stream = i % 2 == 1
        body = {"model": "m", "max_tokens": n, "stream": stream}
        if chat:
            body["messages"] = [{"role": "user", "content": f"client request {i}"}]
        else:  # a model file without a chat template
            body["prompt"] = f"client request {i}:"
        try:
            status, data = post(port, "/v1/chat/completions" if chat else "/v1/completions", body,
                                timeout=300)
            ok = status == 200
            if ok and stream:
                lines = [l for l in data.decode().splitlines() if l.startswith("data: ")]
                ok = lines and lines[-1] == "data: [DONE]"
            elif ok:
                c = json.loads(data)["choices"][0]
                ok = "content" in c["message"] if chat else "text" in c
        except (OSError, ValueError, KeyError) as e:
            ok = False
            status = repr(e)
        if ok:
            done.append(1)
        else:
            failures.append(status)


def clients(args):
    port = free_port()
    srv = start_server(args, port)
    try:
        failures, done = [], []
        ts = [threading.Thread(target=one_client, args=(port, args.requests, args.n, failures,
                                                        done, not args.completions))
              for _ in range(args.clients)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        dt = time.perf_counter() - t0
        print(f"CPU: {cpu_model()}; {args.clients} clients x {args.requests} requests "
              f"({args.n} tokens each, --parallel {args.parallel}): {len(done)} answered, "
              f"{len(failures)} failed, {len(done) / dt:.2f} requests/s, "
              f"{len(done) * args.n / dt:.1f} tokens/s at most")
        if failures:
            print(f"failures: {failures[:10]}")
            sys.exit(1)
    finally:
        srv.terminate()
        srv.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reel", default="build/bin/reel")
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("-p", "--prompt", default="Describe the film in one paragraph:")
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("-t", "--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--clients", type=int, default=0, help="concurrent clients mode")
    ap.add_argument("--requests", type=int, default=8, help="requests per client")
    ap.add_argument("--completions", action="store_true",
                    help="clients mode: /v1/completions (for a model without a chat template)")
    ap.add_argument("--raw", help="folder for every round's figures")
    args = ap.parse_args()
    clients(args) if args.clients else overhead(args)


if __name__ == "__main__":
    main()
