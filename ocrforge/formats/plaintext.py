"""txt: the document's text in reading order (``Document.render``), UTF-8, newline at the end."""

from __future__ import annotations

from ..document import Document
from .base import Images


def render(doc: Document, images: Images = None) -> bytes:
    text = doc.render()
    return (text + "\n").encode("utf-8") if text else b""
