"""TSV exactly as Tesseract writes it: 12 columns, one row per page, block, paragraph, line, word.

Levels 1..5 are page, block, paragraph, line, word. Blocks count from 1 within a page, lines
from 1 within a paragraph, words from 1 within a line (Tesseract's numbering). ocrforge has no
paragraphs inside blocks, so every block has one paragraph. ``conf`` is -1 on rows that are not
words and the word's confidence times 100 on words. Boxes are whole pixels, axis-aligned.
"""

from __future__ import annotations

from ..document import Document
from .base import Images
from .geometry import int_box, line_words

COLUMNS = (
    "level", "page_num", "block_num", "par_num", "line_num", "word_num",
    "left", "top", "width", "height", "conf", "text",
)


def _clean(text: str) -> str:
    # A tab or newline inside a word would break the row.
    return " ".join(text.split()) if any(c in text for c in "\t\r\n\f\v") else text


def render(doc: Document, images: Images = None) -> bytes:
    rows = ["\t".join(COLUMNS)]

    def row(level, page, block, par, line, word, box, conf, text=""):
        x0, y0, x1, y1 = box
        rows.append("\t".join(map(str, (level, page, block, par, line, word, x0, y0, x1 - x0, y1 - y0, conf, text))))

    for p_num, page in enumerate(doc.pages, 1):
        row(1, p_num, 0, 0, 0, 0, (0, 0, page.width, page.height), -1)
        for b_num, block in enumerate(page.ordered_blocks(), 1):
            bbox = int_box(block.box, page)
            row(2, p_num, b_num, 0, 0, 0, bbox, -1)
            row(3, p_num, b_num, 1, 0, 0, bbox, -1)
            for l_num, line in enumerate(block.ordered_lines(), 1):
                row(4, p_num, b_num, 1, l_num, 0, int_box(line.box, page), -1)
                for w_num, word in enumerate(line_words(line), 1):
                    box = int_box(word.box, page)
                    row(5, p_num, b_num, 1, l_num, w_num, box, f"{word.confidence * 100:.6f}", _clean(word.text))
    return ("\n".join(rows) + "\n").encode("utf-8")
