"""Text orientation without torch: line 0/180 classifier (ONNX) and page 0/90/180/270 from lines.

Line classifier `det_orient_line.onnx`: input `images` float32 (N, 1, 48, 192) gray line crops
(resized to height 48 keeping aspect, padded right with the crop's border colour), normalized
`(x/255 - 0.5) / 0.5`; output `probs` (N, 2): [upright, upside-down].

Page orientation is read from the detected lines instead of a separate page CNN: text lines of
an upright page are wider than tall, so if most boxes stand upright the page is turned by 90 or
270; the line classifier's vote over the (turned-back) lines then tells 0 from 180 (or 90 from
270). The page classifier therefore needs no thumbnail model, and reads small receipt print
that a 224-px thumbnail would blur away.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import cv2
import numpy as np

from ..errors import ModelError

LINE_H, LINE_W = 48, 192
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_LINE_MODEL = MODELS_DIR / "det_orient_line.onnx"


def line_tensor(crop: np.ndarray) -> np.ndarray:
    """uint8 BGR/gray line crop -> float32 (1, 48, 192)."""
    g = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
    h, w = g.shape[:2]
    nw = max(1, min(LINE_W, int(round(w * LINE_H / max(h, 1)))))
    r = cv2.resize(g, (nw, LINE_H), interpolation=cv2.INTER_AREA if h > LINE_H else cv2.INTER_LINEAR)
    out = np.empty((LINE_H, LINE_W), np.uint8)
    out[:] = int(np.median(np.concatenate([r[:, 0], r[:, -1]])))
    out[:, :nw] = r
    return ((out.astype(np.float32) / 255.0 - 0.5) / 0.5)[None]


def crop_quad(image: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Perspective-crop a 4-point box (clockwise from top-left) to an upright rectangle."""
    poly = np.asarray(poly, np.float32).reshape(4, 2)
    w = int(max(np.linalg.norm(poly[0] - poly[1]), np.linalg.norm(poly[3] - poly[2])))
    h = int(max(np.linalg.norm(poly[0] - poly[3]), np.linalg.norm(poly[1] - poly[2])))
    w, h = max(w, 1), max(h, 1)
    m = cv2.getPerspectiveTransform(poly, np.float32([[0, 0], [w, 0], [w, h], [0, h]]))
    return cv2.warpPerspective(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class LineOrientationClassifier:
    def __init__(self, model_path: Optional[str | Path] = None, threads: int = 2, batch: int = 32,
                 providers="auto"):
        from ..runtime.session import create_session

        path = Path(model_path) if model_path is not None else DEFAULT_LINE_MODEL
        if not path.is_file():
            raise ModelError(f"line orientation model not found: {path}")
        self.session = create_session(path, threads=threads, providers=providers)
        self.batch = batch

    def upside_down_probs(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """P(line is rotated by 180) for each crop."""
        out = []
        for i in range(0, len(crops), self.batch):
            x = np.stack([line_tensor(c) for c in crops[i:i + self.batch]])
            out.append(self.session.run(["probs"], {"images": x})[0][:, 1])
        return np.concatenate(out) if out else np.zeros(0, np.float32)


@dataclass
class PageOrientation:
    angle: int  # counter-clockwise degrees the page is turned: rotate by -angle to read it
    confidence: float
    lines_used: int


def page_orientation(image: np.ndarray, polygons: Sequence[np.ndarray], classifier: LineOrientationClassifier,
                     max_lines: int = 24, detect: Optional[Callable[[np.ndarray], Sequence[np.ndarray]]] = None
                     ) -> PageOrientation:
    """0/90/180/270 from the detected line boxes and the line classifier's vote.

    `detect` (image -> polygons), when given, re-detects a page found turned by a quarter after
    turning it back: the detector separates lines far better on upright/upside-down pages than
    on sideways ones, and the 0/180 vote needs clean single-line crops.
    """
    boxes = [np.asarray(p, np.float32).reshape(-1, 2) for p in polygons if len(p) >= 4]
    if not boxes:
        return PageOrientation(0, 0.0, 0)
    sizes = [cv2.minAreaRect(b)[1] for b in boxes]
    # Long boxes carry the orientation; squares (single glyphs, stamps) do not.
    long_ones = [(b, s) for b, s in zip(boxes, sizes) if max(s) > 2.0 * max(min(s), 1)]
    if not long_ones:
        return PageOrientation(0, 0.0, 0)
    tall = sum(1 for b, _ in long_ones if np.ptp(b[:, 1]) > np.ptp(b[:, 0]))
    turned = tall > len(long_ones) / 2
    if turned and detect is not None:
        upright = np.ascontiguousarray(np.rot90(image, -1))  # undo a 90° ccw turn
        inner = page_orientation(upright, detect(upright), classifier, max_lines)
        return PageOrientation((90 + inner.angle) % 360, inner.confidence, inner.lines_used)
    # Largest boxes first: more glyphs, surer votes.
    long_ones.sort(key=lambda bs: -bs[1][0] * bs[1][1])
    crops = []
    for b, _ in long_ones[:max_lines]:
        x0, y0 = np.floor(b.min(0)).astype(int)
        x1, y1 = np.ceil(b.max(0)).astype(int)
        c = image[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1]
        if c.size == 0:
            continue
        if turned:  # assume a 90° ccw page first; the 0/180 vote then flips it to 270 if needed
            c = np.ascontiguousarray(np.rot90(c, -1))
        crops.append(c)
    if not crops:
        return PageOrientation(0, 0.0, 0)
    p = classifier.upside_down_probs(crops)
    flipped = float(np.mean(p)) > 0.5
    conf = float(abs(np.mean(p) - 0.5) * 2)
    angle = (90 if turned else 0) + (180 if flipped else 0)
    return PageOrientation(angle % 360, conf, len(crops))
