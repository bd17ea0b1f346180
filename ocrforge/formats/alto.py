"""ALTO v4 (schema 4.3): Description, then Layout/Page/PrintSpace/TextBlock/TextLine/String.

Positions are whole page pixels (MeasurementUnit pixel). Strings carry CONTENT and WC (word
confidence 0-1); an SP sits between two Strings exactly where the line's text has a space, so
CJK words follow each other without one. Blocks and lines also carry their polygon as a Shape.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .. import __version__
from ..document import Document, Page
from ._xml import fmt_conf, indent, sub, tostring
from .base import Images
from .geometry import int_box, int_points, line_words, spaced_after

ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
SCHEMA_VERSION = "4.3"
SCHEMA_LOCATION = f"{ALTO_NS} http://www.loc.gov/standards/alto/v4/alto-4-3.xsd"


def _pos(box) -> dict:
    x0, y0, x1, y1 = box
    return {"HPOS": x0, "VPOS": y0, "WIDTH": x1 - x0, "HEIGHT": y1 - y0}


def _shape(parent: ET.Element, polygon, page: Page) -> None:
    if len(polygon) >= 3:
        points = " ".join(f"{x},{y}" for x, y in int_points(polygon, page))
        sub(sub(parent, "Shape"), "Polygon", {"POINTS": points})


def render(doc: Document, images: Images = None) -> bytes:
    root = ET.Element(
        "alto",
        {
            "xmlns": ALTO_NS,
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:schemaLocation": SCHEMA_LOCATION,
            "SCHEMAVERSION": SCHEMA_VERSION,
        },
    )
    desc = sub(root, "Description")
    sub(desc, "MeasurementUnit", text="pixel")
    if doc.source:
        sub(sub(desc, "sourceImageInformation"), "fileName", text=doc.source)
    proc = sub(desc, "Processing", {"ID": "ocrforge"})
    sub(proc, "processingCategory", text="contentGeneration")
    software = sub(proc, "processingSoftware")
    sub(software, "softwareName", text="ocrforge")
    sub(software, "softwareVersion", text=__version__)
    layout = sub(root, "Layout")
    for p_num, page in enumerate(doc.pages, 1):
        page_el = sub(
            layout,
            "Page",
            {
                "ID": f"p{p_num}",
                "PHYSICAL_IMG_NR": p_num,
                "WIDTH": page.width,
                "HEIGHT": page.height,
                "PROCESSING": "ocrforge",
                "PC": fmt_conf(page.confidence),
            },
        )
        space = sub(page_el, "PrintSpace", _pos((0, 0, page.width, page.height)))
        for b_num, block in enumerate(page.ordered_blocks(), 1):
            bid = f"p{p_num}_b{b_num}"
            block_el = sub(space, "TextBlock", {"ID": bid, **_pos(int_box(block.box, page))})
            _shape(block_el, block.polygon, page)
            for l_num, line in enumerate(block.ordered_lines(), 1):
                lid = f"{bid}_l{l_num}"
                line_el = sub(block_el, "TextLine", {"ID": lid, **_pos(int_box(line.box, page)), "LANG": line.language})
                _shape(line_el, line.polygon, page)
                words = line_words(line)
                boxes = [int_box(w.box, page) for w in words]
                for w_num, (word, box, spaced) in enumerate(zip(words, boxes, spaced_after(line, words)), 1):
                    attrib = {"ID": f"{lid}_w{w_num}", "CONTENT": word.text, **_pos(box)}
                    attrib.update({"WC": fmt_conf(word.confidence), "LANG": word.language})
                    sub(line_el, "String", attrib)
                    if spaced:
                        x = box[2]
                        gap = max(boxes[w_num][0] - x, 0)
                        sub(line_el, "SP", {"HPOS": x, "VPOS": box[1], "WIDTH": gap})
    indent(root)
    return tostring(root)
