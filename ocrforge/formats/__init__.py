"""Output formats: the registry of writers, one module per format.

``WRITERS[name]`` is a ``Writer`` with ``to_bytes(doc, images=None)`` and
``write(doc, path_or_stream, images=None)``. ``images`` (numpy BGR page images, one per page)
are used by pdf only.
"""

from __future__ import annotations

from typing import Dict, List

from ..errors import FormatError
from . import alto, hocr, jsonfile, pagexml, pdf, plaintext, tsv
from .base import Writer

WRITERS: Dict[str, Writer] = {
    "txt": Writer("txt", ".txt", "text/plain; charset=utf-8", plaintext.render),
    "json": Writer("json", ".json", "application/json", jsonfile.render),
    "tsv": Writer("tsv", ".tsv", "text/tab-separated-values; charset=utf-8", tsv.render),
    "hocr": Writer("hocr", ".hocr", "application/xhtml+xml", hocr.render),
    "alto": Writer("alto", ".alto.xml", "application/xml", alto.render),
    "page": Writer("page", ".page.xml", "application/xml", pagexml.render, one_page_per_file=True),
    "pdf": Writer("pdf", ".pdf", "application/pdf", pdf.render),
}


def get_writer(name: str) -> Writer:
    try:
        return WRITERS[name.strip().lower()]
    except KeyError:
        raise FormatError(f"unknown output format {name!r} (choose from {', '.join(WRITERS)})") from None


def parse_formats(spec: str) -> List[Writer]:
    """Writers for a comma-separated list such as "txt,json,pdf" (duplicates dropped)."""
    names = [n.strip().lower() for n in spec.split(",") if n.strip()]
    if not names:
        raise FormatError("no output format given")
    return [get_writer(n) for n in dict.fromkeys(names)]


__all__ = ["WRITERS", "Writer", "get_writer", "parse_formats"]
