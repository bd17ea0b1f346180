"""Raster images (Pillow) and in-memory arrays -> HxWx3 uint8 BGR pages.

Pillow rather than ``cv2.imread`` because it reads the header without decoding the pixels (so the
pixel limit is checked before a decompression bomb is expanded), walks multi-page TIFFs, and
exposes EXIF orientation and DPI.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from typing import Iterator, Optional, Union

import cv2
import numpy as np
from PIL import Image, ImageOps

from ..errors import InputError
from .pages import PageImage, PageSpec, parse_page_spec

# Pillow raises these for undecodable, truncated or inconsistent data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, MemoryError)


def shrink(image: np.ndarray, size, scale: float) -> np.ndarray:
    """``image`` reduced by ``scale`` (<= 1) to ``size`` (w, h): an integer-factor INTER_AREA pass (its
    fast path) for big reductions, then INTER_LINEAR for the last factor under 2, which aliases
    little there. One INTER_AREA resize to a non-integer size is several times slower (6-8 ms vs ~2
    on a SROIE receipt). Shared by page analysis (preprocess) and the detector's input."""
    h, w = image.shape[:2]
    factor = int(1.0 / scale)
    if factor >= 2:
        image = cv2.resize(image, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
    size = (int(size[0]), int(size[1]))
    if size != (image.shape[1], image.shape[0]):
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    return image


def check_pixels(width: int, height: int, max_pixels: Optional[int], source: str, hint: str = "") -> None:
    """Refuse empty images and images over the pixel limit before their pixels are decoded."""
    if width <= 0 or height <= 0:
        raise InputError(f"{source}: image has no pixels ({width}x{height})")
    if max_pixels is not None and width * height > max_pixels:
        raise InputError(
            f"{source}: {width}x{height} = {width * height / 1e6:.1f} MP is over the pixel limit of "
            f"{max_pixels / 1e6:.1f} MP (possible decompression bomb; raise max_pixels{hint} if intended)"
        )


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """Any numeric image array -> uint8, keeping the visible contrast.

    Integer data above 255 is scaled by the bit depth it appears to use (12-bit scanners store
    0..4095 in 16-bit containers; dividing by 65535 would make them nearly black). Floats in
    [0, 1] are scaled to [0, 255], larger floats are clipped.
    """
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.integer):
        hi = int(arr.max()) if arr.size else 0
        if hi <= 255:
            return np.clip(arr, 0, 255).astype(np.uint8)
        bits = max(8, math.ceil(math.log2(hi + 1)))
        scaled = np.clip(arr, 0, None).astype(np.float64) * (255.0 / (2**bits - 1))
        return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        a = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if a.size and a.max() <= 1.0:
            a = a * 255.0
        return np.clip(np.rint(a), 0, 255).astype(np.uint8)
    raise InputError(f"unsupported image array dtype {arr.dtype}")


def _composite_on_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None] / 255.0
    out = color.astype(np.float32) * a + 255.0 * (1.0 - a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def array_to_bgr(arr: np.ndarray, source: str = "<array>") -> np.ndarray:
    """An image array as OpenCV holds it (gray, BGR or BGRA; any numeric dtype) -> HxWx3 uint8 BGR.

    Colour arrays are taken to be in OpenCV's BGR order: that is what ``cv2.imread`` and every
    stage of this package produce. Convert RGB arrays (``arr[..., ::-1]``) or pass a PIL image.
    """
    if not isinstance(arr, np.ndarray):
        raise InputError(f"{source}: expected a numpy array, got {type(arr).__name__}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (2, 3, 4)):
        raise InputError(f"{source}: expected an HxW, HxWx3 or HxWx4 image array, got shape {arr.shape}")
    check_pixels(arr.shape[1], arr.shape[0], None, source)
    arr = to_uint8(arr)
    if arr.ndim == 2:
        return np.ascontiguousarray(np.repeat(arr[..., None], 3, axis=2))
    if arr.shape[2] == 2:  # gray + alpha
        gray = _composite_on_white(arr[..., 0], arr[..., 1])[..., 0]
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    if arr.shape[2] == 4:
        return np.ascontiguousarray(_composite_on_white(arr[..., :3], arr[..., 3]))
    return np.ascontiguousarray(arr)


_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


def pil_to_bgr(im: Image.Image, source: str = "<PIL image>") -> np.ndarray:
    """One decoded PIL frame -> HxWx3 uint8 BGR, EXIF orientation applied, alpha on white."""
    try:
        im = ImageOps.exif_transpose(im) or im
    except Exception:  # noqa: BLE001 - a broken EXIF block must not make a readable image unreadable
        pass
    mode = im.mode
    if mode.startswith("I") or mode == "F":  # 16/32-bit gray or float: keep the depth until scaled
        return array_to_bgr(np.asarray(im), source)
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in im.info):
        rgba = np.asarray(im.convert("RGBA"))
        return np.ascontiguousarray(_composite_on_white(rgba[..., 2::-1], rgba[..., 3]))
    rgb = np.asarray(im.convert("RGB"))
    return np.ascontiguousarray(rgb[..., ::-1])


def _dpi_of(im: Image.Image) -> Optional[float]:
    dpi = im.info.get("dpi")
    try:
        x = float(dpi[0]) if isinstance(dpi, (tuple, list)) else float(dpi)
    except (TypeError, ValueError, IndexError):
        return None
    # Files written without a resolution unit report 1 or 72 "dpi"; neither is a real scan.
    return x if x >= 50 else None


def iter_raster_pages(
    data: Union[str, bytes, "io.BufferedIOBase"],
    source: str,
    pages: PageSpec = None,
    max_pixels: Optional[int] = None,
) -> Iterator[PageImage]:
    """Decode an image file (path or bytes); every frame of a multi-page TIFF is a page."""
    fp = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    try:
        with warnings.catch_warnings():
            # We apply our own limit below; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(fp)
    except Image.DecompressionBombError as exc:
        raise InputError(f"{source}: over Pillow's decompression-bomb limit ({exc})") from exc
    except Image.UnidentifiedImageError as exc:
        raise InputError(f"{source}: not an image or PDF that can be read") from exc
    except _DECODE_ERRORS as exc:
        raise InputError(f"{source}: cannot read image ({exc})") from exc
    with im:
        fast = _decode_with_opencv(im, data, source, pages, max_pixels)
        if fast is not None:
            yield fast
            return
        yield from iter_pil_pages(im, source, pages, max_pixels)


_OPENCV_FORMATS = {"JPEG", "PNG", "BMP", "WEBP"}
_EXIF_ORIENTATION = 0x0112


def _decode_with_opencv(im: Image.Image, data, source: str, pages: PageSpec,
                        max_pixels: Optional[int]) -> Optional[PageImage]:
    """The common case, a plain 8-bit RGB or gray JPEG/PNG/BMP/WebP with no EXIF turn and no
    alpha, decoded by OpenCV: 4x faster than Pillow's decode plus channel swap (5 vs 19 ms on a
    SROIE receipt), same pixels. Anything else, or anything OpenCV cannot decode whole (it gives
    None on truncated data), returns None and goes the Pillow way, which explains errors."""
    if im.format not in _OPENCV_FORMATS or im.mode not in ("RGB", "L") or "transparency" in im.info:
        return None
    try:
        if im.getexif().get(_EXIF_ORIENTATION, 1) != 1:
            return None
    except Exception:  # noqa: BLE001 - an unreadable EXIF block: let the Pillow path decide
        return None
    parse_page_spec(pages, 1, source)  # a single-frame image has page 1 only
    check_pixels(im.size[0], im.size[1], max_pixels, source)
    if isinstance(data, (bytes, bytearray, memoryview)):
        buf = np.frombuffer(data, np.uint8)
    elif isinstance(data, (str, os.PathLike)):
        try:
            buf = np.fromfile(data, np.uint8)
        except OSError:
            return None
    else:  # an open file: its position belongs to the caller; Pillow reads it as it is
        return None
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    if bgr is None or bgr.shape[:2] != (im.size[1], im.size[0]):
        return None
    return PageImage(image=bgr, source=source, index=0, page_count=1, dpi=_dpi_of(im),
                     kind="image", metadata={"format": im.format or ""})


def iter_pil_pages(
    im: Image.Image, source: str, pages: PageSpec = None, max_pixels: Optional[int] = None
) -> Iterator[PageImage]:
    """An opened PIL image (possibly a multi-page TIFF) -> pages, each checked before decoding."""
    # Only TIFF frames are pages; GIF/WebP frames are animation, the first one is the image.
    try:
        count = int(getattr(im, "n_frames", 1)) if im.format == "TIFF" else 1
    except _DECODE_ERRORS as exc:
        raise InputError(f"{source}: cannot read the TIFF page directory ({exc})") from exc
    for idx in parse_page_spec(pages, count, source):
        try:
            if count > 1:
                im.seek(idx)
            check_pixels(im.size[0], im.size[1], max_pixels, source)
            bgr = pil_to_bgr(im, source)
        except InputError:
            raise
        except _DECODE_ERRORS as exc:
            where = f" page {idx + 1}" if count > 1 else ""
            raise InputError(f"{source}{where}: image data is truncated or corrupt ({exc})") from exc
        yield PageImage(image=bgr, source=source, index=idx, page_count=count, dpi=_dpi_of(im),
                        kind="image", metadata={"format": im.format or ""})
