"""hOCR 1.2: XHTML with ocr_page / ocr_carea / ocr_par / ocr_line / ocrx_word.

Each element's ``title`` carries ``bbox x0 y0 x1 y1`` (whole page pixels); words also carry
``x_wconf`` (confidence 0-100). Elements get a ``lang`` where the script says which language
(zh-Hans, en). Inside a line, words are separated by a space exactly where the line's text has
one, so a line element's text content is the line's text (CJK words are not spaced).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

from .. import __version__
from ..document import Document
from ._xml import indent, sub, tostring
from .base import Images
from .geometry import int_box, line_words, spaced_after

XHTML_NS = "http://www.w3.org/1999/xhtml"
DOCTYPE = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
    '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">'
)
CAPABILITIES = "ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf ocrp_lang"


def _bbox(box) -> str:
    return "bbox {} {} {} {}".format(*box)


def _main_language(doc: Document) -> str:
    counts = Counter(w.language for w in doc.words() if w.language)
    return counts.most_common(1)[0][0] if counts else "en"


def _lang(attrib: dict, language) -> dict:
    if language:
        attrib["lang"] = language
    return attrib


def render(doc: Document, images: Images = None) -> bytes:
    lang = _main_language(doc)
    html = ET.Element("html", {"xmlns": XHTML_NS, "xml:lang": lang, "lang": lang})
    head = sub(html, "head")
    sub(head, "title", text=doc.source or "")
    sub(head, "meta", {"http-equiv": "Content-Type", "content": "text/html;charset=utf-8"})
    sub(head, "meta", {"name": "ocr-system", "content": f"ocrforge {__version__}"})
    sub(head, "meta", {"name": "ocr-capabilities", "content": CAPABILITIES})
    sub(head, "meta", {"name": "ocr-number-of-pages", "content": len(doc.pages)})
    body = sub(html, "body")
    for p_num, page in enumerate(doc.pages, 1):
        props = []
        if page.source:
            props.append('image "{}"'.format(page.source.replace('"', "")))
        props.append(_bbox((0, 0, page.width, page.height)))
        props.append(f"ppageno {page.index}")
        if page.dpi:
            props.append(f"scan_res {round(page.dpi)} {round(page.dpi)}")
        page_el = sub(body, "div", {"class": "ocr_page", "id": f"page_{p_num}", "title": "; ".join(props)})
        for b_num, block in enumerate(page.ordered_blocks(), 1):
            bid = f"{p_num}_{b_num}"
            bbox = _bbox(int_box(block.box, page))
            carea = sub(page_el, "div", {"class": "ocr_carea", "id": f"block_{bid}", "title": bbox})
            par = sub(carea, "p", {"class": "ocr_par", "id": f"par_{bid}", "title": bbox})
            for l_num, line in enumerate(block.ordered_lines(), 1):
                lid = f"{bid}_{l_num}"
                attrib = {"class": "ocr_line", "id": f"line_{lid}", "title": _bbox(int_box(line.box, page))}
                line_el = sub(par, "span", _lang(attrib, line.language))
                words = line_words(line)
                for w_num, (word, space) in enumerate(zip(words, spaced_after(line, words)), 1):
                    title = f"{_bbox(int_box(word.box, page))}; x_wconf {round(word.confidence * 100)}"
                    attrib = {"class": "ocrx_word", "id": f"word_{lid}_{w_num}", "title": title}
                    word_el = sub(line_el, "span", _lang(attrib, word.language), text=word.text)
                    word_el.tail = " " if space else None
    indent(html, keep=lambda e: e.get("class") == "ocr_line")
    return tostring(html, DOCTYPE)
