"""json: ``Document.export()``, UTF-8 with Chinese kept as is; ``Document.from_json`` reads it back."""

from __future__ import annotations

from ..document import Document
from .base import Images


def render(doc: Document, images: Images = None) -> bytes:
    return (doc.to_json(indent=1) + "\n").encode("utf-8")
