"""Geometric plausibility checks on recognized lines: does the text fit its box?

Printed text has a predictable advance: a CJK character is about one line-height wide, a Latin
character or digit about half of one (0.35-0.75 depending on the font), a space a bit less. So a
line's expected width is ``height * sum(advance(ch))``; a reading that needs a box two or three
times wider or narrower than the one it sits in was read from something else (a stamp, a logo, a
table rule, a smudge). Inside a block, lines of one paragraph share a height, so an outlier height
is flagged too; tiny boxes, near-zero confidence and empty text are noise.

Each check returns ``Flag(code, reason)``; ``validate_lines`` returns one list of flags per line and
``should_drop`` says which flags mean "noise, drop it" (the others mean "implausible, review").
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

# "no_characters" is only flagged: receipts print lone ":" and "%" that annotators keep as lines
DROP_CODES = frozenset({"empty", "tiny_box", "very_low_confidence"})


@dataclass(frozen=True)
class Flag:
    code: str
    reason: str


@dataclass
class GeometryConfig:
    min_height_px: float = 6.0  # boxes lower than this are noise at any usual scan resolution
    min_area_px: float = 40.0
    min_confidence: float = 0.15  # below this a line is noise, whatever it says
    width_ratio_low: float = 0.45  # box narrower than this fraction of the expected width: implausible
    width_ratio_high: float = 2.5  # box wider than this multiple of the expected width: implausible
    min_chars_for_width_check: int = 2  # a single character can sit in any box
    height_outlier: float = 0.45  # |h / block median - 1| above this flags the line
    quad_angle_tol_deg: float = 12.0  # corner angles of a rectified box should be ~90 degrees
    quad_side_ratio_tol: float = 0.25  # opposite sides of a rectified box should be ~equal


def char_advance(ch: str) -> float:
    """Typical advance width of ``ch`` in units of the line height."""
    if ch == " ":
        return 0.3
    if unicodedata.east_asian_width(ch) in ("W", "F"):
        return 1.0
    if ch in "il.,:;'!|`":
        return 0.3
    if ch in "mwMW@%":
        return 0.8
    if ch.isupper() or ch.isdigit():
        return 0.6
    return 0.5


def expected_width(text: str, height: float) -> float:
    return height * sum(char_advance(ch) for ch in text)


def _box_wh(polygon: np.ndarray) -> Tuple[float, float]:
    """Width and height of a text line's quadrilateral (mean of opposite sides), or of its bbox."""
    pts = np.asarray(polygon, np.float64).reshape(-1, 2)
    if len(pts) == 4:
        top = np.linalg.norm(pts[1] - pts[0])
        bottom = np.linalg.norm(pts[2] - pts[3])
        right = np.linalg.norm(pts[2] - pts[1])
        left = np.linalg.norm(pts[3] - pts[0])
        return (top + bottom) / 2, (left + right) / 2
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    return float(x1 - x0), float(y1 - y0)


def check_line(text: str, confidence: float, polygon, config: GeometryConfig = GeometryConfig(),
               vertical: Optional[bool] = None) -> List[Flag]:
    flags: List[Flag] = []
    w, h = _box_wh(polygon)
    if not text.strip():
        flags.append(Flag("empty", "no text was read in the box"))
    elif not any(ch.isalnum() or unicodedata.category(ch).startswith("L") for ch in text):
        flags.append(Flag("no_characters", f"only symbols/punctuation {text!r}"))
    if min(w, h) < config.min_height_px or w * h < config.min_area_px:
        flags.append(Flag("tiny_box", f"box {w:.0f}x{h:.0f} px is too small for text"))
    if confidence < config.min_confidence:
        flags.append(Flag("very_low_confidence", f"confidence {confidence:.2f} < {config.min_confidence}"))
    if vertical is None:
        vertical = h > 1.5 * w and len(text.strip()) > 1
    if vertical:
        w, h = h, w  # a vertical CJK column: advance runs along the height
    n = len(text.strip())
    if n >= config.min_chars_for_width_check and h > 0:
        exp = expected_width(text.strip(), h)
        ratio = w / exp if exp > 0 else float("inf")
        if ratio < config.width_ratio_low:
            flags.append(Flag("text_too_long", f"{n} chars need ~{exp:.0f} px, box is {w:.0f} px (x{ratio:.2f})"))
        elif ratio > config.width_ratio_high:
            flags.append(Flag("text_too_short", f"{n} chars need ~{exp:.0f} px, box is {w:.0f} px (x{ratio:.2f})"))
    return flags


def check_block_heights(polygons: Sequence, config: GeometryConfig = GeometryConfig()) -> List[List[Flag]]:
    """Flag lines whose height is far from the block's median line height."""
    heights = np.array([_box_wh(p)[1] for p in polygons], np.float64)
    out: List[List[Flag]] = [[] for _ in polygons]
    if len(heights) < 3:
        return out  # two lines cannot outvote each other
    med = float(np.median(heights))
    for i, h in enumerate(heights):
        if med > 0 and abs(h / med - 1.0) > config.height_outlier:
            out[i].append(Flag("height_outlier", f"line height {h:.0f} px vs block median {med:.0f} px"))
    return out


def check_rectified_quad(polygon, config: GeometryConfig = GeometryConfig()) -> List[Flag]:
    """After perspective correction a line box should be a rectangle: right angles, equal opposite sides."""
    pts = np.asarray(polygon, np.float64).reshape(-1, 2)
    if len(pts) != 4:
        return []
    flags = []
    worst = 0.0
    for i in range(4):
        a, b, c = pts[i - 1], pts[i], pts[(i + 1) % 4]
        u, v = a - b, c - b
        nu, nv = np.linalg.norm(u), np.linalg.norm(v)
        if nu == 0 or nv == 0:
            return [Flag("degenerate_box", "box has a zero-length side")]
        ang = np.degrees(np.arccos(np.clip(np.dot(u, v) / (nu * nv), -1, 1)))
        worst = max(worst, abs(ang - 90.0))
    if worst > config.quad_angle_tol_deg:
        flags.append(Flag("not_rectangular", f"a corner is {worst:.0f} degrees off square after rectification"))
    sides = [np.linalg.norm(pts[(i + 1) % 4] - pts[i]) for i in range(4)]
    for a, b, name in ((sides[0], sides[2], "top/bottom"), (sides[1], sides[3], "left/right")):
        if max(a, b) > 0 and abs(a - b) / max(a, b) > config.quad_side_ratio_tol:
            flags.append(Flag("uneven_sides", f"{name} sides differ by {abs(a - b) / max(a, b):.0%}"))
    return flags


@dataclass
class LineCheck:
    index: int
    flags: List[Flag] = field(default_factory=list)

    @property
    def drop(self) -> bool:
        return should_drop(self.flags)

    @property
    def ok(self) -> bool:
        return not self.flags


def should_drop(flags: Sequence[Flag]) -> bool:
    return any(f.code in DROP_CODES for f in flags)


def validate_lines(texts: Sequence[str], confidences: Sequence[float], polygons: Sequence,
                   blocks: Optional[Sequence[int]] = None, rectified: bool = False,
                   config: GeometryConfig = GeometryConfig()) -> List[LineCheck]:
    """Checks for each line; ``blocks[i]`` groups lines for the height check (default: one block)."""
    if not (len(texts) == len(confidences) == len(polygons)):
        raise ValueError("texts, confidences and polygons must have the same length")
    checks = [LineCheck(i, check_line(t, c, p, config)) for i, (t, c, p) in enumerate(zip(texts, confidences, polygons))]
    groups: Dict[int, List[int]] = {}
    for i, b in enumerate(blocks if blocks is not None else [0] * len(texts)):
        groups.setdefault(b, []).append(i)
    for members in groups.values():
        real = [i for i in members if not checks[i].drop]
        for i, fl in zip(real, check_block_heights([polygons[i] for i in real], config)):
            checks[i].flags.extend(fl)
    if rectified:
        for i, p in enumerate(polygons):
            checks[i].flags.extend(check_rectified_quad(p, config))
    return checks


def validate_document(document, config: GeometryConfig = GeometryConfig()) -> Dict[Tuple[int, int, int], List[Flag]]:
    """Flags for every line of an ``ocrforge.document.Document``, keyed by (page, block, line) index."""
    out: Dict[Tuple[int, int, int], List[Flag]] = {}
    for pi, page in enumerate(document.pages):
        for bi, block in enumerate(page.blocks):
            lines = list(block.lines)
            checks = validate_lines([ln.text for ln in lines], [ln.confidence for ln in lines],
                                    [np.asarray(ln.polygon, np.float64) for ln in lines], config=config)
            for li, chk in enumerate(checks):
                out[(pi, bi, li)] = chk.flags
    return out
