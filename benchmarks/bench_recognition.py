"""Line recognition beside the peers, in one run, on one machine, at the same thread count.

    python benchmarks/bench_recognition.py --threads 2 --out results/rec

Sets (ocrbench, `--tasks lines`: ground-truth crops, case-insensitive CER is the fair SROIE row):
  sroie_eval   SROIE dev ids with id % 5 == 4 (never used for training; ids % 5 in 1,2,3 train)
  zh_heldout   synthetic Chinese lines in fonts no training data uses (benchmarks/make_line_sets.py)
  latin_heldout  the same for Latin lines
Engines: ocrforge (shipped recognizer, in-process), RapidOCR 1.4.4 (PP-OCRv4 mobile rec, ONNX
Runtime) and Tesseract 5 (eng, or eng+chi_sim on Chinese) from the peers' virtualenv
(`/tmp/venv-peers`, see ../shared/tools/ocrbench/README.md). Hard synthetic samples are scored apart
from the per-line predictions (`*.pred.jsonl`) and the set's `tags.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OCRBENCH = REPO.parent / "shared" / "tools"
SROIE = REPO.parent / "shared" / "data" / "sroie"


def run_engine(python: str, engine: str, data: Path, split: str, out: Path, threads: int, opts=(), name: str = "",
               limit=None, tasks: str = "lines", root: Path = REPO, quiet: bool = False) -> dict:
    """One ocrbench run; its report. ``root``: the ocrforge checkout the ocrforge engine reads (``python -m``
    puts the working directory first on sys.path, so it is the working directory too); ``quiet``: no
    ocrbench table on stdout."""
    cmd = [python, "-m", "ocrbench", "run", "--engine", engine, "--data", str(data), "--split", split,
           "--tasks", tasks, "--threads", str(threads), "--out", str(out)]
    if limit:
        cmd += ["--limit", str(limit)]
    if name:
        cmd += ["--name", name]
    for o in opts:
        cmd += ["-o", o]
    env = dict(os.environ, PYTHONPATH=f"{OCRBENCH}{os.pathsep}{root}")
    subprocess.run(cmd, check=True, env=env, cwd=root, stdout=subprocess.DEVNULL if quiet else None)
    return json.loads(out.read_text())


def hard_split(pred_jsonl: Path, tags: dict) -> dict:
    """Case-insensitive CER of hard and clean lines, and of each text kind (``cer_kind_zh_rare``...)."""
    from rapidfuzz.distance import Levenshtein

    acc = {"hard": [0, 0], "clean": [0, 0]}
    for line in pred_jsonl.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)  # one image: {"id", "lines": [{"i", "gt", "pred", "conf"}]}
        tag = tags.get(str(r.get("id")), {})
        keys = ["hard" if tag.get("hard") else "clean"] + ([f"kind_{tag['kind']}"] if tag.get("kind") else [])
        for ln in r.get("lines", []):
            gt, pred = ln["gt"].strip(), (ln["pred"] or "").strip()
            errors = Levenshtein.distance(pred.upper(), gt.upper())
            for key in keys:
                a = acc.setdefault(key, [0, 0])
                a[0] += errors
                a[1] += len(gt)
    return {f"cer_{k}": round(e / max(1, n), 4) for k, (e, n) in acc.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="results/rec")
    ap.add_argument("--sets", default="sroie_eval,zh_heldout,latin_heldout")
    ap.add_argument("--bench-data", default="~/.cache/ocrforge/bench")
    ap.add_argument("--peers-python", default="/tmp/venv-peers/bin/python")
    ap.add_argument("--engines", default="ocrforge,rapidocr,tesseract")
    ap.add_argument("--limit", type=int, default=None, help="first N ids of each synthetic set (one line per id)")
    ap.add_argument("--ocrforge-opt", action="append", default=[], metavar="KEY=VALUE",
                    help="OCR() option for our engine, e.g. rec_model=ocrforge/models/rec_..._latin.onnx")
    ap.add_argument("--sroie-limit", type=int, default=None, help="first N receipts of the SROIE eval split")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bench = Path(args.bench_data).expanduser()
    sets = {
        "sroie_eval": (SROIE, "mod:5:4", None),
        "zh_heldout": (bench / "zh_heldout", "all", bench / "zh_heldout" / "tags.json"),
        "latin_heldout": (bench / "latin_heldout", "all", bench / "latin_heldout" / "tags.json"),
    }
    summary = {}
    for s in args.sets.split(","):
        data, split, tags_path = sets[s]
        for eng in args.engines.split(","):
            py = sys.executable if eng == "ocrforge" else args.peers_python
            opts = ["lang=eng+chi_sim"] if eng == "tesseract" and s == "zh_heldout" else []
            if eng == "ocrforge":
                opts = list(args.ocrforge_opt)
            res_path = out / f"{s}__{eng}.json"
            limit = args.sroie_limit if s == "sroie_eval" else args.limit
            res = run_engine(py, eng, data, split, res_path, args.threads, opts, limit=limit)
            lines = res.get("lines") or res.get("metrics", {}).get("lines") or {}
            row = {"engine": eng, "set": s, "lines": lines}
            if tags_path and tags_path.exists():
                row.update(hard_split(res_path.with_suffix(".pred.jsonl"), json.loads(tags_path.read_text())))
            summary[f"{s}__{eng}"] = row
            print(json.dumps(row)[:600], flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
