"""Write a page set in dark mode: every image of an SROIE-layout folder (``img/`` + ``box/``)
inverted (light text on a dark ground), the boxes and texts unchanged, so ocrbench reads the
same pages in both polarities with every engine.

    python benchmarks/make_dark_pages.py --src ../shared/data/sroie --ids-mod 5:4 --limit 20 \
        --out ~/.cache/ocrforge/bench/sroie_dark
    python benchmarks/make_dark_pages.py --src ~/.cache/ocrforge/bench/zh_pages \
        --out ~/.cache/ocrforge/bench/zh_pages_dark

The output holds derived copies of the source images: keep it outside the repository.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import cv2


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", required=True, help="an SROIE-layout folder (img/, box/)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--ids-mod", default=None, help="K:R keeps the ids with int(id) %% K == R (SROIE's eval split: 5:4)")
    ap.add_argument("--limit", type=int, default=0, help="first N ids (after --ids-mod); 0: all")
    args = ap.parse_args(argv)
    src, out = Path(args.src).expanduser(), Path(args.out).expanduser()
    images = sorted(p for p in (src / "img").glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not images:
        print(f"make_dark_pages: no images in {src / 'img'}", file=sys.stderr)
        return 2
    if args.ids_mod:
        k, r = (int(v) for v in args.ids_mod.split(":"))
        images = [p for p in images if p.stem.isdigit() and int(p.stem) % k == r]
    if args.limit:
        images = images[: args.limit]
    (out / "img").mkdir(parents=True, exist_ok=True)
    (out / "box").mkdir(parents=True, exist_ok=True)
    written = 0
    for path in images:
        box = src / "box" / f"{path.stem}.csv"
        img = cv2.imread(str(path))
        if img is None or not box.is_file():
            print(f"make_dark_pages: skipped {path.name} (unreadable or no box file)", file=sys.stderr)
            continue
        cv2.imwrite(str(out / "img" / f"{path.stem}.png"), 255 - img)  # PNG: no second JPEG loss
        shutil.copyfile(box, out / "box" / box.name)
        written += 1
    print(json.dumps({"pages": written, "out": str(out)}))
    return 0 if written else 2


if __name__ == "__main__":
    raise SystemExit(main())
