"""Synthetic text-line engine: text from real corpora, Debian fonts, albumentations, LMDB shards.

Each sample is rendered with PIL in a font that covers its text, placed on a paper-like,
textured or natural-image-like background, augmented (rotation within ±15°, scale 0.8-1.2, HSV,
brightness/contrast, blur, noise, JPEG, perspective), and about `hard_ratio` of samples get a
hard treatment (low resolution, occlusion, clutter, faded or broken print) and are tagged
`hard` so their accuracy is reported apart. Output is grayscale at the recognizer's height.

Determinism: sample i of a run is drawn from `random.Random(hash(seed, i))`, so a shard's
content depends only on (seed, index range), not on the number of worker processes.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..recognition.charset import load_charset
from .corpus import DEFAULT_MIX, BankedTextSampler, TextSampler
from .fonts import FontFace, require_fonts


@dataclass
class LineSynthConfig:
    height: int = 32
    max_width: int = 800
    hard_ratio: float = 0.12
    # > 0: this share of lines is printed small (glyphs 7-14 px, as on a thumbnail or a page photographed
    # from afar) and enlarged again, as the pipeline's upscale step and the recognizer's resize do. The hard
    # "lowres" treatment covers too few such lines to read 9-px Chinese (BENCHMARKS.md, fifteenth session).
    small_print_ratio: float = 0.0
    held_out_fonts: bool = False  # True renders with evaluation-only faces
    mix: Dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    seed: int = 0
    texts: Optional[str] = None  # a text bank (`ocrforge synth texts`) instead of the corpus packages


@dataclass
class LineSample:
    image: np.ndarray  # uint8 gray, height == cfg.height
    text: str
    kind: str
    font: str
    hard: bool


class LineSynthesizer:
    def __init__(self, cfg: LineSynthConfig):
        self.cfg = cfg
        self.charset = load_charset()
        self.sampler = (BankedTextSampler(cfg.texts, cfg.mix) if cfg.texts
                        else TextSampler(cfg.mix, faker_seed=cfg.seed))
        faces = require_fonts(held_out=cfg.held_out_fonts)
        self.zh_faces = [f for f in faces if f.script == "zh"]
        self.latin_faces = [f for f in faces if f.script == "latin"]
        self._font_cache: Dict[Tuple[str, int, int], ImageFont.FreeTypeFont] = {}
        self._ink_cache: Dict[Tuple[str, str], bool] = {}
        self._augment = _build_augment()

    # ---------------------------------------------------------------------------------------
    def sample(self, index: int) -> LineSample:
        rng = random.Random((self.cfg.seed * 1_000_003 + index) & 0xFFFFFFFF)
        np_rng = np.random.default_rng(rng.getrandbits(32))
        for _ in range(20):
            kind, text = self.sampler.sample(rng)
            text = self.charset.normalize(text)
            text = "".join(ch for ch in text if ch in self.charset).strip()
            text = " ".join(text.split())
            if not text:
                continue
            face = self._pick_face(rng, text)
            if face is None:
                continue
            hard = rng.random() < self.cfg.hard_ratio
            img = self._render(rng, np_rng, text, face, hard)
            if img is None:
                continue
            return LineSample(img, text, kind, face.name, hard)
        raise RuntimeError("could not synthesize a line after 20 tries (fonts missing?)")

    def _pick_face(self, rng: random.Random, text: str) -> Optional[FontFace]:
        has_cjk = any(ord(c) > 0x2E80 for c in text)
        pools = [self.zh_faces] if has_cjk else ([self.latin_faces, self.zh_faces] if rng.random() < 0.75 else [self.zh_faces])
        for pool in pools:
            cands = list(pool)
            rng.shuffle(cands)
            for f in cands[:6]:
                if f.covers(text) and self._has_ink(f, text):
                    return f
        return None

    def _has_ink(self, face: FontFace, text: str) -> bool:
        """Some faces map code points to empty glyphs; a label for an invisible char is noise."""
        font = self._font(face, 24)
        for ch in set(text) - {" "}:
            key = (face.name, ch)
            ok = self._ink_cache.get(key)
            if ok is None:
                ok = font.getmask(ch).getbbox() is not None
                self._ink_cache[key] = ok
            if not ok:
                return False
        return True

    def _font(self, face: FontFace, size: int) -> ImageFont.FreeTypeFont:
        key = (face.path, face.index, size)
        f = self._font_cache.get(key)
        if f is None:
            f = ImageFont.truetype(face.path, size, index=face.index)
            self._font_cache[key] = f
        return f

    def _render(self, rng, np_rng, text: str, face: FontFace, hard: bool) -> Optional[np.ndarray]:
        size = rng.randint(22, 44)
        font = self._font(face, size)
        spacing = rng.choice([0, 0, 0, 0, 1, 2, 4, 8]) * size / 32  # receipts print spaced-out text
        widths = [font.getlength(c) for c in text]
        total = sum(widths) + spacing * (len(text) - 1)
        if total <= 0:
            return None
        asc, desc = font.getmetrics()
        pad_x = int(size * rng.uniform(0.05, 0.6))
        pad_top, pad_bot = int(size * rng.uniform(0.02, 0.35)), int(size * rng.uniform(0.02, 0.35))
        w = int(math.ceil(total)) + 2 * pad_x
        h = asc + desc + pad_top + pad_bot
        bg, fg = _background(rng, np_rng, h, w)
        canvas = Image.fromarray(bg)
        draw = ImageDraw.Draw(canvas)
        if spacing == 0:
            draw.text((pad_x, pad_top), text, font=font, fill=fg)
        else:
            x = float(pad_x)
            for c, cw in zip(text, widths):
                draw.text((x, pad_top), c, font=font, fill=fg)
                x += cw + spacing
        if rng.random() < 0.15:  # underline / table rule / strike: common on bills
            y = rng.choice([pad_top + asc + 2, h - 2, 1, pad_top + (asc + desc) // 2])
            draw.line([(0, y), (w, y)], fill=fg, width=rng.randint(1, 2))
        img = np.asarray(canvas)
        img = _rotate(img, rng)
        img = self._augment(image=img, rng=rng)
        if hard:
            img = _hard(rng, np_rng, img)
        if self.cfg.small_print_ratio > 0 and rng.random() < self.cfg.small_print_ratio:
            img = _small_print(rng, img, size)
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        return _fit_height(gray, self.cfg.height, self.cfg.max_width)


def _rotate(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Small rotation whose limit shrinks with line length, so long lines stay readable at 32 px."""
    h, w = img.shape[:2]
    limit = 15.0 if (w < 3 * h and rng.random() < 0.3) else min(3.0, math.degrees(math.atan(0.3 * h / w)))
    if rng.random() > 0.5:
        return img
    angle = rng.uniform(-limit, limit)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(img, m, (nw, nh), borderMode=cv2.BORDER_REPLICATE)


def _fit_height(gray: np.ndarray, height: int, max_width: int) -> Optional[np.ndarray]:
    h, w = gray.shape[:2]
    new_w = max(8, int(round(w * height / h)))
    if new_w > max_width * 1.25:
        return None  # too long to squash without distorting glyphs; the caller draws new text
    new_w = min(new_w, max_width)
    return cv2.resize(gray, (new_w, height), interpolation=cv2.INTER_AREA)


def _background(rng: random.Random, np_rng: np.random.Generator, h: int, w: int):
    """Paper, tinted paper with texture, or a natural-image-like blend; returns (RGB array, ink colour)."""
    style = rng.random()
    if style < 0.45:
        base = np.array([rng.randint(215, 255)] * 3, np.float32)
        base += np.array([rng.randint(-12, 6) for _ in range(3)], np.float32)
        img = np.broadcast_to(base, (h, w, 3)).copy()
    elif style < 0.8:
        base = np.array([rng.randint(150, 255) for _ in range(3)], np.float32)
        img = np.broadcast_to(base, (h, w, 3)).copy()
        grain = cv2.GaussianBlur(np_rng.normal(0, rng.uniform(3, 14), (h, w)).astype(np.float32), (0, 0), rng.uniform(0.5, 3))
        img += grain[..., None]
        gx = np.linspace(0, rng.uniform(-40, 40), w, dtype=np.float32)[None, :, None]
        img += gx
    else:  # smooth colour blobs, like a photo behind the text
        small = np_rng.uniform(90, 255, (rng.randint(2, 5), rng.randint(2, 8), 3)).astype(np.float32)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img, 0, 255).astype(np.uint8)
    lum = float(img.mean())
    if rng.random() < 0.06:  # light text on a dark band (headers, stamps)
        img = 255 - img
        lum = 255 - lum
    dark = rng.randint(0, 70)
    ink = (dark, dark, dark) if rng.random() < 0.7 else tuple(rng.randint(0, 110) for _ in range(3))
    if lum < 110:
        ink = tuple(255 - c for c in ink)
    return img, ink


def _build_augment():
    import albumentations as A

    pipe = A.Compose([
        # Slant the glyphs only: albumentations reads a bare shear range as x *and* y, and a y-shear of a few
        # degrees on a long line (fit_output) doubles or triples its height, so the text ends up a third of
        # the 32-px input. Baseline tilt comes from _rotate, whose limit shrinks with line length.
        A.Affine(shear={"x": (-8, 8), "y": (0, 0)}, scale=(0.8, 1.2), fit_output=True,
                 border_mode=cv2.BORDER_REPLICATE, p=0.4),
        A.Perspective(scale=(0.01, 0.05), fit_output=True, border_mode=cv2.BORDER_REPLICATE, p=0.25),
        A.HueSaturationValue(hue_shift_limit=20, sat_shift_limit=20, val_shift_limit=20, p=0.3),
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.3, p=0.5),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 5), sigma_limit=(0.3, 1.2)), A.MotionBlur(blur_limit=(3, 5))], p=0.25),
        A.GaussNoise(std_range=(0.01, 0.06), p=0.3),
        A.ImageCompression(quality_range=(30, 95), p=0.3),
    ])

    def run(image: np.ndarray, rng: random.Random) -> np.ndarray:
        # albumentations draws from its own generator: seed it from ours for determinism.
        pipe.set_random_seed(rng.getrandbits(31))
        return pipe(image=image)["image"]

    return run


def _small_print(rng: random.Random, img: np.ndarray, font_size: int) -> np.ndarray:
    """The line as if printed at a 7-14 px font size, then enlarged back (linear or cubic, like the readers)."""
    h, w = img.shape[:2]
    f = rng.uniform(7.0, 14.0) / font_size
    if f >= 1.0:
        return img
    small = cv2.resize(img, (max(4, round(w * f)), max(4, round(h * f))), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=rng.choice([cv2.INTER_LINEAR, cv2.INTER_CUBIC]))


def _hard(rng: random.Random, np_rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    kind = rng.choice(["lowres", "occlusion", "clutter", "faded", "broken"])
    if kind == "lowres":
        f = rng.uniform(0.3, 0.5)
        small = cv2.resize(img, (max(4, int(w * f)), max(4, int(h * f))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if kind == "occlusion":
        out = img.copy()
        for _ in range(rng.randint(1, 3)):
            x, y = rng.randrange(w), rng.randrange(h)
            cw, ch = rng.randint(2, max(3, w // 15)), rng.randint(2, max(3, h // 3))
            out[y : y + ch, x : x + cw] = np_rng.integers(0, 255, 3)
        return out
    if kind == "clutter":
        out = img.copy()
        for _ in range(rng.randint(3, 10)):
            p1 = (rng.randrange(w), rng.randrange(h))
            p2 = (p1[0] + rng.randint(-30, 30), p1[1] + rng.randint(-10, 10))
            cv2.line(out, p1, p2, tuple(int(v) for v in np_rng.integers(0, 200, 3)), 1)
        return out
    if kind == "faded":
        a = rng.uniform(0.25, 0.5)
        return np.clip(img.astype(np.float32) * a + 255 * (1 - a) * rng.uniform(0.85, 1.0), 0, 255).astype(np.uint8)
    # broken print: erode the ink (thin strokes break) and punch random holes
    k = np.ones((2, 2), np.uint8)
    out = cv2.dilate(img, k) if img.mean() > 127 else cv2.erode(img, k)
    holes = np_rng.random(img.shape[:2]) < rng.uniform(0.03, 0.12)
    out[holes] = np.median(img.reshape(-1, 3), axis=0)
    return out


# ------------------------------------------------------------------------------------------
# Shards: deep-text-recognition-benchmark LMDB layout (image-%09d / label-%09d / num-samples)
# plus meta-%09d (kind, font, hard) so a trainer and the real-data loaders share one reader.
# ------------------------------------------------------------------------------------------

def write_lmdb(path: Path, samples: Iterator[LineSample], map_size: int = 1 << 32) -> int:
    import lmdb

    path.mkdir(parents=True, exist_ok=True)
    env = lmdb.open(str(path), map_size=map_size)
    n = 0
    txn = env.begin(write=True)
    for s in samples:
        n += 1
        ok, png = cv2.imencode(".png", s.image)
        txn.put(b"image-%09d" % n, png.tobytes())
        txn.put(b"label-%09d" % n, s.text.encode("utf-8"))
        txn.put(b"meta-%09d" % n, json.dumps({"kind": s.kind, "font": s.font, "hard": s.hard}).encode())
        if n % 1000 == 0:
            txn.commit()
            txn = env.begin(write=True)
    txn.put(b"num-samples", str(n).encode())
    txn.commit()
    env.sync()
    env.close()
    return n


def _shard_job(args) -> Tuple[str, int, float]:
    cfg_dict, out, start, count = args
    cfg = LineSynthConfig(**cfg_dict)
    synth = LineSynthesizer(cfg)
    t = time.time()
    n = write_lmdb(Path(out), (synth.sample(i) for i in range(start, start + count)))
    return out, n, time.time() - t


def synthesize(cfg: LineSynthConfig, count: int, out_dir: Path, shard_size: int = 5000, workers: int = 1,
               progress: bool = True, first_index: int = 0) -> List[Path]:
    """Write `count` lines as LMDB shards `out_dir/shard_NNNNN` (skips shards already complete)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = []
    for k, start in enumerate(range(first_index, first_index + count, shard_size)):
        n = min(shard_size, first_index + count - start)
        shard = out_dir / f"shard_{start // shard_size:05d}"
        if (shard / "done.json").exists():
            continue
        jobs.append((asdict(cfg), str(shard), start, n))
    (out_dir / "config.json").write_text(json.dumps(asdict(cfg), ensure_ascii=False, indent=1))
    from tqdm import tqdm

    bar = tqdm(total=sum(j[3] for j in jobs), unit="line", disable=not progress)
    done = []
    t0 = time.time()
    if workers <= 1:
        results = map(_shard_job, jobs)
    else:
        pool = get_context("spawn").Pool(workers)
        results = pool.imap_unordered(_shard_job, jobs)
    for out, n, secs in results:
        Path(out, "done.json").write_text(json.dumps({"count": n, "seconds": round(secs, 2)}))
        done.append(Path(out))
        bar.update(n)
    bar.close()
    if workers > 1:
        pool.close()
    total = sum(j[3] for j in jobs)
    if total and progress:
        print(f"{total} lines in {time.time() - t0:.1f} s ({total / max(1e-9, time.time() - t0):.1f} lines/s, {workers} workers)")
    return sorted(out_dir.glob("shard_*"))


# ------------------------------------------------------------------------------------------
# CLI: ocrforge synth lines --count N --out DIR
# ------------------------------------------------------------------------------------------


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("lines", help="synthesize text-line images (LMDB shards) for recognition training")
    p.add_argument("--count", type=int, required=True, help="number of lines")
    p.add_argument("--out", required=True, help="output folder (shard_NNNNN LMDBs; finished shards are kept on rerun)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 0))
    p.add_argument("--shard-size", type=int, default=5000)
    p.add_argument("--height", type=int, default=32, help="32 for print, 64 for handwriting models")
    p.add_argument("--hard-ratio", type=float, default=0.12, help="fraction of hard samples (tagged)")
    p.add_argument("--small-print-ratio", type=float, default=0.0,
                   help="fraction of lines printed at 7-14 px and enlarged back (small print, photos from afar)")
    p.add_argument("--held-out-fonts", action="store_true", help="render with the evaluation-only fonts")
    p.add_argument("--first-index", type=int, default=0, help="index of the first sample (to extend a set)")
    p.add_argument("--texts", help="text bank from `ocrforge synth texts` (instead of the corpus packages)")
    p.set_defaults(func=_run_cli)

    t = subparsers.add_parser("texts", help="pre-draw line texts into a bank (renders without the corpus packages)")
    t.add_argument("--count", type=int, required=True, help="number of texts")
    t.add_argument("--out", required=True, help="output file, kind<TAB>text per line (.xz / .gz compress)")
    t.add_argument("--seed", type=int, default=0)
    t.set_defaults(func=_run_texts)

    f = subparsers.add_parser("fonts", help="subset the catalogue's fonts to the charset into a portable font pack")
    f.add_argument("--out", required=True, help="output folder; use it with OCRFORGE_FONT_PACK=DIR")
    f.add_argument("--held-out", action="store_true", help="pack the evaluation-only faces instead")
    f.set_defaults(func=_run_fonts)


def _run_cli(args) -> int:
    from ..errors import ConfigError

    if args.count < 1:
        raise ConfigError("--count must be at least 1")
    for flag, value in (("--hard-ratio", args.hard_ratio), ("--small-print-ratio", args.small_print_ratio)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{flag} must be within [0, 1], got {value}")
    cfg = LineSynthConfig(height=args.height, hard_ratio=args.hard_ratio, small_print_ratio=args.small_print_ratio,
                          held_out_fonts=args.held_out_fonts, seed=args.seed,
                          texts=args.texts)
    import sys

    shards = synthesize(cfg, args.count, Path(args.out), shard_size=args.shard_size, workers=args.workers,
                        progress=sys.stderr.isatty(), first_index=args.first_index)
    print(f"{len(shards)} shards in {args.out}")
    return 0


def _run_texts(args) -> int:
    from .corpus import write_text_bank

    if args.count < 1:
        raise ValueError("--count must be at least 1")
    counts = write_text_bank(Path(args.out), args.count, seed=args.seed)
    print(f"{sum(counts.values())} texts in {args.out}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


def _run_fonts(args) -> int:
    from .fonts import write_font_pack

    chars = "".join(c for c in load_charset().chars if len(c) == 1)
    files = write_font_pack(Path(args.out), chars, held_out=args.held_out)
    if not files:
        raise RuntimeError("no catalogue fonts installed to pack: run scripts/install_system_deps.sh")
    size = sum(p.stat().st_size for p in files) / 2**20
    print(f"{len(files)} faces, {size:.1f} MB in {args.out}")
    return 0
