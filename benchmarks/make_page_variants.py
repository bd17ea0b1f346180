"""Write a page set as it arrives in the wild: every image of an SROIE-layout folder (``img/`` +
``box/``) in dark mode, under a hard side light, shrunk, noisy or in low light, the texts unchanged
(boxes scaled with the image), so ocrbench reads the same pages in each condition with every engine.

    python benchmarks/make_page_variants.py --variant dark --src ../shared/data/sroie --ids-mod 5:4 \
        --limit 20 --out ~/.cache/ocrforge/bench/sroie_dark

Variants (deterministic per page id):
  dark      inverted: light text on a dark ground (dark-mode screenshots, negatives)
  shadow    lit from one side: brightness falls linearly from 100 % to 35 % across the page
  small     a third of the size (INTER_AREA), boxes scaled: a thumbnail, a photo from afar
  noise     Gaussian noise, sigma 18 grey levels
  lowlight  40 % brightness, sensor noise (sigma 6), JPEG quality 50

The output holds derived copies of the source images: keep it outside the repository.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Dict

import cv2
import numpy as np


def _dark(img: np.ndarray, seed: int) -> np.ndarray:
    return 255 - img


def _shadow(img: np.ndarray, seed: int) -> np.ndarray:
    light = np.linspace(0.35, 1.0, img.shape[1], dtype=np.float32)[None, :, None]
    return (img * light).astype(np.uint8)


def _small(img: np.ndarray, seed: int) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, w // 3), max(1, h // 3)), interpolation=cv2.INTER_AREA)


def _noise(img: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(img.astype(np.float32) + rng.normal(0, 18, img.shape), 0, 255).astype(np.uint8)


def _lowlight(img: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dim = np.clip(img.astype(np.float32) * 0.4 + 8 + rng.normal(0, 6, img.shape), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", dim, [cv2.IMWRITE_JPEG_QUALITY, 50])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


VARIANTS: Dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "dark": _dark, "shadow": _shadow, "small": _small, "noise": _noise, "lowlight": _lowlight,
}


def _scaled_boxes(text: str, sx: float, sy: float) -> str:
    rows = []
    for line in text.splitlines():
        parts = line.split(",", 8)
        if len(parts) < 9:
            continue
        xy = [float(v) for v in parts[:8]]
        xy = [v * (sx if k % 2 == 0 else sy) for k, v in enumerate(xy)]
        rows.append(",".join(str(int(round(v))) for v in xy) + "," + parts[8])
    return "\n".join(rows) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variant", required=True, choices=sorted(VARIANTS))
    ap.add_argument("--src", required=True, help="an SROIE-layout folder (img/, box/)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--ids-mod", default=None, help="K:R keeps the ids with int(id) %% K == R (SROIE's eval split: 5:4)")
    ap.add_argument("--limit", type=int, default=0, help="first N ids (after --ids-mod); 0: all")
    args = ap.parse_args(argv)
    src, out = Path(args.src).expanduser(), Path(args.out).expanduser()
    images = sorted(p for p in (src / "img").glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not images:
        print(f"make_page_variants: no images in {src / 'img'}", file=sys.stderr)
        return 2
    if args.ids_mod:
        k, r = (int(v) for v in args.ids_mod.split(":"))
        images = [p for p in images if p.stem.isdigit() and int(p.stem) % k == r]
    if args.limit:
        images = images[: args.limit]
    (out / "img").mkdir(parents=True, exist_ok=True)
    (out / "box").mkdir(parents=True, exist_ok=True)
    change = VARIANTS[args.variant]
    written = 0
    for path in images:
        box = src / "box" / f"{path.stem}.csv"
        img = cv2.imread(str(path))
        if img is None or not box.is_file():
            print(f"make_page_variants: skipped {path.name} (unreadable or no box file)", file=sys.stderr)
            continue
        seed = int(path.stem) if path.stem.isdigit() else written
        new = change(img, seed)
        cv2.imwrite(str(out / "img" / f"{path.stem}.png"), new)  # PNG: no second JPEG loss
        sx, sy = new.shape[1] / img.shape[1], new.shape[0] / img.shape[0]
        (out / "box" / box.name).write_text(_scaled_boxes(box.read_text(encoding="utf-8"), sx, sy), encoding="utf-8")
        written += 1
    print(json.dumps({"variant": args.variant, "pages": written, "out": str(out)}))
    return 0 if written else 2


if __name__ == "__main__":
    raise SystemExit(main())
