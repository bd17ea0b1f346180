"""Document model: derived geometry and confidences, reading order, scripts, exact round trips,
and words placed from a recognizer's per-character frames."""

import json
import math

import pytest

from ocrforge.document import (
    Block,
    Document,
    Line,
    Page,
    Word,
    box_of,
    char_positions_from_frames,
    detect_script,
    join_words,
    line_from_recognition,
    quad_of,
    split_words,
    words_from_line,
)
from ocrforge.errors import InputError, OcrforgeError


def rect(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def make_line(text, x, y, char_w=20.0, h=30.0, conf=0.9, order=None):
    n = len(text)
    poly = rect(x, y, x + char_w * n, y + h)
    words = words_from_line(text, poly, [(i + 0.5) / n for i in range(n)], conf)
    return Line(words=words, text=text, confidence=conf, polygon=poly, reading_order=order)


def sample_document():
    page1 = Page(
        index=0,
        width=1000,
        height=800,
        dpi=300.0,
        rotation=90,
        source="receipt.jpg",
        blocks=[
            Block(lines=[make_line("永和豆浆 Yonghe King", 50, 40), make_line("发票号码: 0012345", 50, 80, conf=0.75)]),
            Block(lines=[make_line('Total <&> "quoted" \'x\'', 50, 300), make_line("合计 RM12.50", 50, 340, conf=0.5)]),
        ],
    )
    page2 = Page(index=1, width=600, height=400, blocks=[Block(lines=[make_line("第二页 page two", 10, 10)])])
    return Document(pages=[page1, page2], source="receipt.pdf", metadata={"engine": "test", "备注": "中文"})


# --- round trips ---------------------------------------------------------------------------


def test_export_from_dict_round_trip_is_exact_with_chinese():
    doc = sample_document()
    again = Document.from_dict(doc.export())
    assert again == doc
    assert again.render() == doc.render()
    assert again.pages[0].blocks[0].lines[0].words[0].text == "永和豆浆"


def test_json_round_trip_keeps_chinese_unescaped_and_is_exact():
    doc = sample_document()
    text = doc.to_json()
    assert "永和豆浆" in text  # not \\u escapes
    assert Document.from_json(text) == doc
    # export() is plain JSON data: it survives a dumps/loads cycle unchanged
    assert json.loads(json.dumps(doc.export())) == doc.export()


def test_round_trip_keeps_float_geometry_and_confidences_exactly():
    w = Word("x", 0.123456789012, [(0.1, 0.2), (10.333333333333334, 0.2), (10.333333333333334, 5.5), (0.1, 5.5)])
    doc = Document(pages=[Page(0, 20, 10, [Block([Line([w], "x", polygon=w.polygon)])])])
    again = Document.from_json(doc.to_json())
    assert again.pages[0].blocks[0].lines[0].words[0].polygon == w.polygon
    assert again.pages[0].blocks[0].lines[0].words[0].confidence == w.confidence


def test_from_dict_rejects_foreign_data_with_ocrforge_errors():
    with pytest.raises(InputError):
        Document.from_dict({"no": "pages"})
    with pytest.raises(InputError):
        Document.from_dict({"version": 99, "pages": []})
    with pytest.raises(InputError):
        Document.from_json("{not json")
    with pytest.raises(OcrforgeError):
        Document.from_dict({"pages": [{"index": 0}]})


# --- derived values --------------------------------------------------------------------------


def test_boxes_derive_from_polygons_and_parents_from_children():
    a = Word("ab", 1.0, [(10, 20), (50, 18), (52, 40), (12, 44)])
    b = Word("cd", 0.5, rect(60, 20, 90, 40))
    line = Line(words=[a, b])
    assert a.box == (10, 18, 52, 44)
    assert line.box == (10, 18, 90, 44)
    assert line.text == "ab cd"
    assert line.confidence == pytest.approx(0.75)
    block = Block(lines=[line])
    assert block.box == line.box
    page = Page(0, 100, 100, [block])
    assert page.confidence == pytest.approx(0.75)
    assert page.box == (0, 0, 100, 100)


def test_parent_confidence_weights_children_by_characters():
    long_line = Line(words=[Word("abcdefgh", 1.0, rect(0, 0, 80, 10))])
    short_line = Line(words=[Word("x", 0.0, rect(0, 20, 10, 30))])
    block = Block(lines=[long_line, short_line])
    assert block.confidence == pytest.approx(8 / 9)


def test_join_words_puts_no_space_at_cjk_boundaries():
    words = [Word(t, 1.0, rect(0, 0, 1, 1)) for t in ["合计", "RM", "12.00", "元", "OK"]]
    assert join_words(words) == "合计RM 12.00元OK"


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Word("a", 1.5, rect(0, 0, 1, 1)),
        lambda: Word("a", -0.1, rect(0, 0, 1, 1)),
        lambda: Word("a", 0.5, [(0, float("nan"))]),
        lambda: Word("a", 0.5, ["xy"]),
        lambda: Page(0, 10, 10, rotation=45),
        lambda: Page(0, -1, 10),
        lambda: Page(0, 10, 10, dpi=0),
    ],
)
def test_invalid_values_raise_input_error(bad):
    with pytest.raises(InputError):
        bad()


# --- reading order and rendering ------------------------------------------------------------


def test_reading_order_drives_lines_words_and_render():
    first = make_line("first line", 0, 100, order=1)
    second = make_line("second line", 0, 0, order=0)
    b_late = Block(lines=[first, second], reading_order=1)
    b_early = Block(lines=[make_line("头部", 0, 500)], reading_order=0)
    page = Page(0, 500, 600, [b_late, b_early])
    doc = Document(pages=[page, Page(1, 10, 10, [Block([make_line("p2", 0, 0)])])])
    assert [ln.text for ln in doc.lines()] == ["头部", "second line", "first line", "p2"]
    assert [w.text for w in doc.words()][:3] == ["头部", "second", "line"]
    assert doc.render() == "头部\n\nsecond line\nfirst line\fp2"


def test_reading_order_defaults_to_list_position():
    block = Block(lines=[make_line("a", 0, 0), make_line("b", 0, 40)])
    page = Page(0, 100, 100, [block, Block(lines=[make_line("c", 0, 80)])])
    assert [ln.reading_order for ln in block.lines] == [0, 1]
    assert [b.reading_order for b in page.blocks] == [0, 1]


def test_split_pages_gives_single_page_documents():
    doc = sample_document()
    parts = doc.split_pages()
    assert [len(p.pages) for p in parts] == [1, 1]
    assert "\f".join(p.render() for p in parts) == doc.render()


# --- scripts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,script",
    [
        ("合计", "Hans"),
        ("合计：12.00元", "Hans"),
        ("Total", "Latn"),
        ("Café 12", "Latn"),
        ("12.00 %", "Zyyy"),
        ("", "Zyyy"),
        ("合计 Total", "mixed"),
        ("Ｔｏｔａｌ", "Latn"),
        ("Привет", "Zzzz"),
    ],
)
def test_detect_script(text, script):
    assert detect_script(text) == script


def test_script_and_language_are_derived_on_words_and_lines():
    line = make_line("合计 Total", 0, 0)
    assert line.script == "mixed" and line.language is None
    assert [(w.script, w.language) for w in line.words] == [("Hans", "zh-Hans"), ("Latn", "en")]
    assert Word("x", 1, rect(0, 0, 1, 1), script="Latn").script == "Latn"  # explicit tag kept


# --- words from recognizer output -------------------------------------------------------------


@pytest.mark.parametrize(
    "text,words",
    [
        ("Total: RM12.00", ["Total:", "RM12.00"]),
        ("合计 Total:RM12.00", ["合计", "Total:RM12.00"]),
        ("共3件", ["共", "3", "件"]),
        ("金额：  25元", ["金额：", "25", "元"]),
        ("  ", []),
    ],
)
def test_split_words(text, words):
    assert [text[s:e] for s, e in split_words(text)] == words


def test_words_from_line_places_words_where_their_characters_are():
    text = "ab cd"
    # Characters evenly spaced over a 100 px line: centres at 10, 30, 50, 70, 90.
    words = words_from_line(text, rect(0, 0, 100, 20), [0.1, 0.3, 0.5, 0.7, 0.9], 0.8)
    assert [w.text for w in words] == ["ab", "cd"]
    assert words[0].box == pytest.approx((0, 0, 40, 20))
    assert words[1].box == pytest.approx((60, 0, 100, 20))
    assert all(w.confidence == 0.8 for w in words)


def test_words_from_line_follows_a_slanted_line():
    # A line rising 10 px over 200 px: words keep the slant.
    poly = [(0, 10), (200, 0), (200, 30), (0, 40)]
    words = words_from_line("aaaa bbbb", poly, [(i + 0.5) / 9 for i in range(9)], 0.9)
    tl, tr, br, bl = words[1].polygon
    assert tr[1] < tl[1] and br[1] < bl[1]  # still rising
    assert tr[0] == pytest.approx(200)


def test_words_from_line_uses_character_confidences():
    words = words_from_line("ab c", rect(0, 0, 40, 10), [0.1, 0.3, 0.6, 0.9], 0.5, [1.0, 0.5, 0.0, 0.25])
    assert [w.confidence for w in words] == [0.75, 0.25]


def test_words_from_line_rejects_mismatched_positions():
    with pytest.raises(InputError):
        words_from_line("abc", rect(0, 0, 10, 10), [0.5], 1.0)


def test_line_from_recognition_uses_ctc_frames():
    # 40 frames over a 400 px crop; "合计 5" peaks at frames 4, 12, 20, 36.
    line = line_from_recognition("合计 5", rect(100, 50, 500, 90), 0.9, [4, 12, 20, 36], 40)
    assert line.text == "合计 5"
    assert [w.text for w in line.words] == ["合计", "5"]
    # Centres at frames 4.5 and 12.5 (of 40): the word runs from half a character-gap before
    # the first (frame 0.5) to halfway between "计" and the space (frame 16.5).
    x0, y0, x1, y1 = line.words[0].box
    assert (x0, y0, x1, y1) == pytest.approx((100 + 400 * 0.5 / 40, 50, 100 + 400 * 16.5 / 40, 90))
    assert char_positions_from_frames([0, 9], 10) == [0.05, 0.95]


def test_quad_of_many_point_outline_is_its_oriented_rectangle():
    # An 8-point outline of a 100 x 20 box turned by 30 degrees.
    a = math.radians(30)
    pts = [(0, 0), (50, 0), (100, 0), (100, 20), (50, 20), (0, 20), (0, 10), (100, 10)]
    rot = [(x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a)) for x, y in pts]
    quad = quad_of(rot)
    side = math.dist(quad[0], quad[1])
    assert side == pytest.approx(100, abs=1e-6)
    assert math.dist(quad[1], quad[2]) == pytest.approx(20, abs=1e-6)
    assert box_of(quad) == pytest.approx(box_of(rot))
