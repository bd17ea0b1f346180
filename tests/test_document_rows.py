"""Lines on one printed row (receipt item + price) render as one text line, as PDF extractors read them."""

from ocrforge.document import Block, Document, Page, same_row
from ocrforge.formats import WRITERS

from test_formats_pdf import make_line, normalized_pages, page_images, pdfium_pages


def receipt_doc():
    block = Block([
        make_line("COFFEE LATTE x2", 40, 50),
        make_line("32.00", 600, 52),  # same row, a little lower, as a price often is
        make_line("合计 TOTAL", 40, 120),
        make_line("RM32.00", 600, 118),
        make_line("谢谢惠顾", 40, 200),
    ])
    return Document(pages=[Page(index=0, width=900, height=300, dpi=300.0, blocks=[block])])


def test_same_row_rule():
    assert same_row((0, 50, 10, 86), (20, 52, 30, 88))
    assert not same_row((0, 50, 10, 86), (20, 80, 30, 116))  # overlaps by 6 px of 36: another row


def test_render_joins_lines_of_one_row_and_matches_pdf_text():
    doc = receipt_doc()
    assert doc.render() == "COFFEE LATTE x2 32.00\n合计 TOTAL RM32.00\n谢谢惠顾"
    pdf = WRITERS["pdf"].to_bytes(doc, page_images(doc))
    extracted = normalized_pages(pdfium_pages(pdf)[0])[0]
    assert extracted == doc.render().split("\n")
