"""Batch job benchmark: pages/s of `ocrforge batch`, and a job killed (kill -9) at random points
several times then resumed, counting inputs lost or duplicated.

    python benchmarks/bench_batch.py --input /work/shared/data/sroie/img --limit 100
    python benchmarks/bench_batch.py --fake --synthetic 40        # no models needed

Prints one JSON object (also written to --out).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ".ocrforge-batch.sqlite"
SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pdf"}


def make_synthetic(folder: Path, n: int) -> None:
    import cv2
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.full((420, 600, 3), 255, np.uint8)
        for r in range(10):
            cv2.putText(img, f"Item {i}-{r}   x{r + 1}   {3.5 * (r + 1):.2f}", (20, 40 * r + 40),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
        cv2.imwrite(str(folder / f"page{i:04d}.png"), img)


def link_inputs(src: Path, dst: Path, limit: int) -> int:
    dst.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in src.rglob("*") if p.suffix.lower() in SUFFIXES)[:limit or None]
    for p in files:
        os.symlink(p.resolve(), dst / p.name)
    return len(files)


def command(args, inp: Path, out: Path):
    cmd = [sys.executable, "-m", "ocrforge", "batch", str(inp), "-o", str(out), "-f", args.formats,
           "--workers", str(args.workers), "--threads", str(args.threads), "-q"]
    if args.fake:
        cmd += ["--ocr-factory", "ocrforge.runtime.fakes:fake_ocr"]
    return cmd


def env():
    return dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
                PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))


def manifest_rows(out: Path):
    db = sqlite3.connect(f"file:{out / MANIFEST}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT input, out_stem, state, pages, outputs FROM items").fetchall()
    finally:
        db.close()


def audit(inp: Path, out: Path, formats) -> dict:
    """Lost: an input with no done/error record or missing outputs. Duplicated: any output file not
    exactly one-per-input-per-format (e.g. copies under other names) or a repeated record."""
    from ocrforge.formats import parse_formats

    inputs = sorted(str(p.resolve()) for p in inp.iterdir() if p.suffix.lower() in SUFFIXES)
    rows = manifest_rows(out)
    by_input = {}
    for source, stem, state, pages, outputs in rows:
        by_input.setdefault(source, []).append((stem, state, json.loads(outputs)))
    exts = [w.extension for w in parse_formats(formats)]
    expected_files = set()
    lost = 0
    for source in inputs:
        rec = by_input.get(os.path.realpath(source)) or by_input.get(source)
        if not rec or rec[0][1] not in ("done", "error"):
            lost += 1
            continue
        stem, state, outputs = rec[0]
        if state == "done":
            names = {Path(o).name for o in outputs}
            expected_files |= names
            if not all(any(n.endswith(e) for n in names) for e in exts) or not all((out / n).exists() for n in names):
                lost += 1
    actual = {p.name for p in out.iterdir() if p.is_file() and not p.name.startswith((".", "_batch_summary"))}
    return {"inputs": len(inputs), "records": len(rows), "lost": lost,
            "duplicated": len(actual - expected_files) + sum(len(v) - 1 for v in by_input.values()),
            "errors": sum(1 for r in rows if r[2] == "error")}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", help="folder of images/PDFs (default: synthetic pages)")
    p.add_argument("--limit", type=int, default=0, help="use the first N inputs")
    p.add_argument("--synthetic", type=int, default=40, help="synthetic pages when no --input")
    p.add_argument("--fake", action="store_true", help="model-free fake OCR (ocrforge.runtime.fakes)")
    p.add_argument("--formats", default="txt,json")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--kills", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="also write the JSON here")
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    try:
        inp = work / "in"
        if args.input:
            n = link_inputs(Path(args.input), inp, args.limit)
        else:
            make_synthetic(inp, args.synthetic)
            n = args.synthetic
        result = {"machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
                  "date": time.strftime("%F"), "inputs": n, "workers": args.workers, "fake": args.fake}

        # 1. Throughput of one uninterrupted job.
        out = work / "out_clean"
        t0 = time.perf_counter()
        subprocess.run(command(args, inp, out), env=env(), check=False, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        pages = sum(r[3] for r in manifest_rows(out))
        result["clean"] = {"seconds": round(wall, 2), "pages": pages, "pages_per_s": round(pages / wall, 3),
                           **audit(inp, out, args.formats)}
        print(json.dumps(result["clean"]), file=sys.stderr, flush=True)

        # 2. The same job killed at random points, then resumed until it completes.
        out = work / "out_killed"
        kills = []
        for k in range(args.kills):
            # Aim inside the work still left, so every kill lands mid-job rather than after it.
            left = n - (sum(1 for r in manifest_rows(out) if r[2] == "done") if (out / MANIFEST).exists() else 0)
            delay = rng.uniform(0.3, 0.8) * max(1.0, wall * left / max(1, n))
            proc = subprocess.Popen(command(args, inp, out), env=env(), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                proc.wait(timeout=delay)
                kills.append({"after_s": round(delay, 2), "killed": False})
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                done = sum(1 for r in manifest_rows(out) if r[2] == "done") if (out / MANIFEST).exists() else 0
                kills.append({"after_s": round(delay, 2), "killed": True, "done_at_kill": done})
        final = subprocess.run(command(args, inp, out), env=env(), stdout=subprocess.DEVNULL)
        result["killed"] = {"kills": kills, "final_exit": final.returncode, **audit(inp, out, args.formats)}
        print(json.dumps(result["killed"]), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0 if result["killed"]["lost"] == 0 and result["killed"]["duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
