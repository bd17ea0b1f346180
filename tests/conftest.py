"""Shared test helpers: a "glyph code" page renderer with a detector and recognizer that read it.

Pipeline tests need a detector and a recognizer whose answers are known without trained models.
Here each character is drawn as a black bar whose width encodes the letter (a=8 px, b=14 px,
...), so a page's true text and geometry are known by construction, and a few lines of OpenCV
can find the lines (morphological closing) and read them (column runs -> letters). The
pipeline's own logic (cropping, rotation of vertical lines, coordinate mapping, batching,
layout, error handling) is then tested for real.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Sequence, Tuple

import cv2
import numpy as np
import pytest

GLYPH_WIDTH = {"a": 8, "b": 14, "c": 20, "d": 26}  # px at glyph height 20
GLYPH_H = 20
CHAR_GAP = 5
SPACE_GAP = 16


@dataclass
class GlyphLine:
    text: str
    x: int
    y: int
    vertical: bool = False

    def size(self) -> Tuple[int, int]:
        """(width, height) of the drawn line."""
        run = sum(GLYPH_WIDTH[c] if c != " " else SPACE_GAP - CHAR_GAP for c in self.text)
        run += CHAR_GAP * (len(self.text) - 1)
        return (GLYPH_H, run) if self.vertical else (run, GLYPH_H)

    def box(self) -> Tuple[int, int, int, int]:
        w, h = self.size()
        return (self.x, self.y, self.x + w, self.y + h)


def draw_glyph_page(lines: Sequence[GlyphLine], size=(400, 600)) -> np.ndarray:
    """White page (h, w) with each line's letters as black bars; vertical lines run top to bottom."""
    img = np.full((size[0], size[1], 3), 255, np.uint8)
    for ln in lines:
        pos = ln.y if ln.vertical else ln.x
        for ch in ln.text:
            if ch == " ":
                pos += SPACE_GAP - CHAR_GAP
                continue
            w = GLYPH_WIDTH[ch]
            if ln.vertical:  # the bar's long side along the column, as after a 90° turn
                img[pos : pos + w, ln.x : ln.x + GLYPH_H] = 0
            else:
                img[ln.y : ln.y + GLYPH_H, pos : pos + w] = 0
            pos += w + CHAR_GAP
    return img


@dataclass
class Detection:
    polygon: np.ndarray
    score: float = 0.9


class GlyphDetector:
    """Finds glyph-code lines: ink closed across character gaps, one box per component."""

    def __init__(self):
        self.calls = 0

    def detect(self, image: np.ndarray) -> List[Detection]:
        self.calls += 1
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        ink = (gray < 128).astype(np.uint8)
        # Joins letters and words (gaps up to 16 px) in both directions, not lines 20+ px apart.
        closed = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((17, 17), np.uint8))
        contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        out = []
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            x0, y0, x1, y1 = x - 2, y - 2, x + w + 2, y + h + 2
            out.append(Detection(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)))
        return out


@dataclass
class LineResult:
    text: str
    confidence: float
    char_frames: List[int] = field(default_factory=list)
    num_frames: int = 0


class GlyphRecognizer:
    """Reads a horizontal glyph-code crop; frames are 4 px of the crop scaled to height 32."""

    def __init__(self):
        self.calls: List[int] = []  # batch sizes
        self.shapes: List[Tuple[int, ...]] = []

    def read(self, crop: np.ndarray) -> LineResult:
        gray = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
        h, w = gray.shape
        cols = (gray < 128).sum(axis=0) > 0.5 * h * 0.5
        scale = 32.0 / h
        num_frames = max(1, math.ceil(w * scale / 4))
        runs, x = [], 0
        while x < w:
            if cols[x]:
                s = x
                while x < w and cols[x]:
                    x += 1
                runs.append((s, x))
            x += 1
        text, frames = "", []
        for k, (s, e) in enumerate(runs):
            if k and s - runs[k - 1][1] >= (SPACE_GAP + CHAR_GAP) // 2 + 2:
                text += " "
                frames.append(int((runs[k - 1][1] + s) / 2 * scale / 4))
            width = e - s
            text += min(GLYPH_WIDTH, key=lambda c: abs(GLYPH_WIDTH[c] - width))
            frames.append(min(num_frames - 1, int((s + e) / 2 * scale / 4)))
        return LineResult(text, 0.9 if text else 0.1, frames, num_frames)

    def recognize(self, crops, decoder=None) -> List[LineResult]:
        self.calls.append(len(crops))
        self.shapes.extend(c.shape for c in crops)
        return [self.read(c) for c in crops]


@pytest.fixture
def glyph_ocr():
    """An OCR wired to the glyph-code fakes, no preprocessing and no upside-down check (glyph codes
    have no up and down for the line classifier to see)."""
    from ocrforge.pipeline import OCR

    def make(**kw):
        kw.setdefault("preprocess", "none")
        kw.setdefault("flip_check", False)
        return OCR(detector=GlyphDetector(), recognizer=GlyphRecognizer(), **kw)

    return make


# Real print for recognizer tests: a few bill and receipt lines rendered in Noto Sans CJK SC.
CJK_FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
CJK_LINES = ["开票日期：2023年05月12日", "TOTAL RM 12.50", "合计：¥128.50", "北京市朝阳区建国路88号"]
needs_cjk_font = pytest.mark.skipif(not Path(CJK_FONT).exists(), reason="fonts-noto-cjk not installed")


def render_cjk_line(text: str, height: int = 40) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(CJK_FONT, int(height * 0.75), index=2)
    im = Image.new("L", (int(font.getlength(text)) + height, height), 255)
    ImageDraw.Draw(im).text((height // 2, height * 0.1), text, font=font, fill=0)
    return np.asarray(im)


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def load_bench():
    """Loads a script of benchmarks/ as a module by name. The folder goes on sys.path (benchmarks import
    each other) and the module into sys.modules (dataclasses look their module up while the class is made)."""

    def load(name: str):
        if str(BENCHMARKS) not in sys.path:
            sys.path.insert(0, str(BENCHMARKS))
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod

    return load
