"""Contrast normalisation: flatten uneven lighting, then stretch ink-to-paper to the full range.

This is what auto mode uses for faint or unevenly lit pages instead of binarization: the
detector and recognizer were trained on grey/colour images with anti-aliased edges, and a hard
0/255 image throws away the edge information they use. The background (paper brightness) is
estimated on a small copy by a closing larger than any stroke followed by a blur, so it follows
shading but not text; dividing by it makes the paper uniformly white.
"""

from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np

from ..errors import ConfigError
from ._common import StepOutput, check_image, downscale, odd, to_gray

METHODS = ("flatten", "stretch")


def estimate_background(gray: np.ndarray, glyph: Optional[float] = None) -> np.ndarray:
    """Paper brightness at every pixel (float32, same size as ``gray``)."""
    small, scale = downscale(gray, 256)
    # The closing must be wider than the thickest stroke/glyph so that text vanishes from it.
    size = odd((glyph * scale * 1.5) if glyph else max(small.shape) / 25, minimum=5)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    paper = cv2.GaussianBlur(paper, (0, 0), size / 2.0)
    return cv2.resize(paper, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def _stretch_levels(gray: np.ndarray) -> Tuple[float, float]:
    """Ink level (0.5th percentile) and paper level (median of the brighter half)."""
    small, _ = downscale(gray, 512)
    low = float(np.percentile(small, 0.5))
    high = float(np.median(small[small >= np.median(small)]))
    return low, max(high, low + 1.0)


def normalize_contrast(image: np.ndarray, method: str = "flatten", glyph: Optional[float] = None) -> StepOutput:
    """``flatten``: divide out the background, then stretch; ``stretch``: stretch only.

    Colour is kept: the same per-pixel gain and level mapping (derived from grey) is applied to
    every channel.
    """
    image = check_image(image)
    if method not in METHODS:
        raise ConfigError(f"unknown contrast method {method!r}; choose one of {list(METHODS)}")
    gray = to_gray(image)
    work = image.astype(np.float32)
    params = {"method": method}
    if method == "flatten":
        paper = np.maximum(estimate_background(gray, glyph), 1.0)
        gain = 255.0 / paper
        work = work * (gain[..., None] if work.ndim == 3 else gain)
        gray = np.clip(gray.astype(np.float32) * gain, 0, 255).astype(np.uint8)
    low, high = _stretch_levels(gray)
    params.update(ink_level=round(low, 1), paper_level=round(high, 1))
    out = np.clip((work - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)
    return StepOutput(out, np.eye(3), params)
