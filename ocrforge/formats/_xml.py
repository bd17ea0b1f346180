"""Shared XML plumbing for hOCR, ALTO and PAGE (stdlib ElementTree, to keep the base install small).

Namespaces are written as plain ``xmlns`` attributes on the root instead of through
``ElementTree.register_namespace``, which changes a process-wide table.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Callable, Optional


def sub(parent: ET.Element, tag: str, attrib: Optional[dict] = None, text: Optional[str] = None) -> ET.Element:
    """A child element; attribute values of None are left out, others turned into strings."""
    el = ET.SubElement(parent, tag, {k: str(v) for k, v in (attrib or {}).items() if v is not None})
    if text is not None:
        el.text = text
    return el


def indent(elem: ET.Element, keep: Callable[[ET.Element], bool] = lambda e: False, level: int = 0) -> None:
    """Pretty-print in place, leaving alone the inside of elements for which ``keep`` is true.

    ``ET.indent`` would also put whitespace between the words of an hOCR line, which changes
    the line's text; lines are kept as written.
    """
    children = list(elem)
    if not children or keep(elem):
        return
    pad = "\n" + " " * (level + 1)
    if not (elem.text and elem.text.strip()):
        elem.text = pad
    for child in children:
        indent(child, keep, level + 1)
        if not (child.tail and child.tail.strip()):
            child.tail = pad
    children[-1].tail = "\n" + " " * level


def tostring(root: ET.Element, doctype: str = "") -> bytes:
    body = ET.tostring(root, encoding="unicode")
    head = '<?xml version="1.0" encoding="UTF-8"?>\n' + (doctype + "\n" if doctype else "")
    return (head + body + "\n").encode("utf-8")


def fmt_conf(value: float) -> str:
    """A confidence in [0, 1] with 4 decimals (what OCR scores carry), no float noise."""
    return f"{value:.4f}".rstrip("0").rstrip(".") if value else "0"
