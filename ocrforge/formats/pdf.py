"""Searchable PDF: each page image with an invisible text layer placed on the words.

Built with PDFium (pypdfium2, already a base dependency for reading PDFs): the page image is an
embedded JPEG stretched over the page, and each word is a text object in render mode 3
(invisible) whose glyphs are stretched along the word's quadrilateral, so selecting text in a
viewer highlights the word on the image (lines slanted by more than a degree are laid flat,
see ``_placements``).

Text that extracts exactly: the font is a one-glyph blank TrueType (``_glyphless``) loaded as a
CID font whose character codes are numbered per document, with a ToUnicode CMap mapping each
code back to its character, so pdftotext and PDFium give back the OCR text, Chinese included.
A space the line's text has after a word is written as a space character at the end of that
word, and each word's glyphs are stretched to reach the next word, so extractors neither drop
spaces nor invent them (between CJK words there is none).

Without page images, pages are text-only (blank, still searchable) at the page's size.
Page size in points is pixels * 72 / dpi, with the page's dpi or ``DEFAULT_DPI``.
"""

from __future__ import annotations

import ctypes
import io
import math
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..document import Document, Page, box_of, quad_of, same_row
from ..errors import FormatError
from ._glyphless import FONT
from .base import Images
from .geometry import line_words, spaced_after

DEFAULT_DPI = 300.0
JPEG_QUALITY = 90
MAX_SLANT_DEG = 1.0  # pdftotext keeps lines whole up to about 1.5 degrees
MIN_EXTENT_PT = 0.01  # a zero-width word would make a singular text matrix


def _to_unicode_cmap(codes: Dict[str, int]) -> bytes:
    entries = []
    for ch, code in sorted(codes.items(), key=lambda kv: kv[1]):
        utf16 = ch.encode("utf-16-be").hex().upper()
        entries.append(f"<{code:04X}> <{utf16}>")
    chunks = []
    for i in range(0, len(entries), 100):  # a bfchar block holds at most 100 entries
        part = entries[i : i + 100]
        chunks.append(f"{len(part)} beginbfchar\n" + "\n".join(part) + "\nendbfchar")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "\n".join(chunks)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode("ascii")


def _placements(page: Page) -> List[Tuple[str, Tuple[float, ...]]]:
    """(text, (a, b, c, d, e, f) in page pixels, y down) for every word of the page.

    The matrix maps glyph space (x along the text, one unit per character; y up, one unit per
    line height) onto the word: (a, b) is the advance per character, (c, d) the upward height
    vector, (e, f) the word's bottom-left corner.

    Words follow their line's slant up to ``MAX_SLANT_DEG``. pdftotext cuts text set at a
    steeper angle into fragments, so such lines are laid flat instead: every word on one
    horizontal band through the middle of the line, as high as the line, over the word's
    horizontal extent. Selection is then approximate, the extracted text stays right.
    """
    out = []
    lines = list(page.lines())
    for k, line in enumerate(lines):
        words = [w for w in line_words(line) if w.text and len(w.polygon) >= 2]
        if not words:
            continue
        spaces = spaced_after(line, words)
        # Two lines side by side on one row (receipt columns) read as one row to extractors;
        # a space at the end of the first keeps their words apart.
        if k + 1 < len(lines) and same_row(line.box, lines[k + 1].box):
            spaces[-1] = True
        line_quad = quad_of(line.polygon) if len(line.polygon) >= 2 else quad_of(words[0].polygon)
        tl, tr, br, bl = line_quad
        slant = math.degrees(math.atan2(-(br[1] - bl[1]), br[0] - bl[0]))
        if abs(slant) <= MAX_SLANT_DEG:
            quads = [quad_of(w.polygon) for w in words]
        else:
            height = (math.dist(tl, bl) + math.dist(tr, br)) / 2
            middle = sum(p[1] for p in line_quad) / 4
            top, bottom = middle - height / 2, middle + height / 2
            quads = []
            for w in words:
                x0, _, x1, _ = box_of(w.polygon)
                quads.append([(x0, top), (x1, top), (x1, bottom), (x0, bottom)])
        for i, (word, space, quad) in enumerate(zip(words, spaces, quads)):
            text = word.text + (" " if space else "")
            tl, tr, br, bl = quad
            ux, uy = br[0] - bl[0], br[1] - bl[1]
            if i + 1 < len(words):
                nbl = quads[i + 1][3]
                gx, gy = nbl[0] - bl[0], nbl[1] - bl[1]
                if gx * ux + gy * uy > ux * ux + uy * uy:  # the next word lies further on: reach it
                    ux, uy = gx, gy
            vx, vy = tl[0] - bl[0], tl[1] - bl[1]
            n = len(text)
            out.append((text, (ux / n, uy / n, vx, vy, bl[0], bl[1])))
    return out


def _encode_image(image: np.ndarray, quality: int) -> bytes:
    import cv2

    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or img.size == 0:
        raise FormatError(f"a page image must be a non-empty uint8 array, got {img.dtype} {img.shape}")
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise FormatError("the page image could not be encoded as JPEG")
    return buf.tobytes()


def render(doc: Document, images: Images = None, jpeg_quality: int = JPEG_QUALITY) -> bytes:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    per_page = [_placements(p) for p in doc.pages]
    chars = sorted({c for placed in per_page for text, _ in placed for c in text})
    if len(chars) >= 0xFFFF:
        raise FormatError("too many distinct characters for one PDF font")
    codes = {c: i + 1 for i, c in enumerate(chars)}  # code 0 stays .notdef

    pdf = pdfium.PdfDocument.new()
    font = None
    try:
        if chars:
            cmap = _to_unicode_cmap(codes)
            gid_map = np.ones(len(chars) + 1, dtype=">u2")  # every code shows glyph 1, the blank
            gid_map[0] = 0
            gid_bytes = gid_map.tobytes()
            font_buf = (ctypes.c_ubyte * len(FONT)).from_buffer_copy(FONT)
            gid_buf = (ctypes.c_ubyte * len(gid_bytes)).from_buffer_copy(gid_bytes)
            font = pdfium_c.FPDFText_LoadCidType2Font(pdf.raw, font_buf, len(FONT), cmap, gid_buf, len(gid_bytes))
            if not font:
                raise FormatError("PDFium could not load the text-layer font")
        for page, placed, image in zip(doc.pages, per_page, images or [None] * len(doc.pages)):
            _add_page(pdf, pdfium, pdfium_c, page, placed, image, font, codes, jpeg_quality)
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()
    finally:
        if font:
            pdfium_c.FPDFFont_Close(font)
        pdf.close()


def _add_page(pdf, pdfium, pdfium_c, page: Page, placed, image: Optional[np.ndarray], font, codes, quality) -> None:
    scale = 72.0 / (page.dpi or DEFAULT_DPI)
    width_pt = max(page.width * scale, 1.0)
    height_pt = max(page.height * scale, 1.0)
    pdf_page = pdf.new_page(width_pt, height_pt)
    try:
        if image is not None:
            pdf_image = pdfium.PdfImage.new(pdf)
            pdf_image.load_jpeg(io.BytesIO(_encode_image(image, quality)), inline=True)
            pdf_image.set_matrix(pdfium.PdfMatrix().scale(width_pt, height_pt))
            pdf_page.insert_obj(pdf_image)
        for text, (a, b, c, d, e, f) in placed:
            obj = pdfium_c.FPDFPageObj_CreateTextObj(pdf.raw, font, ctypes.c_float(1.0))
            if not obj:
                raise FormatError("PDFium could not create a text object")
            char_codes = (ctypes.c_uint32 * len(text))(*(codes[ch] for ch in text))
            # Page pixels (y down) to PDF points (y up).
            a, b, c, d = a * scale, -b * scale, c * scale, -d * scale
            if a * a + b * b < MIN_EXTENT_PT**2:
                a, b = MIN_EXTENT_PT, 0.0
            if c * c + d * d < MIN_EXTENT_PT**2:
                c, d = 0.0, MIN_EXTENT_PT
            matrix = pdfium_c.FS_MATRIX(a, b, c, d, e * scale, height_pt - f * scale)
            ok = (
                pdfium_c.FPDFText_SetCharcodes(obj, char_codes, len(text))
                and pdfium_c.FPDFTextObj_SetTextRenderMode(obj, pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE)
                and pdfium_c.FPDFPageObj_SetMatrix(obj, matrix)
            )
            if not ok:
                pdfium_c.FPDFPageObj_Destroy(obj)
                raise FormatError("PDFium could not place a word of the text layer")
            pdfium_c.FPDFPage_InsertObject(pdf_page.raw, obj)  # the page owns it now
        pdf_page.gen_content()
    except pdfium.PdfiumError as exc:
        raise FormatError(f"PDFium could not write page {page.index + 1}: {exc}") from exc
    finally:
        pdf_page.close()


__all__ = ["render", "DEFAULT_DPI"]
