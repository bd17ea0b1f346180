"""Reading order and blocks on synthetic box layouts whose right answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from ocrforge.layout import LayoutConfig, analyze_layout, reading_order, rows_of, to_box

H = 20  # line height in px
STEP = 30  # baseline to baseline


class Page:
    """Lines added in the order a person reads them; ``expected`` is that order."""

    def __init__(self):
        self.boxes = []
        self.names = []

    def add(self, name, x0, y0, w, h=H):
        self.boxes.append((x0, y0, x0 + w, y0 + h))
        self.names.append(name)

    def shuffled(self, seed=0):
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(self.boxes))
        return [self.boxes[i] for i in perm], [self.names[i] for i in perm]


def read(page: Page, seed=0):
    boxes, names = page.shuffled(seed)
    return [names[i] for i in reading_order(boxes)]


def blocks_of(page: Page, seed=0):
    boxes, names = page.shuffled(seed)
    return [[names[i] for i in blk.lines] for blk in analyze_layout(boxes)]


def single_column(n=8, x=50, y=40, width=500, last_short=True):
    p = Page()
    for k in range(n):
        w = width - (200 if (last_short and k == n - 1) else (k % 3) * 15)
        p.add(f"p{k}", x, y + k * STEP, w)
    return p


def two_columns(n=10, aligned=True, title=True):
    p = Page()
    top = 40
    if title:
        p.add("title", 150, top, 500, h=34)
        top += 80
    for col, x in (("L", 50), ("R", 430)):
        for k in range(n):
            dy = 0 if aligned or col == "L" else 13
            w = 340 - (k % 4) * 10 - (150 if k == n - 1 else 0)
            p.add(f"{col}{k}", x, top + dy + k * STEP, w)
    return p


def receipt(jitter=0, seed=1):
    rng = np.random.default_rng(seed)
    p = Page()
    y = 30
    p.add("shop", 220, y, 260, h=28)
    y += 45
    p.add("addr", 150, y, 400)
    y += STEP
    p.add("date", 40, y, 200)
    p.add("time", 480, y, 120)
    y += STEP + 15
    for k in range(8):
        j = int(rng.integers(-jitter, jitter + 1)) if jitter else 0
        p.add(f"item{k}", 40, y, 120 + 25 * (k % 5))
        if k % 3 == 0:
            p.add(f"qty{k}", 380, y + j, 40)
        p.add(f"price{k}", 540, y + j, 60 + 8 * (k % 2))
        y += STEP
    y += 15
    p.add("total", 40, y, 90, h=24)
    p.add("totalamt", 520, y, 80, h=24)
    y += 45
    p.add("thanks", 200, y, 300)
    return p


# ---------------------------------------------------------------- order


def test_single_column_top_to_bottom_one_block():
    page = single_column()
    assert read(page) == page.names
    assert blocks_of(page) == [page.names]


@pytest.mark.parametrize("n", [3, 10])
@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("title", [True, False])
def test_two_columns_read_column_by_column(n, aligned, title):
    page = two_columns(n=n, aligned=aligned, title=title)
    assert read(page) == page.names
    blocks = blocks_of(page)
    expected = ([["title"]] if title else []) + [
        [n for n in page.names if n.startswith("L")],
        [n for n in page.names if n.startswith("R")],
    ]
    assert blocks == expected


def test_two_columns_then_full_width_footer():
    page = two_columns(n=6)
    page.add("footer", 50, 40 + 80 + 6 * STEP + 40, 720)
    assert read(page) == page.names
    assert blocks_of(page)[-1] == ["footer"]


@pytest.mark.parametrize("jitter", [0, 4])
def test_receipt_is_read_row_by_row(jitter):
    page = receipt(jitter=jitter)
    assert read(page) == page.names


def test_receipt_rows_keep_item_and_price_together():
    page = receipt()
    boxes, names = page.shuffled()
    blocks = analyze_layout(boxes)
    rows = [[names[i] for i in row] for blk in blocks for row in blk.rows]
    assert ["item0", "qty0", "price0"] in rows
    assert ["item1", "price1"] in rows
    assert ["total", "totalamt"] in rows
    assert ["date", "time"] in rows


def test_receipt_with_right_aligned_prices_in_long_column():
    # Thirty items: the whitespace between names and prices spans the whole page, the classic
    # trap for column finders.
    p = Page()
    for k in range(30):
        p.add(f"name{k}", 30, 20 + k * STEP, 150 + (k * 37) % 120)
        p.add(f"amt{k}", 480, 20 + k * STEP, 70)
    assert read(p) == p.names


def test_key_value_form_is_read_by_rows():
    p = Page()
    for k in range(6):
        p.add(f"key{k}", 40, 40 + k * STEP, 90)
        p.add(f"value{k}", 200, 40 + k * STEP, 250 + 20 * (k % 3))
    assert read(p) == p.names


def test_three_columns():
    p = Page()
    for col, x in enumerate((40, 300, 560)):
        for k in range(8):
            p.add(f"c{col}_{k}", x, 40 + k * STEP, 220 - (k % 3) * 10)
    assert read(p) == p.names


def test_slightly_overlapping_boxes_still_rows():
    # Tilted text gives boxes that overlap their neighbours a little; order must not break.
    p = Page()
    for k in range(6):
        p.add(f"l{k}", 40 + k, 40 + k * 18, 400, h=22)
    assert read(p) == p.names


# ---------------------------------------------------------------- invariants


@pytest.mark.parametrize("make", [single_column, two_columns, receipt])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_line_exactly_once_and_input_order_irrelevant(make, seed):
    page = make()
    order = read(page, seed)
    assert sorted(order) == sorted(page.names)
    assert order == read(page, seed + 10)


def test_long_line_over_two_columns_is_one_line():
    page = two_columns(n=4, title=False)
    page.add("wide", 50, 40 + 4 * STEP + 30, 720)
    boxes, names = page.shuffled()
    blocks = analyze_layout(boxes)
    flat = [names[i] for b in blocks for i in b.lines]
    assert flat.count("wide") == 1 and flat[-1] == "wide"
    assert len(flat) == len(names)


def test_neighbouring_lines_are_separate_rows():
    p = Page()
    p.add("a", 40, 40, 400, h=20)
    p.add("b", 40, 62, 400, h=20)  # 2 px apart
    boxes = p.boxes
    blk = analyze_layout(boxes)
    assert [row for b in blk for row in b.rows] == [[0], [1]]


def test_polygons_and_empty_input():
    assert analyze_layout([]) == []
    quad = [(10, 10), (110, 12), (110, 32), (10, 30)]
    assert to_box(quad) == (10, 10, 110, 32)
    assert to_box((1, 2, 3, 4)) == (1, 2, 3, 4)
    blk = analyze_layout([quad])
    assert blk[0].lines == [0] and blk[0].box == (10, 10, 110, 32)


def test_blocks_split_at_big_gaps_and_size_changes():
    p = Page()
    p.add("head", 40, 20, 300, h=40)
    for k in range(3):
        p.add(f"a{k}", 40, 80 + k * STEP, 400)
    for k in range(3):
        p.add(f"b{k}", 40, 80 + 3 * STEP + 60 + k * STEP, 400)
    assert blocks_of(p) == [["head"], ["a0", "a1", "a2"], ["b0", "b1", "b2"]]


def test_rows_of_groups_by_vertical_overlap():
    boxes = np.array([[300, 0, 360, 18], [0, 2, 100, 22], [0, 30, 100, 50]], float)
    assert rows_of([0, 1, 2], boxes, 0.5) == [[1, 0], [2]]


def test_config_controls_column_detection():
    page = two_columns(title=False)
    strict = LayoutConfig(min_gutter=50)  # gutter here is 40 px = 2 line heights
    boxes, names = page.shuffled()
    order = [names[i] for i in reading_order(boxes, strict)]
    assert order != page.names and order[:2] == ["L0", "R0"]


def test_totals_section_with_label_and_amount_columns_of_similar_width():
    # SROIE-like: short labels and right-hand amounts, both narrow, one pair per row.
    p = Page()
    for k, (label_w, amount_w) in enumerate([(120, 70), (62, 60), (50, 64), (110, 80), (72, 76), (90, 70)]):
        p.add(f"label{k}", 60, 900 + k * STEP, label_w)
        p.add(f"amount{k}", 330 - amount_w, 900 + k * STEP, amount_w)
    p.add("wide header", 60, 850, 520)
    names = read(p)
    assert names == ["wide header"] + [n for k in range(6) for n in (f"label{k}", f"amount{k}")]


def test_two_key_value_columns_are_read_across():
    # "DOC NO. : CS0001        DATE: 31/01/2018" style rows: a form, not two text columns.
    p = Page()
    for k in range(3):
        p.add(f"key{k}", 40, 40 + k * STEP, 90)
        p.add(f"val{k}", 150, 40 + k * STEP, 140)
        p.add(f"right{k}", 420, 40 + k * STEP, 200)
    assert read(p) == p.names
