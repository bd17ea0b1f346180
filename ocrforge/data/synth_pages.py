"""Synthetic page engine for detection: documents, receipts, invoices, bank bills, tables/forms.

    ocrforge synth pages --count 2000 --out ~/.cache/ocrforge/det_data/synth_pages --workers 2

Writes `img/NNNNNN.jpg`, `label.txt` (PaddleOCR detection format, one line-level polygon per
text segment) and `meta.jsonl` (kind, quarter rotation, for the orientation classifier).
Text comes from `TextSampler` (real corpora, bills, receipts, zh/en) and faces from
`available_fonts()` (training faces only), the same sources as the line engine.

Pages are rendered at modest resolution (long side ~700-1300 px) because the detector trains
on crops of pages cached at ~1024 px anyway. Photographed variants (background around the page,
perspective, shadow, fold), small rotations and quarter rotations move the label polygons with
the pixels. Page i is drawn from `random.Random(hash(seed, i))` and its texts from a sampler
seeded per page, so output depends only on (seed, index), not on the number of workers.
"""

from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import List, Optional, Tuple

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .corpus import TextSampler
from .det_datasets import paddle_label_line
from .fonts import FontFace, available_fonts

KINDS = ("receipt", "invoice", "bank_bill", "document", "table")
KIND_WEIGHTS = (0.3, 0.12, 0.08, 0.35, 0.15)  # receipts + bills = 50 %


@dataclass(frozen=True)
class PageSynthConfig:
    seed: int = 0
    photo_p: float = 0.35  # background around the page + perspective + shadow/fold
    quarter_p: float = 0.12  # 90/180/270 rotated pages
    tilt_p: float = 0.25  # small rotation (±5°)
    vertical_p: float = 0.12  # pages with a vertical Chinese column
    jpeg_quality: int = 88


@dataclass
class SynthPage:
    image: np.ndarray  # uint8 BGR
    polygons: List[np.ndarray]
    texts: List[str]
    kind: str
    quarter: int  # counter-clockwise quarter turns applied to the upright page


@lru_cache(maxsize=256)
def _font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=index)


class _Canvas:
    """A page being drawn: PIL image + the list of labelled text segments."""

    def __init__(self, w: int, h: int, paper: Tuple[int, int, int]):
        self.img = Image.new("RGB", (w, h), paper)
        self.draw = ImageDraw.Draw(self.img)
        self.polys: List[np.ndarray] = []
        self.texts: List[str] = []
        self.w, self.h = w, h

    def text(self, xy, text: str, font, fill=(20, 20, 20), anchor: str = "la") -> Optional[Tuple[int, int, int, int]]:
        text = text.strip()
        if not text:
            return None
        l, t, r, b = self.draw.textbbox(xy, text, font=font, anchor=anchor)
        if l < 0 or t < 0 or r > self.w or b > self.h or r - l < 2:
            return None
        self.draw.text(xy, text, font=font, fill=fill, anchor=anchor)
        pad = 1
        self.polys.append(np.array([[l - pad, t - pad], [r + pad, t - pad], [r + pad, b + pad], [l - pad, b + pad]], np.float32))
        self.texts.append(text)
        return l, t, r, b

    def vertical(self, x: int, y: int, text: str, font, fill=(20, 20, 20)) -> Optional[int]:
        """Chinese written top-to-bottom, one glyph per row; returns the bottom y."""
        size = font.size
        chars = [c for c in text if not c.isspace()]
        if not chars or y + len(chars) * (size + 2) > self.h or x + size > self.w:
            return None
        for i, ch in enumerate(chars):
            self.draw.text((x, y + i * (size + 2)), ch, font=font, fill=fill)
        bottom = y + len(chars) * (size + 2)
        self.polys.append(np.array([[x - 1, y - 1], [x + size + 1, y - 1], [x + size + 1, bottom], [x - 1, bottom]], np.float32))
        self.texts.append("".join(chars))
        return bottom


class PageSynthesizer:
    def __init__(self, cfg: PageSynthConfig = PageSynthConfig()):
        self.cfg = cfg
        faces = available_fonts(held_out=False)
        self.zh_faces = [f for f in faces if f.script == "zh" and f.style != "hand"]
        self.latin_faces = [f for f in faces if f.script == "latin"]
        self.mono_faces = [f for f in faces if f.style == "mono"]
        if not self.zh_faces:
            raise RuntimeError("no Chinese fonts installed: run scripts/install_system_deps.sh")

    # --- text --------------------------------------------------------------------------------
    def _sampler(self, page_seed: int) -> TextSampler:
        return TextSampler(faker_seed=page_seed)

    def _face(self, rng: random.Random, text: str, pool: Optional[List[FontFace]] = None) -> FontFace:
        cjk = any(ord(c) > 0x2E80 for c in text)
        cands = list(pool or (self.zh_faces if cjk or rng.random() < 0.3 else self.latin_faces))
        rng.shuffle(cands)
        for f in cands[:5]:
            if f.covers(text):
                return f
        for f in self.zh_faces:
            if f.covers(text):
                return f
        return self.zh_faces[0]

    def _fit(self, font, text: str, width: int) -> str:
        """Longest prefix of text that fits in width px."""
        if font.getlength(text) <= width:
            return text
        lo, hi = 0, len(text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if font.getlength(text[:mid]) <= width:
                lo = mid
            else:
                hi = mid - 1
        return text[:lo]

    def _line_text(self, rng, sampler: TextSampler, kinds: Tuple[str, ...]) -> str:
        kind = rng.choice(kinds)
        return " ".join(getattr(sampler, kind)(rng).split())

    # --- page kinds ----------------------------------------------------------------------------
    def receipt(self, rng, sampler) -> _Canvas:
        zh = rng.random() < 0.4
        w = rng.randint(360, 560)
        size = rng.randint(13, 20)
        face = rng.choice(self.mono_faces if rng.random() < 0.6 else (self.zh_faces if zh else self.latin_faces))
        if zh and face.script != "zh":
            face = rng.choice(self.zh_faces)
        n_items = rng.randint(3, 25)
        h = int((12 + n_items * 1.3 + 10) * size * 1.6) + 80
        paper = (rng.randint(225, 255),) * 3
        c = _Canvas(w, h, paper)
        font = _font(face.path, face.index, size)
        big = _font(face.path, face.index, int(size * rng.uniform(1.2, 1.6)))
        ink = (rng.randint(0, 70),) * 3
        margin = rng.randint(10, 30)
        y = rng.randint(15, 40)
        kinds = ("zh_bill", "zh_words") if zh else ("en_receipt",)
        for i in range(rng.randint(2, 6)):  # centred header
            f = big if i == 0 else font
            t = self._fit(f, self._line_text(rng, sampler, kinds), w - 2 * margin)
            c.text((w // 2, y), t, f, ink, anchor="ma")
            y += int(f.size * rng.uniform(1.3, 1.8))
        for _ in range(n_items + rng.randint(3, 8)):
            if y > h - 2 * size:
                break
            r = rng.random()
            if r < 0.12:  # separator rules are ink but not text
                yy = y + size // 2
                if rng.random() < 0.5:
                    c.draw.line([(margin, yy), (w - margin, yy)], fill=ink, width=1)
                else:
                    for x in range(margin, w - margin, max(4, size // 2)):
                        c.draw.line([(x, yy), (x + size // 4, yy)], fill=ink, width=1)
            elif r < 0.75:  # item ... amount, as two segments like SROIE
                amount = f"{rng.randint(0, 999)}.{rng.randint(0, 99):02d}"
                left = self._fit(font, self._line_text(rng, sampler, kinds), int((w - 2 * margin) * 0.6))
                c.text((margin, y), left, font, ink)
                c.text((w - margin, y), amount, font, ink, anchor="ra")
            else:
                t = self._fit(font, self._line_text(rng, sampler, kinds), w - 2 * margin)
                c.text((margin, y), t, font, ink)
            y += int(size * rng.uniform(1.3, 1.9))
        return c

    def _fields(self, rng, sampler, c: _Canvas, x0, y0, x1, y1, font, ink, kinds):
        """Key/value text inside a table cell, top-left aligned, wrapped into the cell height."""
        y = y0 + 3
        while y + font.size + 3 < y1:
            t = self._fit(font, self._line_text(rng, sampler, kinds), x1 - x0 - 8)
            c.text((x0 + 4, y), t, font, ink)
            y += int(font.size * rng.uniform(1.3, 1.7))
            if rng.random() < 0.4:
                break

    def _grid_page(self, rng, sampler, title: str, kinds, w, h) -> _Canvas:
        paper = (rng.randint(235, 255), rng.randint(235, 255), rng.randint(225, 255))
        c = _Canvas(w, h, paper)
        zh_face = rng.choice(self.zh_faces)
        size = rng.randint(13, 19)
        font = _font(zh_face.path, zh_face.index, size)
        ink = rng.choice([(20, 20, 20), (30, 30, 140), (140, 40, 30)])
        rule = rng.choice([(150, 60, 40), (60, 60, 60), (40, 100, 60)])
        tf = _font(zh_face.path, zh_face.index, int(size * rng.uniform(1.6, 2.2)))
        c.text((w // 2, 15), title, tf, rule, anchor="ma")
        y = 30 + tf.size
        for _ in range(rng.randint(1, 3)):  # header fields above the table
            c.text((rng.randint(20, 60), y), self._fit(font, self._line_text(rng, sampler, kinds), w // 2 - 60), font, ink)
            c.text((w // 2 + rng.randint(20, 80), y), self._fit(font, self._line_text(rng, sampler, kinds), w // 2 - 100), font, ink)
            y += int(size * 1.7)
        x0, x1 = rng.randint(15, 40), w - rng.randint(15, 40)
        rows = rng.randint(3, 8)
        row_h = max(size * 2 + 6, (h - y - 60) // rows)
        cols = sorted(rng.sample(range(x0 + 60, x1 - 60), rng.randint(1, 4)))
        edges = [x0] + cols + [x1]
        for r in range(rows):
            ry0, ry1 = y + r * row_h, y + (r + 1) * row_h
            if ry1 > h - 10:
                break
            c.draw.line([(x0, ry0), (x1, ry0)], fill=rule, width=1)
            for ex0, ex1 in zip(edges, edges[1:]):
                if rng.random() < 0.85:
                    self._fields(rng, sampler, c, ex0, ry0, ex1, ry1, font, ink, kinds)
            last = ry1
        c.draw.line([(x0, last), (x1, last)], fill=rule, width=1)
        for e in edges:
            c.draw.line([(e, y), (e, last)], fill=rule, width=1)
        if rng.random() < 0.5:  # a red seal: round ink that is not a text line
            cx, cy, r = rng.randint(w // 2, w - 60), rng.randint(40, h - 60), rng.randint(30, 55)
            c.draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(40, 40, 200)[::-1], width=3)
        return c

    def invoice(self, rng, sampler) -> _Canvas:
        title = rng.choice(["增值税专用发票", "增值税普通发票", "电子发票（普通发票）", "INVOICE", "TAX INVOICE", "机打发票"])
        return self._grid_page(rng, sampler, title, ("zh_bill", "mixed", "en_receipt"), rng.randint(850, 1100), rng.randint(560, 760))

    def bank_bill(self, rng, sampler) -> _Canvas:
        title = rng.choice(["中国工商银行 业务回单", "银行承兑汇票", "转账支票", "中国建设银行 电子回单", "BANK STATEMENT"])
        return self._grid_page(rng, sampler, title, ("zh_bill", "zh_words"), rng.randint(800, 1000), rng.randint(420, 620))

    def table(self, rng, sampler) -> _Canvas:
        title = self._line_text(rng, sampler, ("zh_words", "en_words"))[:20]
        return self._grid_page(rng, sampler, title, ("zh_words", "en_words", "symbols", "mixed", "zh_bill"),
                               rng.randint(700, 1000), rng.randint(700, 1100))

    def document(self, rng, sampler) -> _Canvas:
        w, h = rng.randint(650, 900), rng.randint(850, 1250)
        paper = (rng.randint(230, 255),) * 3
        c = _Canvas(w, h, paper)
        zh = rng.random() < 0.6
        face = rng.choice(self.zh_faces if zh else self.latin_faces)
        size = rng.randint(12, 22)
        font = _font(face.path, face.index, size)
        ink = (rng.randint(0, 60),) * 3
        kinds = ("zh_news", "zh_review", "mixed") if zh else ("en_words", "mixed")
        margin = rng.randint(30, 70)
        y = rng.randint(30, 60)
        tf = _font(face.path, face.index, int(size * rng.uniform(1.5, 2.2)))
        c.text((w // 2 if rng.random() < 0.6 else margin, y), self._fit(tf, self._line_text(rng, sampler, kinds), w - 2 * margin),
               tf, ink, anchor="ma" if c.w and rng.random() < 0.6 else "la")
        y += int(tf.size * 2)
        right = w - margin
        if rng.random() < self.cfg.vertical_p:  # a vertical Chinese column on the right
            vf = _font(rng.choice(self.zh_faces).path, 0, rng.randint(16, 24))
            text = sampler.zh_news(rng)[: rng.randint(4, 14)]
            if c.vertical(w - margin - vf.size, y, text, vf, ink) is not None:
                right = w - margin - vf.size - 25
        ncols = 2 if rng.random() < 0.35 else 1
        gap = rng.randint(20, 40)
        col_w = (right - margin - gap * (ncols - 1)) // ncols
        lead = size * rng.uniform(1.35, 1.9)
        for col in range(ncols):
            x = margin + col * (col_w + gap)
            yy = y
            while yy + size < h - margin:
                if rng.random() < 0.12:  # paragraph break
                    yy += lead
                    continue
                indent = int(size * 2) if rng.random() < 0.15 else 0
                text = self._line_text(rng, sampler, kinds)
                while font.getlength(text) < col_w - indent and rng.random() < 0.9:
                    text += ("" if zh else " ") + self._line_text(rng, sampler, kinds)
                width = col_w - indent if rng.random() < 0.85 else int((col_w - indent) * rng.uniform(0.2, 0.9))
                c.text((x + indent, int(yy)), self._fit(font, text, width), font, ink)
                yy += lead
        return c

    # --- photographing -------------------------------------------------------------------------
    def _photo(self, rng, img: np.ndarray, polys: List[np.ndarray]):
        h, w = img.shape[:2]
        m = rng.uniform(0.05, 0.25)
        bw, bh = int(w * (1 + 2 * m)), int(h * (1 + 2 * m))
        np_rng = np.random.default_rng(rng.getrandbits(32))
        base = np.array([rng.randint(0, 200) for _ in range(3)], np.float32)
        bg = np.clip(base + np_rng.normal(0, rng.uniform(2, 25), (bh, bw, 3)), 0, 255)
        bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(0.5, 3)).astype(np.uint8)
        j = lambda s: rng.uniform(-s, s)
        ox, oy = w * m, h * m
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        d = 0.08
        dst = np.float32([[ox + j(d * w), oy + j(d * h)], [ox + w + j(d * w), oy + j(d * h)],
                          [ox + w + j(d * w), oy + h + j(d * h)], [ox + j(d * w), oy + h + j(d * h)]])
        H = cv2.getPerspectiveTransform(src, dst)
        warped = cv2.warpPerspective(img, H, (bw, bh), borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), H, (bw, bh))
        out = np.where(mask[..., None] > 127, warped, bg).astype(np.float32)
        yy, xx = np.mgrid[0:bh, 0:bw].astype(np.float32)
        if rng.random() < 0.6:  # soft shadow: a linear falloff across the page
            a = rng.uniform(0, 2 * np.pi)
            g = (np.cos(a) * xx / bw + np.sin(a) * yy / bh)
            g = (g - g.min()) / (np.ptp(g) + 1e-6)
            out *= (1 - rng.uniform(0.2, 0.55) * g)[..., None]
        if rng.random() < 0.4:  # a fold: a thin bright/dark band across the page
            if rng.random() < 0.5:
                pos = rng.uniform(0.2, 0.8) * bh
                band = np.exp(-((yy - pos) ** 2) / (2 * rng.uniform(2, 8) ** 2))
            else:
                pos = rng.uniform(0.2, 0.8) * bw
                band = np.exp(-((xx - pos) ** 2) / (2 * rng.uniform(2, 8) ** 2))
            out *= (1 + rng.choice([-1, 1]) * rng.uniform(0.1, 0.3) * band)[..., None]
        out = np.clip(out + np_rng.normal(0, rng.uniform(0, 6), out.shape), 0, 255).astype(np.uint8)
        polys = [cv2.perspectiveTransform(p.reshape(-1, 1, 2), H).reshape(-1, 2) for p in polys]
        return out, polys

    def _page_rng(self, index: int) -> Tuple[int, random.Random]:
        page_seed = (self.cfg.seed * 1_000_003 + index) & 0xFFFFFFFF
        return page_seed, random.Random(page_seed)

    def kind_of(self, index: int) -> str:
        """The page kind of index, without rendering (the first draw of the page's generator)."""
        return self._page_rng(index)[1].choices(KINDS, KIND_WEIGHTS)[0]

    def page(self, index: int) -> SynthPage:
        page_seed, rng = self._page_rng(index)
        sampler = self._sampler(page_seed)
        kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
        canvas = getattr(self, kind)(rng, sampler)
        img = cv2.cvtColor(np.asarray(canvas.img), cv2.COLOR_RGB2BGR)
        polys = list(canvas.polys)
        if rng.random() < self.cfg.photo_p:
            img, polys = self._photo(rng, img, polys)
        elif rng.random() < self.cfg.tilt_p:
            from ..detection.augment import rotate
            img, polys = rotate(img, polys, rng.uniform(-5, 5), tuple(int(v) for v in img[0, 0]))
        k = rng.randint(1, 3) if rng.random() < self.cfg.quarter_p else 0
        if k:
            from ..detection.augment import quarter
            img, polys = quarter(img, polys, k)
        return SynthPage(img, polys, list(canvas.texts), kind, k)


# ------------------------------------------------------------------------------------------
# Writing a set
# ------------------------------------------------------------------------------------------


def _job(args) -> int:
    """Render one chunk; its labels go to parts/CHUNK.txt so a long run is usable while it runs."""
    cfg, out_dir, indices = args
    out_dir = Path(out_dir)
    part = out_dir / "parts" / f"{indices[0]:06d}.txt"
    if part.exists():  # finished by an earlier, interrupted run: same seed, same pages
        return len(indices)
    synth = PageSynthesizer(cfg)
    rows = []
    for i in indices:
        p = synth.page(i)
        rel = f"img/{i:06d}.jpg"
        cv2.imwrite(str(out_dir / rel), p.image, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
        meta = json.dumps({"image": rel, "kind": p.kind, "quarter": p.quarter, "lines": len(p.texts)}, ensure_ascii=False)
        rows.append(paddle_label_line(rel, p.polygons, p.texts) + "\t" + meta)
    tmp = part.with_suffix(".tmp")
    tmp.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    tmp.replace(part)
    return len(indices)


def assemble(out_dir: Path) -> Path:
    """Join the finished chunks into label.txt (PaddleOCR format) and meta.jsonl, in index order."""
    out_dir = Path(out_dir)
    labels, metas = [], []
    for part in sorted((out_dir / "parts").glob("*.txt")):
        for row in part.read_text(encoding="utf-8").splitlines():
            label, meta = row.rsplit("\t", 1)
            labels.append(label)
            metas.append(meta)
    (out_dir / "label.txt").write_text("".join(x + "\n" for x in labels), encoding="utf-8")
    (out_dir / "meta.jsonl").write_text("".join(x + "\n" for x in metas), encoding="utf-8")
    return out_dir / "label.txt"


def synthesize(cfg: PageSynthConfig, count: int, out_dir: Path, workers: int = 1, start: int = 0, log=print) -> Path:
    out_dir = Path(out_dir)
    (out_dir / "img").mkdir(parents=True, exist_ok=True)
    (out_dir / "parts").mkdir(exist_ok=True)
    chunk = 10
    jobs = [(cfg, str(out_dir), list(range(s, min(s + chunk, start + count)))) for s in range(start, start + count, chunk)]
    t0 = time.time()
    done = 0
    if workers > 1:
        with get_context("spawn").Pool(workers) as pool:
            for n in pool.imap_unordered(_job, jobs):
                done += n
    else:
        for j in jobs:
            done += _job(j)
    label = assemble(out_dir)
    log(f"wrote {done} pages to {out_dir} in {time.time() - t0:.1f}s")
    return label


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("pages", help="synthetic pages with line polygons (detection training data)")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--start", type=int, default=0, help="first page index (to extend a set)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    if args.count <= 0:
        print("--count must be positive", file=sys.stderr)
        return 2
    synthesize(PageSynthConfig(seed=args.seed), args.count, Path(args.out).expanduser(), args.workers, args.start)
    return 0


if __name__ == "__main__":
    # `python -m ocrforge.data.synth_pages ...` is `ocrforge synth ...`: one parser, one error handling.
    from ocrforge.cli import main

    sys.exit(main(["synth", *sys.argv[1:]]))
