"""Write held-out-font synthetic lines as SROIE-layout folders, so ocrbench scores every engine
(ours, RapidOCR, Tesseract) on them exactly as it scores SROIE line crops.

    python benchmarks/make_line_sets.py --src ~/.cache/ocrforge/data/rec_val_heldout --out ~/.cache/ocrforge/bench

Writes `zh_heldout/` (lines with at least one hanzi) and `latin_heldout/` (the others), each
`img/NNNN.png` + `box/NNNN.csv` (one box: the whole line) + `tags.json` (kind, font, hard).
The lines are rendered with fonts that no training data uses (ocrforge/data/fonts.py HELD_OUT).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default="~/.cache/ocrforge/data/rec_val_heldout")
    ap.add_argument("--out", default="~/.cache/ocrforge/bench")
    ap.add_argument("--limit", type=int, default=600, help="lines per set")
    args = ap.parse_args(argv)
    from ocrforge.data.rec_datasets import open_line_sources

    out = Path(args.out).expanduser()
    counts = {"zh_heldout": 0, "latin_heldout": 0}
    tags = {k: {} for k in counts}
    for d in counts:
        (out / d / "img").mkdir(parents=True, exist_ok=True)
        (out / d / "box").mkdir(parents=True, exist_ok=True)
    for src in open_line_sources(args.src):
        for key, width, text, meta in src.index():
            name = "zh_heldout" if any("\u4e00" <= c <= "\u9fff" for c in text) else "latin_heldout"
            if counts[name] >= args.limit:
                continue
            counts[name] += 1
            sid = f"{counts[name]:04d}"
            img = src.image(key)
            # 8 px of replicated margin so ocrbench's 2 px crop padding stays inside the image
            img = cv2.copyMakeBorder(img, 8, 8, 8, 8, cv2.BORDER_REPLICATE)
            h, w = img.shape
            cv2.imwrite(str(out / name / "img" / f"{sid}.png"), img)
            (out / name / "box" / f"{sid}.csv").write_text(f"8,8,{w - 9},8,{w - 9},{h - 9},8,{h - 9},{text}\n", encoding="utf-8")
            tags[name][sid] = meta
    for name, t in tags.items():
        (out / name / "tags.json").write_text(json.dumps(t, ensure_ascii=False, indent=0), encoding="utf-8")
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
