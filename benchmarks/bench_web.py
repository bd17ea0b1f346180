"""Browser read time: the built web page reading the sample receipt in headless Chromium.

    python benchmarks/bench_web.py                   # build with the shipped models, 10 warm reads
    python benchmarks/bench_web.py --no-build --runs 20 --image examples/receipt_sample.png

Target (issue 7): the sample reads in < 1 s. Reported per configuration (one WebAssembly thread on
a plain page; up to 4 threads on a cross-origin-isolated page): page start (OpenCV.js + both ONNX
sessions), the first read, and the median / p90 / best of the warm reads (decode + detect + crop +
recognize + decode, timed inside the page), with the number of lines read. Needs Node >= 20, npm
and Chromium (Debian ``chromium``), like tests/test_web_e2e.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT / "web"


def _build(det: str | None, rec: str | None) -> None:
    env = dict(os.environ)
    if det:
        env["OCRFORGE_DET_MODEL"] = str(Path(det).resolve())
    if rec:
        env["OCRFORGE_REC_MODEL"] = str(Path(rec).resolve())
    if not (WEB / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEB, env=env, check=True)
    subprocess.run(["npm", "run", "build"], cwd=WEB, env=env, check=True, stdout=subprocess.DEVNULL)


def _measure(image: Path, runs: int, isolated: bool, threads: int, chromium: str) -> dict:
    cmd = ["node", "tests/e2e.mjs", "--image", str(image), "--runs", str(runs), "--chromium", chromium,
           "--threads", str(threads)]
    if isolated:
        cmd.append("--isolated")
    proc = subprocess.run(cmd, cwd=WEB, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"e2e run failed: {proc.stderr.strip()}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    warm = sorted(r["totalMs"] for r in report["warmReads"])
    return {
        "config": f"{'isolated' if isolated else 'plain'} page, threads={threads or 'auto'}",
        "cross_origin_isolated": report["crossOriginIsolated"],
        "lines": len(report["lines"]),
        "page_start_ms": report["pageLoadMs"],
        "first_read_ms": round(report["firstRead"]["totalMs"], 1),
        "warm_median_ms": round(statistics.median(warm), 1),
        "warm_p90_ms": round(warm[min(len(warm) - 1, int(0.9 * len(warm)))], 1),
        "warm_best_ms": round(warm[0], 1),
        "detect_median_ms": round(statistics.median(r["detectMs"] for r in report["warmReads"]), 1),
        "recognize_median_ms": round(statistics.median(r["recognizeMs"] for r in report["warmReads"]), 1),
        "chromium": report["chromium"],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--image", default=str(ROOT / "examples" / "receipt_sample.png"))
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--no-build", action="store_true", help="use the existing web/dist")
    p.add_argument("--det-model", help="detector .onnx (default: the shipped one)")
    p.add_argument("--rec-model", help="recognizer .onnx (default: the shipped one)")
    p.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    if not args.no_build:
        _build(args.det_model, args.rec_model)
    results = [_measure(Path(args.image).resolve(), args.runs, False, 1, args.chromium),
               _measure(Path(args.image).resolve(), args.runs, True, 0, args.chromium)]
    meta = {"date": dt.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "image": Path(args.image).name, "runs": args.runs}
    print(json.dumps(meta))
    print("| page | lines | start ms | first read ms | warm median ms | p90 | best | detect | recognize |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['config']} | {r['lines']} | {r['page_start_ms']} | {r['first_read_ms']} | {r['warm_median_ms']} | "
              f"{r['warm_p90_ms']} | {r['warm_best_ms']} | {r['detect_median_ms']} | {r['recognize_median_ms']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
