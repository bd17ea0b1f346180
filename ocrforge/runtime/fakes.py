"""Model-free stand-ins for the detector and recognizer, with a tunable cost.

They let the servers, batch jobs and their benchmarks run end to end (real pipeline, real
formats, real batching) before trained models exist, and let a deployment be smoke-tested
without loading models: ``ocrforge serve --ocr-factory ocrforge.runtime.fakes:fake_ocr``.
The recognizer's cost is a fixed time per call plus a time per line (sleeps, which release the
GIL as ONNX Runtime does), so batching pays off the way it does with a real model.
Costs come from environment variables because a factory is named by ``module:function`` only:

- ``OCRFORGE_FAKE_CALL_MS`` (default 5): recognizer cost per call
- ``OCRFORGE_FAKE_LINE_MS`` (default 0.5): recognizer cost per line
- ``OCRFORGE_FAKE_PAGE_MS`` (default 0): detector cost per page
"""

from __future__ import annotations

import os
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence

import cv2
import numpy as np

from .ocr import OcrOptions, build_ocr


@dataclass(frozen=True)
class FakeDetection:
    polygon: np.ndarray  # (4, 2) float32, clockwise from top-left
    score: float = 1.0


@dataclass(frozen=True)
class FakeLineResult:
    text: str
    confidence: float
    char_frames: List[int] = field(default_factory=list)
    num_frames: int = 0


class FakeDetector:
    """Text lines = horizontal bands of dark pixels (enough for clean synthetic pages)."""

    def __init__(self, delay_s: float = 0.0, max_lines: int = 500) -> None:
        self.delay_s = delay_s
        self.max_lines = max_lines

    def detect(self, image: np.ndarray) -> List[FakeDetection]:
        if self.delay_s:
            time.sleep(self.delay_s)
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        ink = gray < 128
        rows = np.flatnonzero(ink.any(axis=1))
        out: List[FakeDetection] = []
        if rows.size == 0:
            return out
        # Split the inked rows into bands wherever a blank row intervenes.
        breaks = np.flatnonzero(np.diff(rows) > 1)
        starts = np.concatenate([[rows[0]], rows[breaks + 1]])
        ends = np.concatenate([rows[breaks], [rows[-1]]])
        h, w = gray.shape
        for y0, y1 in zip(starts, ends):
            if y1 - y0 < 3:
                continue
            cols = np.flatnonzero(ink[y0:y1 + 1].any(axis=0))
            x0, x1 = max(int(cols[0]) - 2, 0), min(int(cols[-1]) + 3, w)
            top, bottom = max(int(y0) - 2, 0), min(int(y1) + 3, h)
            poly = np.array([[x0, top], [x1, top], [x1, bottom], [x0, bottom]], np.float32)
            out.append(FakeDetection(poly))
            if len(out) >= self.max_lines:
                break
        return out


class FakeRecognizer:
    """Reads every crop as a deterministic string derived from its pixels."""

    def __init__(self, call_s: float = 0.005, line_s: float = 0.0005) -> None:
        self.call_s = call_s
        self.line_s = line_s
        self.calls = 0
        self.lines = 0

    def recognize(self, crops: Sequence[np.ndarray], decoder: Any = None) -> List[FakeLineResult]:
        self.calls += 1
        self.lines += len(crops)
        time.sleep(self.call_s + self.line_s * len(crops))
        return [self._read(c) for c in crops]

    @staticmethod
    def _read(crop: np.ndarray) -> FakeLineResult:
        h, w = crop.shape[:2]
        digest = zlib.crc32(np.ascontiguousarray(crop).tobytes()) & 0xFFFFFFFF
        text = f"line {w}x{h} {digest:08x}"
        num_frames = max(len(text), round(w * 48 / max(h, 1) / 4))
        frames = [int((i + 0.5) * num_frames / len(text)) for i in range(len(text))]
        return FakeLineResult(text=text, confidence=0.9, char_frames=frames, num_frames=num_frames)


def _env_ms(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default / 1000.0 if raw in (None, "") else float(raw) / 1000.0


def fake_ocr(options: Optional[OcrOptions] = None):
    """An ``OcrFactory``: the real pipeline with ``FakeDetector`` and ``FakeRecognizer``."""
    detector = FakeDetector(delay_s=_env_ms("OCRFORGE_FAKE_PAGE_MS", 0.0))
    recognizer = FakeRecognizer(call_s=_env_ms("OCRFORGE_FAKE_CALL_MS", 5.0), line_s=_env_ms("OCRFORGE_FAKE_LINE_MS", 0.5))
    # Preprocessing (deskew...) is real work of its own; the fakes measure serving, not it.
    return build_ocr(options or OcrOptions(), detector=detector, recognizer=recognizer, preprocess="none")
