"""PAGE XML, 2019-07-15 schema: PcGts/Metadata/Page/ReadingOrder + TextRegion/TextLine/Word.

PAGE holds one page per file, so a document of several pages is written as one file per page
(``Writer.one_page_per_file``). Coordinates are polygons in whole page pixels; confidences
(0-1) sit on Coords and TextEquiv; every level carries its text in TextEquiv/Unicode (a region's
is its lines joined by newlines). Scripts and languages use PAGE's enumerations.
"""

from __future__ import annotations

import datetime as _dt
import xml.etree.ElementTree as ET

from .. import __version__
from ..document import COMMON, HAN, LATIN, MIXED, OTHER, Document, Page
from ._xml import fmt_conf, indent, sub, tostring
from .base import Images
from .geometry import int_points, line_words

PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"
SCHEMA_LOCATION = f"{PAGE_NS} {PAGE_NS}/pagecontent.xsd"

SCRIPTS = {
    HAN: "Hans - Han (Simplified variant)",
    LATIN: "Latn - Latin",
    COMMON: "Zyyy - Code for undetermined script",
    OTHER: "Zzzz - Code for uncoded script",
}
LANGUAGES = {HAN: "Chinese", LATIN: "English"}


def _script_attrs(script: str, language_attr: str) -> dict:
    if script == MIXED:  # Han and Latin letters in one line: Chinese text with English in it
        return {language_attr: LANGUAGES[HAN], "primaryScript": SCRIPTS[HAN], "secondaryScript": SCRIPTS[LATIN]}
    return {language_attr: LANGUAGES.get(script), "primaryScript": SCRIPTS.get(script)}


def _coords(parent: ET.Element, polygon, page: Page, conf=None) -> None:
    points = int_points(polygon, page)
    if len(points) < 2:  # the schema wants at least two points
        points = (points or [(0, 0)]) * 2
    sub(parent, "Coords", {"points": " ".join(f"{x},{y}" for x, y in points), "conf": conf})


def _text_equiv(parent: ET.Element, text: str, conf=None) -> None:
    sub(sub(parent, "TextEquiv", {"conf": conf}), "Unicode", text=text)


def _timestamp(doc: Document) -> str:
    created = doc.metadata.get("created")
    if isinstance(created, str) and created:
        return created
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0, tzinfo=None).isoformat()


def render(doc: Document, images: Images = None) -> bytes:
    (page,) = doc.pages  # Writer.to_bytes only gives one page
    stamp = _timestamp(doc)
    root = ET.Element(
        "PcGts",
        {
            "xmlns": PAGE_NS,
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:schemaLocation": SCHEMA_LOCATION,
        },
    )
    meta = sub(root, "Metadata")
    sub(meta, "Creator", text=f"ocrforge {__version__}")
    sub(meta, "Created", text=stamp)
    sub(meta, "LastChange", text=stamp)
    attrib = {
        "imageFilename": page.source or doc.source or f"page{page.index + 1}",
        "imageWidth": page.width,
        "imageHeight": page.height,
    }
    if page.dpi:
        attrib.update(imageXResolution=page.dpi, imageYResolution=page.dpi, imageResolutionUnit="PPI")
    page_el = sub(root, "Page", attrib)
    blocks = page.ordered_blocks()
    if blocks:
        group = sub(sub(page_el, "ReadingOrder"), "OrderedGroup", {"id": "ro"})
        for i in range(len(blocks)):
            sub(group, "RegionRefIndexed", {"index": i, "regionRef": f"r{i + 1}"})
    for b_num, block in enumerate(blocks, 1):
        rid = f"r{b_num}"
        region = sub(page_el, "TextRegion", {"id": rid, "type": "paragraph"})
        _coords(region, block.polygon, page)
        for l_num, line in enumerate(block.ordered_lines(), 1):
            lid = f"{rid}_l{l_num}"
            attrib = {"id": lid, "index": l_num - 1, **_script_attrs(line.script, "primaryLanguage")}
            line_el = sub(region, "TextLine", attrib)
            _coords(line_el, line.polygon, page)
            for w_num, word in enumerate(line_words(line), 1):
                word_el = sub(line_el, "Word", {"id": f"{lid}_w{w_num}", **_script_attrs(word.script, "language")})
                _coords(word_el, word.polygon, page, fmt_conf(word.confidence))
                _text_equiv(word_el, word.text, fmt_conf(word.confidence))
            _text_equiv(line_el, line.text, fmt_conf(line.confidence))
        _text_equiv(region, block.text, fmt_conf(block.confidence))
    indent(root, keep=lambda e: e.tag == "Unicode")
    return tostring(root)
