"""Detected text lines -> blocks in reading order.

A recursive XY-cut over the lines' boxes, with one twist that makes it work on receipts:
a vertical cut (a column gutter) is only taken when both sides look like columns of running
text. On a receipt the whitespace between "ITEM" and "12.50" also runs top to bottom, but the
price side is narrow and every price sits on the row of an item, so the cut is refused and the
region is read row by row. Horizontal cuts go at the widest full-width gap first, so a title
over two columns is split off before the columns are found, even when the columns' baselines
line up (which makes every line gap full-width).

Lines are never split or merged here: every input index appears exactly once in the output.
Written by hand because no library in our dependency set does reading order; the rules are few
and each is tested on synthetic layouts (tests/test_layout.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import numpy as np

Box = Tuple[float, float, float, float]  # x0, y0, x1, y1


@dataclass(frozen=True)
class LayoutConfig:
    """Thresholds, in units of the median line height unless said otherwise."""

    min_gutter: float = 0.8  # narrowest whitespace between two text columns
    min_column_frac: float = 0.22  # a column spans at least this fraction of its region's width
    min_fill: float = 0.4  # median line width / column width for a column of running text
    min_column_lines: int = 3
    min_single_rows: float = 0.8  # share of a column's lines that are alone on their row
    row_pair_frac: float = 0.7  # if this share of the smaller side sits on rows of the other...
    unequal_columns: float = 0.6  # ...and the sides' widths differ more than this ratio: a receipt
    paired_column_frac: float = 0.25  # ...or either side is narrower than this share of the page's text
    paired_min_aspect: float = 6.0  # ...or its lines are short (median width/height): labels, amounts
    row_overlap: float = 0.5  # vertical overlap (of the smaller height) that puts lines on one row
    gap_shrink: float = 0.15  # boxes shrunk by this share of their height when looking for gaps
    block_gap: float = 1.2  # vertical gap that starts a new block
    block_height_ratio: float = 1.6  # a line this much taller/shorter than the block starts a new one


@dataclass
class LayoutBlock:
    """A group of lines read together; ``rows`` are the visual rows, each left to right."""

    rows: List[List[int]]
    box: Box = (0.0, 0.0, 0.0, 0.0)

    @property
    def lines(self) -> List[int]:
        return [i for row in self.rows for i in row]


@dataclass
class _Ctx:
    boxes: np.ndarray  # (N, 4)
    h: float  # median line height
    cfg: LayoutConfig
    page_w: float  # width spanned by all the page's lines


def to_box(poly) -> Box:
    """A polygon [(x, y), ...] or a box (x0, y0, x1, y1) -> (x0, y0, x1, y1)."""
    a = np.asarray(poly, dtype=np.float64)
    if a.ndim == 1 and a.shape[0] == 4:
        return (float(a[0]), float(a[1]), float(a[2]), float(a[3]))
    a = a.reshape(-1, 2)
    return (float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 0].max()), float(a[:, 1].max()))


def _line_height(boxes: np.ndarray) -> float:
    """Text height of a line: its box height, but for a tall box (vertical text) its width."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return np.where(h > 1.5 * w, w, h)


def _gaps(lo: np.ndarray, hi: np.ndarray, min_gap: float) -> List[Tuple[float, float]]:
    """Whitespace intervals (start, end) of at least ``min_gap`` between projected intervals."""
    order = np.argsort(lo)
    out = []
    reach = hi[order[0]]
    for i in order[1:]:
        if lo[i] - reach >= min_gap:
            out.append((float(reach), float(lo[i])))
        reach = max(reach, hi[i])
    return out


def rows_of(idx: Sequence[int], boxes: np.ndarray, overlap: float) -> List[List[int]]:
    """Group lines into visual rows (top to bottom), each row left to right.

    A line joins the row whose vertical span it overlaps most, when the overlap is at least
    ``overlap`` of the smaller height; rows are seeded from the tallest lines so a small price
    next to a tall item name still lands on the item's row.
    """
    idx = sorted(idx, key=lambda i: (boxes[i, 1] + boxes[i, 3]) / 2)
    rows: List[List[int]] = []
    spans: List[List[float]] = []  # y0, y1 of each row's core line
    for i in idx:
        y0, y1 = boxes[i, 1], boxes[i, 3]
        best, best_ov = -1, 0.0
        for r, (r0, r1) in enumerate(spans):
            ov = min(y1, r1) - max(y0, r0)
            denom = max(1e-6, min(y1 - y0, r1 - r0))
            if ov / denom > best_ov:
                best, best_ov = r, ov / denom
        if best >= 0 and best_ov >= overlap:
            rows[best].append(i)
        else:
            rows.append([i])
            spans.append([y0, y1])
    for row in rows:
        row.sort(key=lambda i: boxes[i, 0])
    rows.sort(key=lambda row: min(boxes[i, 1] for i in row))
    return rows


def _is_text_column(side: List[int], boxes: np.ndarray, region_w: float, cfg: LayoutConfig) -> bool:
    if len(side) < cfg.min_column_lines:
        return False
    b = boxes[side]
    width = b[:, 2].max() - b[:, 0].min()
    if width < cfg.min_column_frac * region_w:
        return False
    fill = np.median((b[:, 2] - b[:, 0]) / max(width, 1e-6))
    if fill < cfg.min_fill:
        return False
    # Running text has one line per row; a side whose rows hold several pieces ("DOC NO." +
    # ": CS0001") is a form or a table, which is read across.
    rows = rows_of(side, boxes, cfg.row_overlap)
    return len(rows) >= cfg.min_single_rows * len(side)


def _median_aspect(side: List[int], boxes: np.ndarray) -> float:
    b = boxes[side]
    return float(np.median((b[:, 2] - b[:, 0]) / np.maximum(_line_height(b), 1e-6)))


def _row_paired(a: List[int], b: List[int], boxes: np.ndarray, overlap: float) -> float:
    """Share of lines in ``a`` that sit on the same row as some line of ``b``."""
    ya0, ya1 = boxes[a, 1][:, None], boxes[a, 3][:, None]
    yb0, yb1 = boxes[b, 1][None, :], boxes[b, 3][None, :]
    ov = np.minimum(ya1, yb1) - np.maximum(ya0, yb0)
    denom = np.maximum(np.minimum(ya1 - ya0, yb1 - yb0), 1e-6)
    return float(((ov / denom) >= overlap).any(axis=1).mean())


def _vertical_cut(idx: List[int], ctx: _Ctx):
    """Split at the leftmost column gutter, or None.

    The region is cut at every full-height whitespace gap into segments; a gap is a gutter when
    the segments on both sides are columns of running text and not an item/price pairing.
    Comparing neighbouring segments (not everything left vs. right of a gap) lets three or more
    columns be found one gutter at a time.
    """
    boxes = ctx.boxes
    b = boxes[idx]
    region_w = b[:, 2].max() - b[:, 0].min()
    gaps = _gaps(b[:, 0], b[:, 2], ctx.cfg.min_gutter * ctx.h)
    if not gaps:
        return None
    cuts = sorted((g0 + g1) / 2 for g0, g1 in gaps)
    segs: List[List[int]] = [[] for _ in range(len(cuts) + 1)]
    for i in idx:
        segs[int(np.searchsorted(cuts, boxes[i, 2]))].append(i)
    for k, mid in enumerate(cuts):
        a, c = segs[k], segs[k + 1]
        if not (_is_text_column(a, boxes, region_w, ctx.cfg) and _is_text_column(c, boxes, region_w, ctx.cfg)):
            continue
        small, big = sorted((a, c), key=len)
        w_small = np.ptp(boxes[small][:, [0, 2]])
        w_big = np.ptp(boxes[big][:, [0, 2]])
        ratio = min(w_small, w_big) / max(w_small, w_big, 1e-6)
        if _row_paired(small, big, boxes, ctx.cfg.row_overlap) >= ctx.cfg.row_pair_frac:
            # Side by side row for row: two columns of text with aligned baselines, or labels
            # and amounts. Columns of text are alike and each a good share of the page.
            aspect = min(_median_aspect(a, boxes), _median_aspect(c, boxes))
            if (ratio < ctx.cfg.unequal_columns or min(w_small, w_big) < ctx.cfg.paired_column_frac * ctx.page_w
                    or aspect < ctx.cfg.paired_min_aspect):
                continue  # label/value or item/price pairs: read by rows
        left = [i for i in idx if boxes[i, 2] <= mid]
        right = [i for i in idx if boxes[i, 2] > mid]
        return left, right
    return None


def _horizontal_cut(idx: List[int], ctx: _Ctx):
    b = ctx.boxes[idx]
    shrink = ctx.cfg.gap_shrink * (b[:, 3] - b[:, 1])
    gaps = _gaps(b[:, 1] + shrink, b[:, 3] - shrink, 1e-6)
    if not gaps:
        return None
    g0, g1 = max(gaps, key=lambda g: g[1] - g[0])
    mid = (g0 + g1) / 2
    centers = (b[:, 1] + b[:, 3]) / 2
    top = [i for i, c in zip(idx, centers) if c < mid]
    bottom = [i for i, c in zip(idx, centers) if c >= mid]
    if not top or not bottom:
        return None
    return top, bottom


def _order(idx: List[int], ctx: _Ctx, out: List[int]) -> None:
    if len(idx) <= 1:
        out.extend(idx)
        return
    cut = _vertical_cut(idx, ctx)
    if cut is None:
        cut = _horizontal_cut(idx, ctx)
    if cut is None:
        for row in rows_of(idx, ctx.boxes, ctx.cfg.row_overlap):
            out.extend(row)
        return
    for part in cut:
        _order(part, ctx, out)


def _group_blocks(order: List[int], boxes: np.ndarray, h: float, cfg: LayoutConfig) -> List[List[int]]:
    """Cut the reading order into blocks at column jumps, big vertical gaps and size changes."""
    heights = _line_height(boxes)
    blocks: List[List[int]] = []
    cur: List[int] = []
    last_row: List[int] = []
    bx0 = by0 = bx1 = by1 = 0.0
    for i in order:
        x0, y0, x1, y1 = boxes[i]
        if cur:
            # Only the row being read counts: in two aligned columns the first line of the
            # right column shares a row with the first line of the left, long read before.
            same_row = _same_row(i, last_row, boxes, cfg.row_overlap)
            block_h = float(np.median(heights[cur]))
            ratio = max(heights[i], block_h) / max(min(heights[i], block_h), 1e-6)
            h_overlap = min(x1, bx1) - max(x0, bx0)
            new = False
            if not same_row:
                row_top = min(boxes[j, 1] for j in last_row)
                if y0 - by1 > cfg.block_gap * h or y1 < row_top + 0.5 * (y1 - y0):  # gap, or jump back up
                    new = True
                elif h_overlap < 0.3 * min(x1 - x0, bx1 - bx0):
                    new = True
                elif ratio > cfg.block_height_ratio:
                    new = True
            if new:
                blocks.append(cur)
                cur = []
            if same_row and not new:
                last_row.append(i)
            else:
                last_row = [i]
        else:
            last_row = [i]
        if not cur:
            bx0, by0, bx1, by1 = x0, y0, x1, y1
        else:
            bx0, by0, bx1, by1 = min(bx0, x0), min(by0, y0), max(bx1, x1), max(by1, y1)
        cur.append(i)
    if cur:
        blocks.append(cur)
    return blocks


def analyze_layout(lines: Sequence, config: LayoutConfig = LayoutConfig()) -> List[LayoutBlock]:
    """Polygons or boxes of text lines -> blocks in reading order (indices into ``lines``)."""
    if len(lines) == 0:
        return []
    boxes = np.array([to_box(p) for p in lines], dtype=np.float64)
    h = float(np.median(_line_height(boxes)))
    h = max(h, 1.0)
    ctx = _Ctx(boxes=boxes, h=h, cfg=config, page_w=float(boxes[:, 2].max() - boxes[:, 0].min()))
    order: List[int] = []
    _order(list(range(len(boxes))), ctx, order)
    out = []
    for blk in _group_blocks(order, boxes, h, config):
        b = boxes[blk]
        box = (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))
        # Rows in the block keep the reading order's sequence of rows.
        rows: List[List[int]] = []
        for i in blk:
            if rows and _same_row(i, rows[-1], boxes, config.row_overlap):
                rows[-1].append(i)
            else:
                rows.append([i])
        for row in rows:
            row.sort(key=lambda i: boxes[i, 0])
        out.append(LayoutBlock(rows=rows, box=box))
    return out


def _same_row(i: int, row: List[int], boxes: np.ndarray, overlap: float) -> bool:
    y0, y1 = boxes[i, 1], boxes[i, 3]
    for j in row:
        ov = min(y1, boxes[j, 3]) - max(y0, boxes[j, 1])
        if ov >= overlap * min(y1 - y0, boxes[j, 3] - boxes[j, 1]):
            return True
    return False


def reading_order(lines: Sequence, config: LayoutConfig = LayoutConfig()) -> List[int]:
    """Indices of ``lines`` in reading order."""
    return [i for blk in analyze_layout(lines, config) for i in blk.lines]
