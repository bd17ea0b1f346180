"""Rotated pages read as well as upright ones? Token F1 per rotation on SROIE eval receipts + the sample.

    python benchmarks/bench_rotation.py --sroie ../shared/data/sroie --split mod:5:4 --limit 20 [--out r.json]

Each page is read upright and turned by 90, 180 and 270 degrees (np.rot90, lossless) with the
default `OCR()` (preprocess "auto" detects and undoes the page orientation). Score: whitespace
tokens, case-insensitive, multiset intersection per page, micro-averaged — the same token F1 as
ocrbench's pages task — against the SROIE transcripts and examples/receipt_sample.txt.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ocrforge.data.det_datasets import load_sroie  # noqa: E402
from ocrforge.pipeline import OCR  # noqa: E402

ROTATIONS = {0: None, 90: 1, 180: 2, 270: 3}  # degrees counter-clockwise -> np.rot90 k


def sroie_pages(root: Path, split: str, limit: int):
    """(id, image, transcript) of the first `limit` receipts of the split."""
    return [(Path(smp.image_path).stem, cv2.imread(smp.image_path), "\n".join(smp.texts))
            for smp in load_sroie(root, split)[:limit]]


def tokens(text: str) -> Counter:
    return Counter(text.upper().split())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sroie", default=str(ROOT.parent / "shared" / "data" / "sroie"))
    ap.add_argument("--split", default="mod:5:4")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    args = ap.parse_args(argv)

    pages = sroie_pages(Path(args.sroie), args.split, args.limit)
    sample = ROOT / "examples" / "receipt_sample.png"
    pages.append(("receipt_sample", cv2.imread(str(sample)), (ROOT / "examples" / "receipt_sample.txt").read_text()))
    ocr = OCR(threads=args.threads)
    result = {"pages": len(pages), "split": args.split, "rotations": {}}
    for deg, k in ROTATIONS.items():
        hit = pred_n = gt_n = 0
        t0 = time.time()
        for _, img, gt in pages:
            turned = img if k is None else np.ascontiguousarray(np.rot90(img, k))
            got, want = tokens(ocr.read(turned).render()), tokens(gt)
            hit += sum((got & want).values())
            pred_n += sum(got.values())
            gt_n += sum(want.values())
        p, r = hit / max(1, pred_n), hit / max(1, gt_n)
        f1 = 2 * p * r / max(1e-9, p + r)
        result["rotations"][deg] = {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4),
                                    "s_per_page": round((time.time() - t0) / len(pages), 3)}
        print(f"{deg:3d} deg: token P/R/F1 (ci) {p:.3f} / {r:.3f} / {f1:.3f}", flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
