"""Searchable PDF: the text that pdftotext (poppler) and PDFium extract equals the OCR text,
Chinese included; the text layer sits on the words and is invisible over the page image."""

import math
import shutil
import subprocess

import numpy as np
import pypdfium2 as pdfium
import pytest

from ocrforge.document import Block, Document, Line, Page, Word, words_from_line
from ocrforge.errors import FormatError
from ocrforge.formats import WRITERS
from ocrforge.formats._glyphless import FONT

PDF = WRITERS["pdf"]


def rect(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def make_line(text, x, y, char_w=24.0, h=36.0, conf=0.9, angle_deg=0.0):
    n = len(text)
    w = char_w * n
    a = math.radians(angle_deg)
    ux, uy = math.cos(a), -math.sin(a)  # rising to the right (y down)
    vx, vy = -uy, ux

    def at(u, v):
        return (x + u * ux + v * vx, y + u * uy + v * vy)

    poly = [at(0, 0), at(w, 0), at(w, h), at(0, h)]
    return Line(words_from_line(text, poly, [(i + 0.5) / n for i in range(n)], conf), text, conf, poly)


def sample_document():
    page1 = Page(
        index=0,
        width=1200,
        height=900,
        dpi=300.0,
        blocks=[
            Block([make_line("永和豆浆 Yonghe King", 60, 50), make_line("发票号码：0012345", 60, 100)]),
            Block([make_line('Tom & Jerry <b>"1"</b> \'x\' (a)\\', 60, 300), make_line("合计RM12.50 共3件", 60, 350)]),
        ],
    )
    page2 = Page(index=1, width=800, height=600, dpi=150.0, blocks=[Block([make_line("第二页 page two 𠀋", 40, 40)])])
    return Document(pages=[page1, page2])


def page_images(doc):
    rng = np.random.default_rng(0)
    images = []
    for p in doc.pages:
        img = np.full((p.height, p.width, 3), 255, np.uint8)
        for line in p.lines():
            x0, y0, x1, y1 = (int(v) for v in line.box)
            img[y0:y1, x0:x1] = rng.integers(0, 120, size=(y1 - y0, x1 - x0, 3), dtype=np.uint8)
        images.append(img)
    return images


def normalized_pages(text):
    """Per page, the non-empty lines with runs of whitespace made one space."""
    return [[" ".join(ln.split()) for ln in page.splitlines() if ln.strip()] for page in text.split("\f")]


def expected_pages(doc):
    return [[ln.text for ln in p.lines()] for p in doc.pages]


def pdftotext(data, tmp_path):
    assert shutil.which("pdftotext"), "poppler-utils (pdftotext) must be installed"
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def pdfium_pages(data):
    pdf = pdfium.PdfDocument(data)
    return [pdf[i].get_textpage().get_text_range().replace("\r\n", "\n") for i in range(len(pdf))]


def test_pdftotext_gives_back_the_ocr_text_chinese_included(tmp_path):
    doc = sample_document()
    data = PDF.to_bytes(doc, page_images(doc))
    pages = normalized_pages(pdftotext(data, tmp_path))
    assert pages[: len(doc.pages)] == expected_pages(doc)
    assert all(not p for p in pages[len(doc.pages) :])  # pdftotext ends with a form feed


def test_pdfium_gives_back_the_ocr_text_chinese_included():
    doc = sample_document()
    data = PDF.to_bytes(doc, page_images(doc))
    assert [normalized_pages(t)[0] for t in pdfium_pages(data)] == expected_pages(doc)


def test_pdf_text_equals_the_txt_output(tmp_path):
    doc = sample_document()
    txt = WRITERS["txt"].to_bytes(doc).decode("utf-8")
    extracted = pdftotext(PDF.to_bytes(doc, page_images(doc)), tmp_path)
    assert normalized_pages(extracted)[: len(doc.pages)] == normalized_pages(txt)


def test_pages_have_the_image_size_at_their_dpi_and_show_the_image():
    doc = sample_document()
    images = page_images(doc)
    pdf = pdfium.PdfDocument(PDF.to_bytes(doc, images))
    assert len(pdf) == 2
    assert pdf[0].get_size() == pytest.approx((1200 * 72 / 300, 900 * 72 / 300), abs=0.01)
    assert pdf[1].get_size() == pytest.approx((800 * 72 / 150, 600 * 72 / 150), abs=0.01)
    # Rendered at the page's own dpi, the page is the image (JPEG-close): the text is invisible.
    shown = pdf[0].render(scale=300 / 72).to_numpy()[:900, :1200, :3].astype(int)
    white = images[0] == 255
    assert np.abs(shown - images[0]).mean() < 8
    assert (shown[white.all(axis=2)] > 240).mean() > 0.99


def test_text_only_pages_are_blank_but_searchable(tmp_path):
    doc = sample_document()
    data = PDF.to_bytes(doc)  # no images
    pdf = pdfium.PdfDocument(data)
    assert pdf[0].render(scale=0.5).to_numpy().min() == 255  # nothing drawn
    assert normalized_pages(pdftotext(data, tmp_path))[:2] == expected_pages(doc)


def test_characters_sit_on_their_words():
    doc = sample_document()
    page = doc.pages[0]
    pdf = pdfium.PdfDocument(PDF.to_bytes(doc))
    textpage = pdf[0].get_textpage()
    scale = 72 / page.dpi
    text = textpage.get_text_range()
    start = 0
    for word in page.words():
        at = text.index(word.text, start)
        start = at + len(word.text)
        x0, y0, x1, y1 = word.box
        for k in range(at, start):
            left, bottom, right, top = textpage.get_charbox(k)
            # back to page pixels (y down)
            cx = (left + right) / 2 / scale
            cy = page.height - (bottom + top) / 2 / scale
            assert x0 - 1 <= cx <= x1 + 24 and y0 - 1 <= cy <= y1 + 1, (word.text, k)


@pytest.mark.parametrize("angle", [0.8, -0.8, 3.0, 12.0, -25.0])
def test_slanted_lines_keep_their_text(tmp_path, angle):
    lines = [make_line(t, 150, 200 + 150 * i, angle_deg=angle) for i, t in enumerate(["倾斜 slanted line", "合计RM12.50 共3件"])]
    doc = Document([Page(0, 900, 600, [Block(lines)], dpi=200.0)])
    data = PDF.to_bytes(doc)
    expected = [ln.text for ln in lines]
    assert normalized_pages(pdftotext(data, tmp_path))[0] == expected
    assert normalized_pages(pdfium_pages(data)[0])[0] == expected


def test_slightly_slanted_lines_keep_their_slant():
    line = make_line("slanted by less than a degree", 100, 400, char_w=30, angle_deg=0.9)
    doc = Document([Page(0, 1200, 600, [Block([line])], dpi=200.0)])
    textpage = pdfium.PdfDocument(PDF.to_bytes(doc))[0].get_textpage()
    first, last = textpage.get_charbox(0), textpage.get_charbox(len(line.text) - 1)
    rise_px = (last[1] - first[1]) * 200 / 72
    assert rise_px == pytest.approx(math.sin(math.radians(0.9)) * 30 * (len(line.text) - 1), abs=1.5)


def test_accepts_gray_bgra_and_16_bit_images_and_rejects_others():
    doc = Document([Page(0, 40, 30, [Block([make_line("ok", 2, 2, char_w=10, h=10)])])])
    for image in (
        np.full((30, 40), 200, np.uint8),
        np.full((30, 40, 4), 200, np.uint8),
        np.full((30, 40, 3), 50000, np.uint16),
    ):
        assert pdfium_pages(PDF.to_bytes(doc, [image]))[0].strip() == "ok"
    with pytest.raises(FormatError):
        PDF.to_bytes(doc, [np.zeros((30, 40, 3), np.float32)])
    with pytest.raises(FormatError):
        PDF.to_bytes(doc, [np.zeros((0, 0, 3), np.uint8)])


def test_empty_pages_and_lines_without_words_are_written(tmp_path):
    line = Line(words=[], text="整行 whole line", confidence=0.7, polygon=rect(10, 10, 300, 40))
    doc = Document([Page(0, 400, 100, []), Page(1, 400, 100, [Block([line])])])
    data = PDF.to_bytes(doc)
    assert len(pdfium.PdfDocument(data)) == 2
    assert normalized_pages(pdftotext(data, tmp_path))[:2] == [[], ["整行 whole line"]]


def test_write_to_path(tmp_path):
    doc = sample_document()
    path = tmp_path / "out.pdf"
    assert PDF.write(doc, path, images=page_images(doc)) == [path]
    assert path.read_bytes().startswith(b"%PDF-")


def test_shipped_font_is_what_the_generator_makes():
    pytest.importorskip("fontTools")
    from ocrforge.formats._glyphless import build_font

    assert FONT == build_font()


def test_text_layer_font_is_tiny_and_the_pdf_small():
    doc = sample_document()
    assert len(FONT) < 1024
    # Two pages of text only: font, CMap and content streams, no CJK font subset.
    assert len(PDF.to_bytes(doc)) < 20_000


def test_single_character_words_are_kept():
    words = [Word(c, 0.9, rect(20 + 30 * i, 20, 44 + 30 * i, 50)) for i, c in enumerate("共3件")]
    doc = Document([Page(0, 400, 300, [Block([Line(words, "共3件"), make_line("another line", 20, 80)])])])
    assert normalized_pages(pdfium_pages(PDF.to_bytes(doc))[0])[0] == ["共3件", "another line"]


def test_lines_side_by_side_on_one_row_stay_apart():
    # Receipt columns: item and price are separate lines on one row, touching.
    item = make_line("炒饭FriedRice", 20, 20)
    box = rect(item.box[2], 20, item.box[2] + 120, 56)
    price = Line(words_from_line("12.50", box, [0.1, 0.3, 0.5, 0.7, 0.9], 0.9), "12.50", 0.9, box)
    doc = Document([Page(0, 500, 200, [Block([item, price])])])
    flat = " ".join(pdfium_pages(PDF.to_bytes(doc))[0].split())
    assert flat == "炒饭FriedRice 12.50"
