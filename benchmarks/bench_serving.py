"""HTTP serving benchmark: requests/s and p50/p99 latency at 1, 4, 16 concurrent clients on
loopback, with the dynamic batcher on and off, and the server's RSS over many requests.

    python benchmarks/bench_serving.py                      # shipped models
    python benchmarks/bench_serving.py --fake --requests 50 --rss-requests 500   # no models needed

Each configuration runs a real `ocrforge serve` process; clients are threads with their own
httpx connection. Prints one JSON object (also written to --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


class Server:
    def __init__(self, args, batching: bool, concurrency: int) -> None:
        self.port = free_port()
        cmd = [sys.executable, "-m", "ocrforge", "serve", "--port", str(self.port), "--threads", str(args.threads),
               "--max-concurrency", str(concurrency), "--max-queue", str(concurrency), "--log-level", "warning",
               "--batch-wait-ms", str(args.batch_wait_ms)]
        if not batching:
            cmd.append("--no-batching")
        if args.fake:
            cmd += ["--ocr-factory", "ocrforge.runtime.fakes:fake_ocr"]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit("server did not become ready")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def load(url: str, body: bytes, clients: int, total: int) -> dict:
    latencies, statuses = [], {}
    lock = threading.Lock()
    counter = iter(range(total))

    def client():
        with httpx.Client(timeout=120) as c:
            while True:
                with lock:
                    if next(counter, None) is None:
                        return
                t0 = time.perf_counter()
                r = c.post(url + "/v1/read?formats=txt", content=body)
                dt = time.perf_counter() - t0
                with lock:
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                    if r.status_code == 200:
                        latencies.append(dt)

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else None
    return {"clients": clients, "requests": total, "ok": len(latencies), "statuses": statuses,
            "rps": round(len(latencies) / wall, 2), "p50_ms": round(pct(0.50), 1), "p99_ms": round(pct(0.99), 1),
            "mean_ms": round(statistics.mean(latencies) * 1000, 1) if latencies else None}


def rss_run(url: str, pid: int, body: bytes, total: int, clients: int = 4) -> dict:
    samples = []
    done = [0]
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            samples.append((done[0], rss_mb(pid)))
            time.sleep(0.5)

    lock = threading.Lock()
    counter = iter(range(total))

    def client():
        with httpx.Client(timeout=120) as c:
            while True:
                with lock:
                    if next(counter, None) is None:
                        return
                c.post(url + "/v1/read?formats=txt", content=body)
                with lock:
                    done[0] += 1

    threading.Thread(target=sampler, daemon=True).start()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    samples.append((done[0], rss_mb(pid)))
    # Warm-up (first 10 %) excluded: allocator pools and lazily created buffers settle there.
    settled = [mb for n, mb in samples if n >= total * 0.1] or [samples[-1][1]]
    first, last = settled[0], settled[-1]
    return {"requests": total, "rss_start_mb": round(samples[0][1], 1), "rss_after_warmup_mb": round(first, 1),
            "rss_end_mb": round(last, 1), "rss_max_mb": round(max(mb for _, mb in samples), 1),
            "growth_after_warmup_pct": round(100 * (last - first) / first, 2)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--image", default=str(ROOT / "examples" / "receipt_sample.png"))
    p.add_argument("--fake", action="store_true", help="model-free fake OCR (ocrforge.runtime.fakes)")
    p.add_argument("--requests", type=int, default=200, help="requests per concurrency level")
    p.add_argument("--concurrency", default="1,4,16")
    p.add_argument("--rss-requests", type=int, default=10_000, help="0 skips the RSS run")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per model")
    p.add_argument("--batch-wait-ms", type=float, default=5.0)
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args(argv)
    body = Path(args.image).read_bytes()
    levels = [int(x) for x in args.concurrency.split(",")]
    result = {"machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus", "date": time.strftime("%F"),
              "image": args.image, "fake": args.fake, "runs": []}
    for batching in (True, False):
        server = Server(args, batching, max(levels))
        try:
            httpx.post(server.url + "/v1/read", content=body, timeout=120)  # warm-up
            for clients in levels:
                run = load(server.url, body, clients, args.requests)
                run["batching"] = batching
                result["runs"].append(run)
                print(json.dumps(run), file=sys.stderr, flush=True)
            if batching and args.rss_requests:
                result["rss"] = rss_run(server.url, server.proc.pid, body, args.rss_requests)
                print(json.dumps(result["rss"]), file=sys.stderr, flush=True)
        finally:
            server.stop()
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
