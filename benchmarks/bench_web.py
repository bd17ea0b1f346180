"""Browser read time: the built web page reading the sample receipt in headless Chromium.

    python benchmarks/bench_web.py                   # build with the shipped models, 5 cold opens
    python benchmarks/bench_web.py --no-build --opens 9 --runs 5 --image examples/receipt_sample.png
    python benchmarks/bench_web.py --dist /tmp/old_dist   # an earlier build, for before/after

Target (issue 7): the sample reads in < 1 s. Reported per configuration (one WebAssembly thread on
a plain page; up to 4 threads on a cross-origin-isolated page), as medians over `--opens` cold page
opens (each a fresh browser profile, the image handed over as soon as the page's script runs):
"open -> text" (navigation start to the first text on screen: start-up and first read together),
"start" (navigation start to models loaded), the first read, and the median / p90 / best of the
warm reads pooled over all opens (decode + detect + crop + recognize + decode, timed inside the
page), with the number of lines read. All times are the page's own clock. Needs Node >= 20, npm
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


def _open_once(image: Path, runs: int, isolated: bool, threads: int, chromium: str, dist: Path | None,
               revisit: bool = False) -> dict:
    cmd = ["node", "tests/e2e.mjs", "--image", str(image), "--runs", str(runs), "--chromium", chromium,
           "--threads", str(threads)]
    if revisit:
        cmd.append("--revisit")
    if dist is not None:
        cmd += ["--dist", str(dist)]
    if isolated:
        cmd.append("--isolated")
    proc = subprocess.run(cmd, cwd=WEB, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"e2e run failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _measure(image: Path, runs: int, opens: int, isolated: bool, threads: int, chromium: str,
             dist: Path | None, revisit: bool = False) -> dict:
    reports = [_open_once(image, runs, isolated, threads, chromium, dist, revisit) for _ in range(opens)]
    again = [rep["revisit"] for rep in reports if rep.get("revisit")]
    warm = sorted(r["totalMs"] for rep in reports for r in rep["warmReads"])
    med = lambda xs: round(statistics.median(xs), 1)  # noqa: E731
    steps = sorted({k for rep in reports for k in rep.get("startup", {})})
    return {
        "config": f"{'isolated' if isolated else 'plain'} page, threads={threads or 'auto'}",
        "cross_origin_isolated": reports[0]["crossOriginIsolated"],
        "lines": len(reports[0]["lines"]),
        "opens": opens,
        "open_to_text_ms": med([rep["firstTextMs"] for rep in reports]),
        "open_to_text_all_ms": [round(rep["firstTextMs"]) for rep in reports],
        "page_start_ms": med([rep["pageLoadMs"] for rep in reports]),
        "page_start_all_ms": [round(rep["pageLoadMs"]) for rep in reports],
        "first_read_ms": med([rep["firstRead"]["totalMs"] for rep in reports]),
        "first_read_all_ms": [round(rep["firstRead"]["totalMs"]) for rep in reports],
        "warm_all_ms": [round(w) for w in warm],
        "warm_median_ms": med(warm) if warm else None,
        "warm_p90_ms": round(warm[min(len(warm) - 1, int(0.9 * len(warm)))], 1) if warm else None,
        "warm_best_ms": round(warm[0], 1) if warm else None,
        "detect_median_ms": med([r["detectMs"] for rep in reports for r in rep["warmReads"]]) if warm else None,
        "recognize_median_ms": med([r["recognizeMs"] for rep in reports for r in rep["warmReads"]]) if warm else None,
        # the upside-down check (and, on a turned page, the second detection); absent in older builds
        "orient_median_ms": med([r.get("orientMs", 0.0) for rep in reports for r in rep["warmReads"]]) if warm else None,
        # median ms since navigation start at which each start-up step finished (the page's marks)
        "startup_median_ms": {k: med([rep["startup"][k] for rep in reports if k in rep.get("startup", {})])
                              for k in steps},
        "chromium": reports[0]["chromium"],
        # the same profile opening the page again, files served cacheable (--revisit)
        "revisit_open_to_text_ms": med([r["firstTextMs"] for r in again]) if again else None,
        "revisit_open_to_text_all_ms": [round(r["firstTextMs"]) for r in again],
        "revisit_page_start_ms": med([r["pageLoadMs"] for r in again]) if again else None,
        "revisit_same_text": all(r["sameText"] for r in again) if again else None,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--image", default=str(ROOT / "examples" / "receipt_sample.png"))
    p.add_argument("--runs", type=int, default=5, help="warm reads after the first, per page open")
    p.add_argument("--opens", type=int, default=5, help="cold page opens per configuration (medians)")
    p.add_argument("--no-build", action="store_true", help="use the existing web/dist")
    p.add_argument("--dist", help="measure this built folder instead of web/dist (implies --no-build)")
    p.add_argument("--det-model", help="detector .onnx (default: the shipped one)")
    p.add_argument("--rec-model", help="recognizer .onnx (default: the shipped one)")
    p.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--revisit", action="store_true",
                   help="serve the files cacheable and, after each open, open the page again in the same profile "
                        "(a returning visitor): reported as revisit open -> text")
    args = p.parse_args(argv)
    dist = Path(args.dist).resolve() if args.dist else None
    if not args.no_build and dist is None:
        _build(args.det_model, args.rec_model)
    image = Path(args.image).resolve()
    results = [_measure(image, args.runs, args.opens, False, 1, args.chromium, dist, args.revisit),
               _measure(image, args.runs, args.opens, True, 0, args.chromium, dist, args.revisit)]
    meta = {"date": dt.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "load_avg_1min": round(os.getloadavg()[0], 2), "image": Path(args.image).name, "runs": args.runs,
            "opens": args.opens, "dist": str(dist or WEB / "dist")}
    print(json.dumps(meta))
    print("| page | lines | open -> text ms | start ms | first read ms | warm median ms | p90 | best | detect | orient | "
          "recognize |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['config']} | {r['lines']} | {r['open_to_text_ms']} | {r['page_start_ms']} | {r['first_read_ms']} | "
              f"{r['warm_median_ms']} | {r['warm_p90_ms']} | {r['warm_best_ms']} | {r['detect_median_ms']} | "
              f"{r['orient_median_ms']} | {r['recognize_median_ms']} |")
    for r in results:
        print(f"{r['config']}: open -> text per open {r['open_to_text_all_ms']}; start-up steps (median ms) "
              f"{json.dumps(r['startup_median_ms'])}")
        if r["revisit_open_to_text_ms"] is not None:
            print(f"{r['config']}: revisit (same profile, cached files) open -> text median {r['revisit_open_to_text_ms']} "
                  f"ms, per open {r['revisit_open_to_text_all_ms']}, start {r['revisit_page_start_ms']} ms, "
                  f"same text: {r['revisit_same_text']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
