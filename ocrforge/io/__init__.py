"""Inputs -> pages: paths, bytes, numpy arrays, PIL images; JPEG/PNG/BMP/WebP/TIFF (multi-page) and PDF.

Every page comes out as HxWx3 uint8 BGR with EXIF orientation applied; anything unreadable raises
``ocrforge.errors.InputError`` with the input's name in the message.
"""

from .images import array_to_bgr, pil_to_bgr, to_uint8
from .loader import DEFAULT_DPI, DEFAULT_MAX_PIXELS, iter_pages, load_image, load_pages, source_name
from .pages import PageImage, parse_page_spec
from .pdf import pdf_page_count

__all__ = [
    "DEFAULT_DPI",
    "DEFAULT_MAX_PIXELS",
    "PageImage",
    "array_to_bgr",
    "iter_pages",
    "load_image",
    "load_pages",
    "parse_page_spec",
    "pdf_page_count",
    "pil_to_bgr",
    "source_name",
    "to_uint8",
]
