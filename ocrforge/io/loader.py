"""One entry point for every kind of input: ``iter_pages(source)`` / ``load_pages(source)``.

The kind is decided from the content (magic bytes), not the file name, so a PDF saved as
``scan.jpg`` or an image with no extension still reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, List, Optional

import numpy as np
from PIL import Image

from ..errors import InputError
from .images import array_to_bgr, check_pixels, iter_pil_pages, iter_raster_pages
from .pages import PageImage, PageSpec, parse_page_spec
from .pdf import iter_pdf_pages, looks_like_pdf

DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: an A3 page at 600 dpi is 70 MP
DEFAULT_DPI = 300


def source_name(source: Any) -> str:
    """How an input is named in errors and in the Document."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    if isinstance(source, np.ndarray):
        return "<array>"
    if isinstance(source, Image.Image):
        return getattr(source, "filename", "") or "<PIL image>"
    name = getattr(source, "name", None)  # an open file
    return name if isinstance(name, str) else f"<{type(source).__name__}>"


def _read_path(path: Path, source: str) -> bytes:
    try:
        if not path.exists():
            raise InputError(f"{source}: no such file")
        if path.is_dir():
            raise InputError(f"{source}: is a directory, not an image or PDF")
        data = path.read_bytes()
    except PermissionError as exc:
        raise InputError(f"{source}: permission denied") from exc
    except OSError as exc:
        raise InputError(f"{source}: cannot read file ({exc.strerror or exc})") from exc
    return data


def iter_pages(
    source: Any,
    pages: PageSpec = None,
    dpi: float = DEFAULT_DPI,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
) -> Iterator[PageImage]:
    """Yield the selected pages of ``source`` as BGR uint8 images, one at a time.

    ``source``: a path (str or PathLike), bytes, an open binary file, a numpy array (gray, BGR or
    BGRA, any numeric dtype) or a PIL image. ``pages``: 1-based selection ("1-3,5", an int, a list;
    None = all). ``dpi``: PDF render resolution. ``max_pixels``: refuse larger pages (checked from
    the header, before decoding; None disables our check, Pillow's own bomb limit still applies).
    Raises ``InputError`` for anything that cannot be read.
    """
    name = source_name(source)
    if isinstance(source, np.ndarray):
        parse_page_spec(pages, 1, name)
        img = array_to_bgr(source, name)
        check_pixels(img.shape[1], img.shape[0], max_pixels, name)
        yield PageImage(image=img, source=name, index=0, page_count=1, kind="array")
        return
    if isinstance(source, Image.Image):
        yield from iter_pil_pages(source, name, pages, max_pixels)
        return
    if isinstance(source, (str, os.PathLike)):
        if isinstance(source, str) and not source.strip():
            raise InputError("empty path given as input")
        data = _read_path(Path(source), name)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "read"):
        try:
            data = source.read()
        except OSError as exc:
            raise InputError(f"{name}: cannot read ({exc})") from exc
        if not isinstance(data, (bytes, bytearray)):
            raise InputError(f"{name}: file object must be opened in binary mode")
        data = bytes(data)
    else:
        raise InputError(
            f"unsupported input type {type(source).__name__}: give a path, bytes, a numpy array or a PIL image"
        )
    if not data:
        raise InputError(f"{name}: empty file")
    if looks_like_pdf(data[:1024]):
        yield from iter_pdf_pages(data, name, pages, dpi, max_pixels)
    else:
        yield from iter_raster_pages(data, name, pages, max_pixels)


def load_pages(
    source: Any,
    pages: PageSpec = None,
    dpi: float = DEFAULT_DPI,
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
) -> List[PageImage]:
    """All selected pages at once (see ``iter_pages``)."""
    return list(iter_pages(source, pages=pages, dpi=dpi, max_pixels=max_pixels))


def load_image(source: Any, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The first page of ``source`` as a BGR uint8 array (for single line images and crops)."""
    for page in iter_pages(source, pages=None, max_pixels=max_pixels):
        return page.image
    raise InputError(f"{source_name(source)}: no pages")
