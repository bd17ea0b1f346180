"""Text orientation without torch: line 0/180 classifier (ONNX) and page 0/90/180/270 from lines.

Line classifier `det_orient_line.onnx`: input `images` float32 (N, 1, 48, 192) gray line crops
(resized to height 48 keeping aspect, padded right with the crop's border colour), normalized
`(x/255 - 0.5) / 0.5`; output `probs` (N, 2): [upright, upside-down].

Page orientation is read from the detected lines instead of a separate page CNN (a 224-px
thumbnail blurs small receipt print away): if most long boxes stand upright, the page lies on
its side, and the recognizer's confidence on the longest lines read both ways picks 90 or 270;
then the line classifier's relative vote (lines as cropped vs turned), with the recognizer as
tie-break, tells 0 from 180. The reading pipeline (``OCR``) calls ``page_orientation``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, NamedTuple, Optional, Sequence

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


class DetectedLines(NamedTuple):
    """What the detector found on one version of a page, cropped for the recognizer."""

    quads: List[np.ndarray]  # (4, 2) each, clockwise from top-left, in that page's pixels
    crops: List[np.ndarray]  # upright line crops (vertical columns already turned to read left to right)
    vertical: List[bool]  # crop i came from a vertical column


@dataclass
class PageOrientation:
    turn: int  # counter-clockwise quarter turn (np.rot90 by turn // 90) that made the page upright
    image: np.ndarray  # the page after that turn
    lines: DetectedLines  # the lines found on the upright page

    @property
    def angle(self) -> int:
        """Counter-clockwise degrees the page was turned by before reading."""
        return (-self.turn) % 360


def turned_180(crop: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(crop[::-1, ::-1])


def quarter_turn(lines: DetectedLines, read_confidence: Callable[[List[np.ndarray]], float],
                 min_lines: int = 5, longest_lines: int = 12, tall_share: float = 0.7, sure: float = 0.8) -> int:
    """0, or the counter-clockwise quarter turn (90/270) that makes a sideways page upright.

    A page whose longest boxes are mostly tall is either on its side or set in vertical columns.
    The recognizer decides: the eight longest crops are read turned both ways; the page is
    turned only when one reading is sure (mean confidence >= `sure`), which sideways glyphs of
    real vertical columns do not reach."""
    quads, crops, vertical = lines
    sizes = [(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[3] - q[0])) for q in quads]
    long_ones = [i for i, (w, h) in enumerate(sizes) if max(w, h) >= 2 * max(min(w, h), 1.0)]
    # The longest boxes vote: on a sideways receipt the detector also leaves many short
    # fragments of either shape, but its longest boxes still follow the text lines.
    longest = sorted(long_ones, key=lambda i: -max(sizes[i]))[:longest_lines]
    tall = [i for i in longest if vertical[i] or sizes[i][1] > sizes[i][0]]
    if len(long_ones) < min_lines or len(tall) < tall_share * len(longest):
        return 0
    tall = tall[:8]
    # Vertical crops were already turned counter-clockwise; upright crops of tall boxes are turned
    # here the same way, so `ccw` is the page turned by 90 and its 180 twin is 270.
    ccw = [crops[i] if vertical[i] else np.ascontiguousarray(np.rot90(crops[i])) for i in tall]
    conf_ccw = read_confidence(ccw)
    conf_cw = read_confidence([turned_180(c) for c in ccw])
    if max(conf_ccw, conf_cw) < sure:
        return 0
    return 90 if conf_ccw >= conf_cw else 270


def is_upside_down(lines: DetectedLines, upside_down_probs: Callable[[List[np.ndarray]], np.ndarray],
                   read_confidence: Callable[[List[np.ndarray]], float], max_lines: int = 16,
                   sure_margin: float = 0.2) -> bool:
    """Is the page upside down? The line classifier's mean 180° probability of the widest lines as
    cropped vs turned: a relative vote, because on receipts its absolute score of turned digits
    and capitals hovers near 0.5. When that margin is thin, the recognizer's mean confidence on
    both readings of the eight widest lines decides. 42 of 42 right on 20 SROIE eval receipts
    and the sample, upright and turned (benchmarks/bench_rotation.py)."""
    horizontal = [c for c, v in zip(lines.crops, lines.vertical) if not v and c.shape[1] >= 2 * c.shape[0]]
    if len(horizontal) < 3:
        return False
    horizontal = sorted(horizontal, key=lambda c: -c.shape[1])[:max_lines]
    turned = [turned_180(c) for c in horizontal]
    as_is = float(np.mean(upside_down_probs(horizontal)))
    flipped = float(np.mean(upside_down_probs(turned)))
    if abs(as_is - flipped) >= sure_margin:
        return as_is > flipped
    return read_confidence(turned[:8]) > read_confidence(horizontal[:8])


def page_orientation(image: np.ndarray, find_lines: Callable[[np.ndarray], DetectedLines],
                     upside_down_probs: Callable[[List[np.ndarray]], np.ndarray],
                     read_confidence: Callable[[List[np.ndarray]], float],
                     lines: Optional[DetectedLines] = None) -> PageOrientation:
    """Turn a page upright from its detected lines: first a quarter turn if it lies on its side,
    then 180° if it is upside down; the lines are detected again after each turn, because the
    detector separates lines far better on an upright page than on a sideways one.

    `find_lines` detects and crops (image -> DetectedLines); `upside_down_probs` is the 0/180 line
    classifier; `read_confidence` is the recognizer's mean confidence over crops. `lines`, when
    given, are image's lines already found (saves one detection)."""
    lines = find_lines(image) if lines is None else lines
    turn = quarter_turn(lines, read_confidence)
    if turn:
        image = np.ascontiguousarray(np.rot90(image, turn // 90))
        lines = find_lines(image)
    if is_upside_down(lines, upside_down_probs, read_confidence):
        image = np.ascontiguousarray(np.rot90(image, 2))
        lines = find_lines(image)
        turn = (turn + 180) % 360
    return PageOrientation(turn, image, lines)
