"""Integer page coordinates for the formats that want them (TSV, hOCR, ALTO, PAGE)."""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple

from ..document import Box, Line, Page, Point, Word, is_cjk_char


def int_box(box: Box, page: Page) -> Tuple[int, int, int, int]:
    """(x0, y0, x1, y1) grown outwards to whole pixels and clipped to the page."""
    x0, y0, x1, y1 = box
    x0 = min(max(math.floor(x0), 0), page.width)
    y0 = min(max(math.floor(y0), 0), page.height)
    x1 = min(max(math.ceil(x1), x0), page.width)
    y1 = min(max(math.ceil(y1), y0), page.height)
    return x0, y0, x1, y1


def int_points(polygon: Sequence[Point], page: Page) -> List[Tuple[int, int]]:
    """Polygon rounded to whole pixels and clipped to the page (PAGE XML points are >= 0)."""
    return [
        (min(max(round(x), 0), page.width), min(max(round(y), 0), page.height)) for x, y in polygon
    ]


def line_words(line: Line) -> List[Word]:
    """A line's words; a line that has text but no word boxes counts as one word."""
    if line.words or not line.text:
        return list(line.words)
    return [Word(text=line.text, confidence=line.confidence, polygon=line.polygon)]


def spaced_after(line: Line, words: Sequence[Word]) -> List[bool]:
    """For each word, whether the line's text has whitespace between it and the next word.

    Words partition the line's non-space characters (``split_words``); where a caller built
    words that do not match the text, fall back to ``join_words``' rule (space unless CJK).
    """
    text = line.text or ""
    out: List[bool] = []
    pos = 0
    for i, w in enumerate(words):
        at = text.find(w.text, pos) if w.text else -1
        if at < 0:
            nxt = words[i + 1].text if i + 1 < len(words) else ""
            cjk = bool(w.text and nxt) and (is_cjk_char(w.text[-1]) or is_cjk_char(nxt[0]))
            out.append(i + 1 < len(words) and not cjk)
            continue
        pos = at + len(w.text)
        out.append(i + 1 < len(words) and pos < len(text) and text[pos].isspace())
    return out
