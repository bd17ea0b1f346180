"""Text-detection label formats: SROIE, ICDAR-2015 and PaddleOCR, read into one sample type.

* SROIE (`img/NNN.jpg`, `box/NNN.csv`): one line per text line, `x1,y1,...,x4,y4,TEXT`
  (the text itself may contain commas).
* ICDAR-2015 (`img_N.jpg`, `gt_img_N.txt`): the same line format, often with a UTF-8 BOM;
  text `###` marks do-not-care regions.
* PaddleOCR (`label.txt`): `relative/path.jpg<TAB>[{"transcription": "...", "points": [[x, y], ...]}]`.

The training cache is written in PaddleOCR's format, so every source ends up as one reader.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence

import cv2
import numpy as np

from ..errors import InputError

IGNORE_TEXT = "###"


@dataclass
class DetSample:
    image_path: str
    polygons: List[np.ndarray]  # float32 (N, 2) each, image pixels
    texts: List[str]
    ignore: List[bool] = field(default_factory=list)

    def __post_init__(self):
        if not self.ignore:
            self.ignore = [t == IGNORE_TEXT for t in self.texts]


def parse_quad_line(line: str) -> Optional[tuple]:
    """`x1,y1,...,x4,y4,text` -> (quad (4,2), text); None for blank or malformed lines."""
    line = line.strip().lstrip("\ufeff")
    if not line:
        return None
    parts = line.split(",", 8)
    if len(parts) < 8:
        return None
    try:
        coords = [float(v) for v in parts[:8]]
    except ValueError:
        return None
    text = parts[8] if len(parts) > 8 else ""
    return np.array(coords, np.float32).reshape(4, 2), text


def read_quad_file(path: Path) -> tuple:
    polys, texts = [], []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        parsed = parse_quad_line(line)
        if parsed is not None:
            polys.append(parsed[0])
            texts.append(parsed[1])
    return polys, texts


def sroie_ids(root: Path, split: str = "all") -> List[str]:
    """Ids under root/img; split `all` or `mod:K:R1[,R2...]` (int(id) % K in R)."""
    ids = sorted(p.stem for p in (Path(root) / "img").glob("*.jpg"))
    if split == "all":
        return ids
    try:
        kind, k, rest = split.split(":")
        assert kind == "mod"
        k = int(k)
        keep = {int(r) for r in rest.split(",")}
    except (ValueError, AssertionError):
        raise InputError(f"bad split {split!r}: expected all or mod:K:R[,R...]") from None
    return [i for i in ids if i.isdigit() and int(i) % k in keep]


def load_sroie(root: Path, split: str = "all") -> List[DetSample]:
    root = Path(root)
    if not (root / "img").is_dir() or not (root / "box").is_dir():
        raise InputError(f"{root} is not a SROIE folder (needs img/ and box/)")
    out = []
    for i in sroie_ids(root, split):
        box = root / "box" / f"{i}.csv"
        if not box.exists():
            continue
        polys, texts = read_quad_file(box)
        out.append(DetSample(str(root / "img" / f"{i}.jpg"), polys, texts))
    return out


def load_icdar15(image_dir: Path, gt_dir: Path) -> List[DetSample]:
    image_dir, gt_dir = Path(image_dir), Path(gt_dir)
    out = []
    for img in sorted(p for p in image_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")):
        gt = gt_dir / f"gt_{img.stem}.txt"
        if not gt.exists():
            continue
        polys, texts = read_quad_file(gt)
        out.append(DetSample(str(img), polys, texts))
    return out


def load_paddle_label(label_file: Path, root: Optional[Path] = None) -> List[DetSample]:
    label_file = Path(label_file)
    root = Path(root) if root is not None else label_file.parent
    out = []
    for n, line in enumerate(label_file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rel, ann = line.split("\t", 1)
            items = json.loads(ann)
            polys = [np.array(it["points"], np.float32).reshape(-1, 2) for it in items]
            texts = [str(it.get("transcription", "")) for it in items]
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{label_file}:{n}: not a PaddleOCR detection label line") from None
        out.append(DetSample(str(root / rel), polys, texts))
    return out


def paddle_label_line(rel_path: str, polygons: Sequence[np.ndarray], texts: Sequence[str]) -> str:
    items = [
        {"transcription": t, "points": [[round(float(x), 1), round(float(y), 1)] for x, y in np.asarray(p).reshape(-1, 2)]}
        for p, t in zip(polygons, texts)
    ]
    return f"{rel_path}\t{json.dumps(items, ensure_ascii=False)}"


def cache_scaled(samples: Iterable[DetSample], out_dir: Path, long_side: int = 1024, quality: int = 92,
                 log: Callable[[str], None] = print) -> Path:
    """Write each image scaled to `long_side` (never up) + a PaddleOCR label file; returns it.

    SROIE scans reach 35 MP; decoding those at every training step would cost more than the
    step itself, so they are decoded once here.
    """
    out_dir = Path(out_dir)
    (out_dir / "img").mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    lines = []
    for s in samples:
        img = cv2.imread(s.image_path, cv2.IMREAD_COLOR)
        if img is None:
            log(f"skipping unreadable {s.image_path}")
            continue
        scale = min(1.0, long_side / max(img.shape[:2]))
        if scale < 1.0:
            img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        rel = f"img/{Path(s.image_path).stem}.jpg"
        cv2.imwrite(str(out_dir / rel), img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        polys = [p * scale for p in s.polygons]
        texts = [IGNORE_TEXT if ign else t for t, ign in zip(s.texts, s.ignore)]
        lines.append(paddle_label_line(rel, polys, texts))
    label = out_dir / "label.txt"
    label.write_text("\n".join(lines) + "\n", encoding="utf-8")
    log(f"cached {len(lines)} images to {out_dir} in {time.time() - t0:.1f}s")
    return label
