"""PDF pages -> images, rendered with PDFium (pypdfium2): no poppler or ghostscript needed at run time."""

from __future__ import annotations

from typing import Iterator, Optional, Union

import numpy as np
import pypdfium2 as pdfium

from ..errors import ConfigError, InputError
from .images import check_pixels
from .pages import PageImage, PageSpec, parse_page_spec

MIN_DPI, MAX_DPI = 36, 1200


def looks_like_pdf(head: bytes) -> bool:
    # The PDF reference lets a header appear anywhere in the first 1024 bytes.
    return b"%PDF-" in head[:1024]


def _open(data: Union[str, bytes], source: str) -> "pdfium.PdfDocument":
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        msg = str(exc)
        if "password" in msg.lower() or "security" in msg.lower():
            raise InputError(f"{source}: PDF is encrypted (password required)") from exc
        raise InputError(f"{source}: broken or unreadable PDF ({msg})") from exc


def iter_pdf_pages(
    data: Union[str, bytes],
    source: str,
    pages: PageSpec = None,
    dpi: float = 300,
    max_pixels: Optional[int] = None,
) -> Iterator[PageImage]:
    """Render the selected pages at ``dpi``, one at a time (a 300-dpi A4 page is ~26 MB of pixels)."""
    if not (MIN_DPI <= dpi <= MAX_DPI):
        raise ConfigError(f"dpi must be between {MIN_DPI} and {MAX_DPI}, got {dpi}")
    pdf = _open(data, source)
    try:
        count = len(pdf)
        if count == 0:
            raise InputError(f"{source}: PDF has no pages")
        scale = dpi / 72.0  # PDF user space is 1/72 inch
        for idx in parse_page_spec(pages, count, source):
            try:
                page = pdf[idx]
            except pdfium.PdfiumError as exc:
                raise InputError(f"{source}: page {idx + 1} cannot be loaded ({exc})") from exc
            try:
                w_pt, h_pt = page.get_size()  # already swapped for /Rotate 90/270
                check_pixels(round(w_pt * scale), round(h_pt * scale), max_pixels,
                             f"{source} page {idx + 1}", hint=" or lower dpi")
                bitmap = page.render(scale=scale, fill_color=(255, 255, 255, 255))
                arr = np.array(bitmap.to_numpy(), copy=True)  # detach from PDFium's buffer
                bitmap.close()
            except pdfium.PdfiumError as exc:
                raise InputError(f"{source}: page {idx + 1} cannot be rendered ({exc})") from exc
            finally:
                page.close()
            if arr.ndim == 2:
                arr = np.repeat(arr[..., None], 3, axis=2)
            elif arr.shape[2] == 4:  # BGRx / BGRA: the fill colour already made it opaque
                arr = np.ascontiguousarray(arr[..., :3])
            yield PageImage(image=arr, source=source, index=idx, page_count=count, dpi=float(dpi),
                            kind="pdf", metadata={"page_size_pt": (float(w_pt), float(h_pt))})
    finally:
        pdf.close()


def pdf_page_count(data: Union[str, bytes], source: str = "<pdf>") -> int:
    pdf = _open(data, source)
    try:
        return len(pdf)
    finally:
        pdf.close()
