"""Line-recognition datasets: our LMDB shards and users' own labelled data, with no conversion step.

Readers:
- LMDB in deep-text-recognition-benchmark layout (`image-%09d`, `label-%09d`, `num-samples`; we add
  an optional `meta-%09d` JSON with kind/font/hard/casefold). Synthetic shards use it too.
- SROIE-style folders: `img/NAME.jpg` + `box/NAME.csv` (8 coordinates then the text).
- PaddleOCR recognition label files: `relative/path.jpg<TAB>text` per line.
`prepare_line_lmdb()` turns any of them into an LMDB of 32-px-high gray lines for fast training.
"""

from __future__ import annotations

import json
import random
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Iterator, List, Optional, Tuple

import cv2
import numpy as np

from ..recognition.preprocess import INPUT_HEIGHT, resize_line

# ------------------------------------------------------------------------------------------
# Sources of (line image, text, meta)
# ------------------------------------------------------------------------------------------


def read_sroie_boxes(csv_path: Path) -> List[Tuple[np.ndarray, str]]:
    """(4x2 quad, text) per line; the text may contain commas, so split on the first 8 only."""
    out = []
    for raw in csv_path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = raw.strip().split(",", 8)
        if len(parts) < 9:
            continue
        try:
            quad = np.array([float(v) for v in parts[:8]], np.float32).reshape(4, 2)
        except ValueError:
            continue
        out.append((quad, parts[8]))
    return out


def sroie_ids(root: Path, rule: str = "all") -> List[str]:
    """Ids of a SROIE-style folder selected by `all`, `mod:K:R` or `mod:K:R1,R2,...`."""
    ids = sorted(p.stem for p in (root / "img").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if rule == "all":
        return ids
    if rule.startswith("mod:"):
        _, k, rs = rule.split(":")
        keep = {int(r) for r in rs.split(",")}
        return [i for i in ids if i.isdigit() and int(i) % int(k) in keep]
    raise ValueError(f"unknown split rule {rule!r} (use all or mod:K:R[,R...])")


def iter_sroie_lines(root: Path, rule: str = "all", pad_range: Tuple[int, int] = (2, 2), seed: int = 0,
                     ) -> Iterator[Tuple[np.ndarray, str, dict]]:
    """Axis-aligned crops of each box (padding drawn from pad_range), as ocrbench crops them."""
    rng = random.Random(seed)
    for sid in sroie_ids(root, rule):
        img_path = next((root / "img").glob(sid + ".*"))
        box_path = root / "box" / f"{sid}.csv"
        if not box_path.exists():
            continue
        img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        if img is None:
            continue
        h, w = img.shape[:2]
        for quad, text in read_sroie_boxes(box_path):
            if not text.strip():
                continue
            pad = rng.randint(*pad_range)
            x0, y0 = (quad.min(0) - pad).astype(int)
            x1, y1 = (quad.max(0) + pad).astype(int)
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1 + 1), min(h, y1 + 1)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            # SROIE transcripts are all capitals while receipts print mixed case: train case-folded.
            yield img[y0:y1, x0:x1], text.strip(), {"kind": "sroie", "id": sid, "casefold": True}


def iter_paddle_labels(label_file: Path, image_root: Optional[Path] = None,
                       on_skip: Optional[Callable[[str, str], None]] = None) -> Iterator[Tuple[np.ndarray, str, dict]]:
    """(image, text, meta) of each ``path<TAB>text`` row; ``on_skip(row, why)`` hears of the rows left out."""
    root = image_root or label_file.parent
    for raw in label_file.read_text(encoding="utf-8").splitlines():
        if "\t" not in raw:
            if raw.strip() and on_skip:
                on_skip(raw, "no tab between path and text")
            continue
        rel, text = raw.split("\t", 1)
        img = cv2.imread(str(root / rel), cv2.IMREAD_COLOR)
        if img is None or not text:
            if on_skip:
                on_skip(rel, "unreadable image" if img is None else "empty text")
            continue
        yield img, text, {"kind": "paddle", "path": rel}


# ------------------------------------------------------------------------------------------
# LMDB
# ------------------------------------------------------------------------------------------


def write_line_lmdb(path: Path, samples: Iterable[Tuple[np.ndarray, str, dict]], height: int = INPUT_HEIGHT) -> int:
    import lmdb

    path.mkdir(parents=True, exist_ok=True)
    env = lmdb.open(str(path), map_size=1 << 34)
    txn = env.begin(write=True)
    n = 0
    for img, text, meta in samples:
        try:
            line = resize_line(img, height)
        except ValueError:
            continue
        n += 1
        txn.put(b"image-%09d" % n, cv2.imencode(".png", line)[1].tobytes())
        txn.put(b"label-%09d" % n, text.encode("utf-8"))
        txn.put(b"meta-%09d" % n, json.dumps(meta, ensure_ascii=False).encode())
        if n % 1000 == 0:
            txn.commit()
            txn = env.begin(write=True)
    txn.put(b"num-samples", str(n).encode())
    txn.commit()
    env.close()
    return n


def _png_size(buf: bytes) -> Optional[Tuple[int, int]]:
    if buf[:8] == b"\x89PNG\r\n\x1a\n":
        w, h = struct.unpack(">II", buf[16:24])
        return w, h
    return None


@dataclass
class LineRecord:
    source: int
    key: int
    width: int  # at the training height
    text: str
    meta: dict


@lru_cache(maxsize=None)
def _open_readonly(path: str):
    # LMDB allows one environment per path per process: training and validation share it.
    import lmdb

    return lmdb.open(path, readonly=True, lock=False, readahead=False, meminit=False)


class LmdbLines:
    """Reader for one DTRB-layout LMDB; images are decoded on demand and resized to `height`."""

    def __init__(self, path: Path, height: int = INPUT_HEIGHT):
        self.path = Path(path)
        self.height = height
        self.env = _open_readonly(str(Path(path).resolve()))
        with self.env.begin() as txn:
            raw = txn.get(b"num-samples")
            if raw is None:
                raise ValueError(f"{path} is not a line LMDB (no num-samples key)")
            self.n = int(raw)

    def index(self) -> List[Tuple[int, int, str, dict]]:
        """(key, width at height, text, meta) for every sample."""
        out = []
        with self.env.begin() as txn:
            for k in range(1, self.n + 1):
                label = txn.get(b"label-%09d" % k)
                img = txn.get(b"image-%09d" % k)
                if label is None or img is None:
                    continue
                meta_raw = txn.get(b"meta-%09d" % k)
                meta = json.loads(meta_raw) if meta_raw else {}
                size = _png_size(img)
                if size is None:
                    dec = cv2.imdecode(np.frombuffer(img, np.uint8), cv2.IMREAD_GRAYSCALE)
                    if dec is None:
                        continue
                    size = (dec.shape[1], dec.shape[0])
                w, h = size
                out.append((k, max(1, int(round(w * self.height / h))), label.decode("utf-8"), meta))
        return out

    def image(self, key: int) -> np.ndarray:
        with self.env.begin() as txn:
            buf = txn.get(b"image-%09d" % key)
        img = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_GRAYSCALE)
        if img.shape[0] != self.height:
            img = resize_line(img, self.height)
        return img


def open_line_sources(path: str) -> List[LmdbLines]:
    """A path is one LMDB, or a folder of LMDB shards (`*/data.mdb`)."""
    p = Path(path).expanduser()
    if (p / "data.mdb").exists():
        return [LmdbLines(p)]
    shards = sorted(d.parent for d in p.glob("*/data.mdb"))
    if not shards:
        raise FileNotFoundError(f"no line LMDB at {p}")
    return [LmdbLines(s) for s in shards if (s / "done.json").exists() or not (s.parent / "config.json").exists()]


def prepare_line_lmdb(kind: str, src: str, out: str, rule: str = "all", seed: int = 0) -> int:
    """Convert users' data (sroie folder | paddle label file | lmdb) to a training LMDB."""
    src_p, out_p = Path(src).expanduser(), Path(out).expanduser()
    if kind == "sroie":
        samples = iter_sroie_lines(src_p, rule, pad_range=(1, 5), seed=seed)
    elif kind == "paddle":
        samples = iter_paddle_labels(src_p)
    else:
        raise ValueError(f"unknown dataset kind {kind!r} (sroie | paddle)")
    return write_line_lmdb(out_p, samples)


# ------------------------------------------------------------------------------------------
# CLI: ocrforge data prepare --kind sroie|paddle --src PATH --out LMDB [--split RULE]
# ------------------------------------------------------------------------------------------


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("prepare", help="turn labelled line data (SROIE folder, PaddleOCR label file) into a training LMDB")
    p.add_argument("--kind", choices=["sroie", "paddle"], required=True)
    p.add_argument("--src", required=True, help="SROIE-style folder (img/, box/) or PaddleOCR label file")
    p.add_argument("--out", required=True, help="output LMDB folder")
    p.add_argument("--split", default="all", help="SROIE ids: all | mod:K:R[,R...] (e.g. mod:5:1,2,3)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=lambda a: print(f"{prepare_line_lmdb(a.kind, a.src, a.out, a.split, a.seed)} lines written to {a.out}") or 0)
