"""The document model every stage produces and every output format consumes.

Document -> Page -> Block -> Line -> Word. Geometry is kept as polygons in page pixels (the
upright page the detector saw, after any rotation), because receipts are photographed at an
angle and axis-aligned boxes lose that; ``.box`` gives the axis-aligned (x0, y0, x1, y1) when a
format needs it. Confidences are in [0, 1]. A parent's confidence, polygon and text may be left
out and are then derived from its children once, at construction, so that what ``export()``
writes is exactly what ``from_dict()`` reads back.

Reading order: a Block's ``reading_order`` orders it within its page, a Line's orders it within
its block; left out, it is the position in the list. ``Document.lines()``, ``.words()`` and
``.render()`` walk in that order.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from .errors import InputError

Point = Tuple[float, float]
Polygon = List[Point]
Box = Tuple[float, float, float, float]

EXPORT_VERSION = 1
ROTATIONS = (0, 90, 180, 270)

# ---------------------------------------------------------------------------------------------
# Scripts. ISO 15924 codes: "Hans" (Han; the charset is GB2312, so simplified), "Latn", "Zyyy"
# (only digits, punctuation, symbols), "Zzzz" (letters of another script), "mixed" (Han + Latin
# letters). Digits and punctuation never make text "mixed": "合计12.00" is Hans.
# ---------------------------------------------------------------------------------------------

HAN, LATIN, COMMON, OTHER = "Hans", "Latn", "Zyyy", "Zzzz"
MIXED = "mixed"

# BCP 47 tags the XML formats write for a script (this project reads Chinese and English).
SCRIPT_LANGUAGE = {HAN: "zh-Hans", LATIN: "en"}

_HAN_RANGES = (
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3400, 0x4DBF),  # extension A
    (0x4E00, 0x9FFF),  # unified ideographs
    (0xF900, 0xFAFF),  # compatibility ideographs
    (0x20000, 0x323AF),  # extensions B..H
)
# Punctuation and forms that only occur in CJK typesetting: they belong to a CJK word.
_CJK_PUNCT_RANGES = (
    (0x3000, 0x303F),  # CJK symbols and punctuation
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # halfwidth and fullwidth forms
)


def _in(cp: int, ranges) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


def char_script(ch: str) -> str:
    """Script of one character: HAN, LATIN, COMMON or OTHER."""
    cp = ord(ch)
    if _in(cp, _HAN_RANGES):
        return HAN
    if ch.isalpha():
        # Latin letters: ASCII, Latin-1, Latin Extended-A/B and Additional.
        if cp < 0x250 or 0x1E00 <= cp <= 0x1EFF:
            return LATIN
        # Fullwidth Latin letters (Ａ-Ｚ) are typeset with CJK text.
        if 0xFF21 <= cp <= 0xFF5A:
            return LATIN
        return OTHER
    return COMMON


def detect_script(text: str) -> str:
    """Script tag of a string: one script, COMMON if it has no letters, MIXED for Han + Latin."""
    found = {char_script(c) for c in text} - {COMMON}
    if not found:
        return COMMON
    if len(found) == 1:
        return found.pop()
    if found == {HAN, LATIN}:
        return MIXED
    return MIXED if HAN in found or LATIN in found else OTHER


def is_cjk_char(ch: str) -> bool:
    """Han characters and CJK-only punctuation: characters that need no space around them."""
    cp = ord(ch)
    if cp < 0x2E80:  # below every CJK range: Latin, digits and punctuation, most of a receipt, answer at once
        return False
    return _in(cp, _HAN_RANGES) or _in(cp, _CJK_PUNCT_RANGES)


def language_of(script: str) -> Optional[str]:
    """BCP 47 language tag for a script tag, None where it says nothing (digits, mixed)."""
    return SCRIPT_LANGUAGE.get(script)


# ---------------------------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------------------------


def _as_polygon(points: Any) -> Polygon:
    try:
        poly = [(float(p[0]), float(p[1])) for p in points]
    except (TypeError, ValueError, IndexError) as exc:
        raise InputError(f"a polygon must be a list of (x, y) numbers, got {points!r:.80}") from exc
    if any(not (math.isfinite(x) and math.isfinite(y)) for x, y in poly):
        raise InputError("a polygon has a NaN or infinite coordinate")
    return poly


def box_of(polygon: Sequence[Point]) -> Box:
    """Axis-aligned (x0, y0, x1, y1) of a polygon; (0, 0, 0, 0) for an empty one."""
    if not polygon:
        return (0.0, 0.0, 0.0, 0.0)
    xs = [p[0] for p in polygon]
    ys = [p[1] for p in polygon]
    return (min(xs), min(ys), max(xs), max(ys))


def box_polygon(box: Box) -> Polygon:
    x0, y0, x1, y1 = box
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def union_polygon(polygons: Sequence[Sequence[Point]]) -> Polygon:
    """Axis-aligned rectangle around several polygons (a parent's outline when none is given)."""
    pts = [p for poly in polygons for p in poly]
    return box_polygon(box_of(pts)) if pts else []


def quad_of(polygon: Sequence[Point]) -> Polygon:
    """Four corners (top-left, top-right, bottom-right, bottom-left) of a text polygon.

    Four-point polygons are taken as they are (the detector's order, clockwise from top-left).
    Others (curved or unclipped outlines) get their oriented bounding rectangle along the
    principal axis, which is what a straight text line's outline approximates.
    """
    if len(polygon) == 4:
        return [tuple(p) for p in polygon]  # type: ignore[misc]
    if len(polygon) < 3:
        return box_polygon(box_of(polygon)) if polygon else []
    cx = sum(p[0] for p in polygon) / len(polygon)
    cy = sum(p[1] for p in polygon) / len(polygon)
    sxx = sum((p[0] - cx) ** 2 for p in polygon)
    syy = sum((p[1] - cy) ** 2 for p in polygon)
    sxy = sum((p[0] - cx) * (p[1] - cy) for p in polygon)
    angle = 0.5 * math.atan2(2 * sxy, sxx - syy)
    ux, uy = math.cos(angle), math.sin(angle)
    if ux < 0:  # text runs left to right
        ux, uy = -ux, -uy
    vx, vy = -uy, ux  # points down the page (y grows downwards)
    us = [(p[0] - cx) * ux + (p[1] - cy) * uy for p in polygon]
    vs = [(p[0] - cx) * vx + (p[1] - cy) * vy for p in polygon]
    u0, u1, v0, v1 = min(us), max(us), min(vs), max(vs)

    def at(u: float, v: float) -> Point:
        return (cx + u * ux + v * vx, cy + u * uy + v * vy)

    return [at(u0, v0), at(u1, v0), at(u1, v1), at(u0, v1)]


def _check_confidence(value: float, what: str) -> float:
    value = float(value)
    if not (0.0 <= value <= 1.0):
        raise InputError(f"{what} confidence must be in [0, 1], got {value}")
    return value


def _weighted_confidence(items: Sequence[Tuple[float, int]]) -> float:
    """Mean confidence weighted by character count, so a long line outweighs a stray mark."""
    total = sum(max(n, 1) for _, n in items)
    if not items:
        return 0.0
    return sum(c * max(n, 1) for c, n in items) / total


def _ordered(items: Sequence[Any]) -> List[Any]:
    return [it for _, it in sorted(enumerate(items), key=lambda e: (e[1].reading_order, e[0]))]


# ---------------------------------------------------------------------------------------------
# Elements
# ---------------------------------------------------------------------------------------------


@dataclass
class Word:
    """A word: a space-delimited token, or a run of CJK characters (see ``split_words``)."""

    text: str
    confidence: float
    polygon: Polygon
    script: str = ""  # derived from the text when empty

    def __post_init__(self) -> None:
        self.polygon = _as_polygon(self.polygon)
        self.confidence = _check_confidence(self.confidence, "word")
        if not self.script:
            self.script = detect_script(self.text)

    @property
    def box(self) -> Box:
        return box_of(self.polygon)

    @property
    def language(self) -> Optional[str]:
        return language_of(self.script)

    def export(self) -> Dict[str, Any]:
        return {
            "text": self.text,
            "confidence": self.confidence,
            "script": self.script,
            "polygon": [list(p) for p in self.polygon],
            "box": list(self.box),
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Word":
        return cls(text=d["text"], confidence=d["confidence"], polygon=d["polygon"], script=d.get("script", ""))


def join_words(words: Sequence[Word]) -> str:
    """Line text from its words: a space between two words unless a CJK character meets it."""
    out = ""
    for w in words:
        if out and w.text and not (is_cjk_char(out[-1]) or is_cjk_char(w.text[0])):
            out += " "
        out += w.text
    return out


@dataclass
class Line:
    """One text line. ``text`` is the recognizer's output; words partition its non-space characters."""

    words: List[Word] = field(default_factory=list)
    text: Optional[str] = None  # derived from the words when None
    confidence: Optional[float] = None  # derived from the words when None
    polygon: Polygon = field(default_factory=list)  # derived from the words when empty
    script: str = ""  # derived from the text when empty
    reading_order: Optional[int] = None  # position within its block; set by the block when None

    def __post_init__(self) -> None:
        self.words = list(self.words)
        if self.text is None:
            self.text = join_words(self.words)
        self.polygon = _as_polygon(self.polygon) if self.polygon else union_polygon([w.polygon for w in self.words])
        if self.confidence is None:
            self.confidence = _weighted_confidence([(w.confidence, len(w.text)) for w in self.words])
        self.confidence = _check_confidence(self.confidence, "line")
        if not self.script:
            self.script = detect_script(self.text)

    @property
    def box(self) -> Box:
        return box_of(self.polygon)

    @property
    def language(self) -> Optional[str]:
        return language_of(self.script)

    def export(self) -> Dict[str, Any]:
        return {
            "text": self.text,
            "confidence": self.confidence,
            "script": self.script,
            "reading_order": self.reading_order,
            "polygon": [list(p) for p in self.polygon],
            "box": list(self.box),
            "words": [w.export() for w in self.words],
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Line":
        return cls(
            words=[Word.from_dict(w) for w in d.get("words", [])],
            text=d["text"],
            confidence=d["confidence"],
            polygon=d.get("polygon", []),
            script=d.get("script", ""),
            reading_order=d.get("reading_order"),
        )


@dataclass
class Block:
    """A text region (a paragraph, a column, a receipt section)."""

    lines: List[Line] = field(default_factory=list)
    polygon: Polygon = field(default_factory=list)  # derived from the lines when empty
    confidence: Optional[float] = None  # derived from the lines when None
    reading_order: Optional[int] = None  # position within its page; set by the page when None

    def __post_init__(self) -> None:
        self.lines = list(self.lines)
        for i, line in enumerate(self.lines):
            if line.reading_order is None:
                line.reading_order = i
        self.polygon = _as_polygon(self.polygon) if self.polygon else union_polygon([ln.polygon for ln in self.lines])
        if self.confidence is None:
            self.confidence = _weighted_confidence([(ln.confidence, len(ln.text)) for ln in self.lines])
        self.confidence = _check_confidence(self.confidence, "block")

    @property
    def box(self) -> Box:
        return box_of(self.polygon)

    def ordered_lines(self) -> List[Line]:
        return _ordered(self.lines)

    @property
    def text(self) -> str:
        """Lines in reading order; lines on one printed row (receipt item and its price) are joined
        with a space, as PDF text extractors join them, so txt and searchable-PDF text agree."""
        parts: List[str] = []
        prev: Optional[Line] = None
        for ln in self.ordered_lines():
            if prev is not None:
                parts.append(" " if same_row(prev.box, ln.box) else "\n")
            parts.append(ln.text)
            prev = ln
        return "".join(parts)

    def export(self) -> Dict[str, Any]:
        return {
            "confidence": self.confidence,
            "reading_order": self.reading_order,
            "polygon": [list(p) for p in self.polygon],
            "box": list(self.box),
            "lines": [ln.export() for ln in self.lines],
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Block":
        return cls(
            lines=[Line.from_dict(ln) for ln in d.get("lines", [])],
            polygon=d.get("polygon", []),
            confidence=d["confidence"],
            reading_order=d.get("reading_order"),
        )


@dataclass
class Page:
    """One page: the blocks found on the upright page image ``width`` x ``height`` pixels."""

    index: int  # 0-based position in the document
    width: int
    height: int
    blocks: List[Block] = field(default_factory=list)
    dpi: Optional[float] = None  # pixels per inch, when known (PDF input, TIFF tags)
    rotation: int = 0  # clockwise degrees the input was turned to make it upright
    source: str = ""  # file name (and page) this page came from
    confidence: Optional[float] = None  # derived from the blocks when None

    def __post_init__(self) -> None:
        self.blocks = list(self.blocks)
        if self.width < 0 or self.height < 0 or self.index < 0:
            raise InputError(f"page index and size must not be negative, got {self.index} {self.width}x{self.height}")
        if self.rotation not in ROTATIONS:
            raise InputError(f"page rotation must be one of {ROTATIONS}, got {self.rotation}")
        if self.dpi is not None and not self.dpi > 0:
            raise InputError(f"page dpi must be positive, got {self.dpi}")
        for i, block in enumerate(self.blocks):
            if block.reading_order is None:
                block.reading_order = i
        if self.confidence is None:
            lines = [ln for b in self.blocks for ln in b.lines]
            self.confidence = _weighted_confidence([(ln.confidence, len(ln.text)) for ln in lines])
        self.confidence = _check_confidence(self.confidence, "page")

    @property
    def box(self) -> Box:
        return (0.0, 0.0, float(self.width), float(self.height))

    @property
    def polygon(self) -> Polygon:
        return box_polygon(self.box)

    def ordered_blocks(self) -> List[Block]:
        return _ordered(self.blocks)

    def lines(self) -> Iterator[Line]:
        for block in self.ordered_blocks():
            yield from block.ordered_lines()

    def words(self) -> Iterator[Word]:
        for line in self.lines():
            yield from line.words

    def render(self) -> str:
        return "\n\n".join(b.text for b in self.ordered_blocks() if b.lines)

    def export(self) -> Dict[str, Any]:
        return {
            "index": self.index,
            "width": self.width,
            "height": self.height,
            "dpi": self.dpi,
            "rotation": self.rotation,
            "source": self.source,
            "confidence": self.confidence,
            "blocks": [b.export() for b in self.blocks],
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Page":
        return cls(
            index=d["index"],
            width=d["width"],
            height=d["height"],
            blocks=[Block.from_dict(b) for b in d.get("blocks", [])],
            dpi=d.get("dpi"),
            rotation=d.get("rotation", 0),
            source=d.get("source", ""),
            confidence=d["confidence"],
        )


@dataclass
class Document:
    pages: List[Page] = field(default_factory=list)
    source: str = ""
    metadata: Dict[str, Any] = field(default_factory=dict)

    def lines(self) -> Iterator[Line]:
        """Every line, pages in order, then blocks and lines in reading order."""
        for page in self.pages:
            yield from page.lines()

    def words(self) -> Iterator[Word]:
        for page in self.pages:
            yield from page.words()

    @property
    def confidence(self) -> float:
        return _weighted_confidence([(ln.confidence, len(ln.text)) for ln in self.lines()])

    def split_pages(self) -> List["Document"]:
        """One single-page document per page (for formats that hold one page per file)."""
        return [Document(pages=[p], source=self.source, metadata=dict(self.metadata)) for p in self.pages]

    def render(self) -> str:
        """Plain text: lines by newline, blocks by a blank line, pages by a form feed."""
        return "\f".join(p.render() for p in self.pages)

    def export(self) -> Dict[str, Any]:
        """A JSON-able dict; ``box`` entries are derived and ignored by ``from_dict``."""
        return {
            "version": EXPORT_VERSION,
            "source": self.source,
            "metadata": dict(self.metadata),
            "pages": [p.export() for p in self.pages],
        }

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Document":
        if not isinstance(d, dict) or "pages" not in d:
            raise InputError("not an ocrforge document: no 'pages'")
        version = d.get("version", EXPORT_VERSION)
        if version != EXPORT_VERSION:
            raise InputError(f"ocrforge document version {version} is not supported (expected {EXPORT_VERSION})")
        try:
            return cls(
                pages=[Page.from_dict(p) for p in d["pages"]],
                source=d.get("source", ""),
                metadata=dict(d.get("metadata", {})),
            )
        except (KeyError, TypeError) as exc:
            raise InputError(f"malformed ocrforge document: {exc!r}") from exc

    def to_json(self, indent: Optional[int] = None) -> str:
        return json.dumps(self.export(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_json(cls, text: str) -> "Document":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not JSON: {exc}") from exc
        return cls.from_dict(d)


# ---------------------------------------------------------------------------------------------
# Words from a recognized line
# ---------------------------------------------------------------------------------------------


def split_words(text: str) -> List[Tuple[int, int]]:
    """Word spans (start, end) of a line's text.

    A word is a maximal run of non-space characters, further cut where CJK characters meet
    others: CJK text has no spaces, so each run of CJK characters (Han and CJK punctuation) is
    one word, and so is each run of non-CJK characters next to it. "合计 Total:RM12.00" gives
    "合计", "Total:RM12.00"; "共3件" gives "共", "3", "件".
    """
    spans: List[Tuple[int, int]] = []
    start = None
    for i, ch in enumerate(text):
        if ch.isspace():
            if start is not None:
                spans.append((start, i))
                start = None
            continue
        if start is None:
            start = i
        elif is_cjk_char(ch) != is_cjk_char(text[i - 1]):
            spans.append((start, i))
            start = i
    if start is not None:
        spans.append((start, len(text)))
    return spans


def char_positions_from_frames(char_frames: Sequence[int], num_frames: int) -> List[float]:
    """Centres of characters as fractions of the line length, from CTC peak frames."""
    if num_frames <= 0:
        raise InputError("num_frames must be positive")
    return [(f + 0.5) / num_frames for f in char_frames]


def _char_edges(positions: Sequence[float]) -> List[float]:
    """Edges between characters, halfway between neighbouring centres; n + 1 values in [0, 1]."""
    n = len(positions)
    if n == 1:
        return [0.0, 1.0]
    mids = [(positions[i] + positions[i + 1]) / 2 for i in range(n - 1)]
    first = positions[0] - (mids[0] - positions[0])
    last = positions[-1] + (positions[-1] - mids[-1])
    return [min(max(e, 0.0), 1.0) for e in [first, *mids, last]]


def words_from_line(
    text: str,
    polygon: Sequence[Point],
    char_positions: Sequence[float],
    confidence: float,
    char_confidences: Optional[Sequence[float]] = None,
    word_confidences: Optional[Sequence[float]] = None,
) -> List[Word]:
    """Words of a line known only by its text, outline and where each character sits.

    ``char_positions`` gives each character's centre as a fraction (0 = left end, 1 = right
    end) of the line, e.g. ``char_positions_from_frames(result.char_frames, result.num_frames)``.
    Words follow ``split_words``. A word spans from the edge before its first character to the
    edge after its last (edges halfway between neighbouring centres), and its polygon is that
    stretch of the line's quadrilateral (``quad_of``), interpolated along the top and bottom
    edges, so slanted lines give slanted words. A word's confidence is the mean of its
    characters' when ``char_confidences`` is given, else the line's; ``word_confidences`` (one
    per word, e.g. calibrated by the recognizer) are used as they are and take precedence.
    """
    if len(char_positions) != len(text):
        raise InputError(f"{len(char_positions)} character positions for {len(text)} characters")
    if char_confidences is not None and len(char_confidences) != len(text):
        raise InputError(f"{len(char_confidences)} character confidences for {len(text)} characters")
    if not text:
        return []
    spans = split_words(text)
    if word_confidences is not None and len(word_confidences) != len(spans):
        raise InputError(f"{len(word_confidences)} word confidences for {len(spans)} words")
    positions = [min(max(float(p), 0.0), 1.0) for p in char_positions]
    # CTC peaks are in order; guard against a caller's jitter making edges cross.
    for i in range(1, len(positions)):
        positions[i] = max(positions[i], positions[i - 1])
    edges = _char_edges(positions)
    quad = quad_of(_as_polygon(polygon))
    if not quad:
        raise InputError("a line needs a polygon to place its words")
    tl, tr, br, bl = quad

    def along(a: Point, b: Point, t: float) -> Point:
        return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)

    words = []
    for k, (s, e) in enumerate(spans):
        t0, t1 = edges[s], edges[e]
        poly = [along(tl, tr, t0), along(tl, tr, t1), along(bl, br, t1), along(bl, br, t0)]
        if word_confidences is not None:
            conf = float(word_confidences[k])
        elif char_confidences is not None:
            conf = sum(char_confidences[s:e]) / (e - s)
        else:
            conf = confidence
        words.append(Word(text=text[s:e], confidence=min(max(conf, 0.0), 1.0), polygon=poly))
    return words


def line_from_recognition(
    text: str,
    polygon: Sequence[Point],
    confidence: float,
    char_frames: Sequence[int],
    num_frames: int,
    char_confidences: Optional[Sequence[float]] = None,
    reading_order: Optional[int] = None,
) -> Line:
    """A Line with its words from a recognizer's ``LineResult`` and the detected polygon.

    Recognizers that drop spaces between frames still give one frame per output character,
    so ``char_frames`` lines up with ``text``.
    """
    positions = char_positions_from_frames(char_frames, num_frames) if text else []
    words = words_from_line(text, polygon, positions, confidence, char_confidences)
    return Line(
        words=words,
        text=text,
        confidence=min(max(float(confidence), 0.0), 1.0),
        polygon=_as_polygon(polygon),
        reading_order=reading_order,
    )


__all__ = [
    "Word",
    "Line",
    "Block",
    "Page",
    "Document",
    "detect_script",
    "char_script",
    "is_cjk_char",
    "language_of",
    "box_of",
    "quad_of",
    "split_words",
    "join_words",
    "words_from_line",
    "char_positions_from_frames",
    "line_from_recognition",
]


def same_row(a: Box, b: Box) -> bool:
    """Two boxes (x0, y0, x1, y1) on one printed row: they overlap vertically by over half the
    shorter one's height."""
    overlap = min(a[3], b[3]) - max(a[1], b[1])
    return overlap > 0.5 * min(a[3] - a[1], b[3] - b[1])
