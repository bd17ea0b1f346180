"""Small shared helpers: input checks, grey conversion, analysis copies, ink masks, the step result type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

import cv2
import numpy as np

from ..errors import InputError
from ..io.images import shrink

# Measurements run on a copy whose longer side is at most this: skew and orientation need a few
# pixels per text line, not the full scan, and this keeps `auto` at tens of milliseconds.
ANALYSIS_MAX_SIDE = 1000


@dataclass
class StepOutput:
    """What one preprocessing step produced.

    ``matrix`` is a 3x3 float64 homography mapping pixel coordinates of ``image`` (the step's
    output) to pixel coordinates of the step's input. ``params`` are the parameters actually
    used (estimated values filled in), so a run can be repeated or reported.
    """

    image: np.ndarray
    matrix: np.ndarray = field(default_factory=lambda: np.eye(3))
    params: Dict[str, Any] = field(default_factory=dict)
    rotation: int = 0  # quarter-turn orientation applied by this step, degrees counter-clockwise


def check_image(image: Any) -> np.ndarray:
    """Accept uint8 grey (H, W), BGR (H, W, 3) or BGRA (H, W, 4); raise InputError otherwise."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"preprocess expects a numpy image, got {type(image).__name__}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise InputError(f"preprocess expects an HxW or HxWx{{1,3,4}} image, got shape {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise InputError(f"image too small to preprocess: {image.shape[1]}x{image.shape[0]}")
    if image.dtype != np.uint8:
        raise InputError(f"preprocess expects uint8 pixels, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def to_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def like_input(gray: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Give a grey result the channel layout of ``reference`` so later stages see what they were given."""
    if reference.ndim == 3 and gray.ndim == 2:
        return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    return gray


def downscale(image: np.ndarray, max_side: int = ANALYSIS_MAX_SIDE) -> Tuple[np.ndarray, float]:
    """Return (copy with longer side <= max_side, scale factor small/original).

    Shrinks with ``io.images.shrink`` (integer-factor INTER_AREA, then INTER_LINEAR).
    """
    h, w = image.shape[:2]
    scale = min(1.0, max_side / float(max(h, w)))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    return shrink(image, size, scale), scale


def odd(n: float, minimum: int = 3) -> int:
    n = max(minimum, int(n))
    return n if n % 2 == 1 else n + 1


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Boolean mask of dark-on-light ink, robust to uneven lighting (local threshold, not Otsu).

    Flat regions stay empty because the offset C requires ink to be clearly darker than its
    neighbourhood, so paper texture and mild noise do not become ink.
    """
    h, w = gray.shape
    block = odd(min(h, w) / 25, minimum=15)
    blurred = cv2.GaussianBlur(gray, (3, 3), 0)
    mask = cv2.adaptiveThreshold(blurred, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, 12)
    return mask > 0


@dataclass
class InkAnalysis:
    """The ink of a page on a small copy, computed once and shared by the measurements."""

    gray: np.ndarray  # analysis copy, longer side <= ANALYSIS_MAX_SIDE
    scale: float  # analysis size / input size
    mask: np.ndarray  # bool ink mask with blobs too big to be text removed
    stats: np.ndarray  # (n, 5) x, y, w, h, area of the kept ink components
    # line_direction's answer, kept here because auto preprocessing and the orientation estimate both ask
    direction: Any = field(default=None, repr=False, compare=False)


def analyse_ink(image: np.ndarray, max_side: int = ANALYSIS_MAX_SIDE) -> InkAnalysis:
    small, scale = downscale(to_gray(image), max_side)
    low, high = np.percentile(small[::3, ::3], (1, 99))
    stretched = small
    if high - low < 160:
        # A faint page: stretch a copy so the mask's fixed offset still separates ink.
        gain = 255.0 / max(float(high - low), 8.0)
        stretched = cv2.convertScaleAbs(small, alpha=gain, beta=-float(low) * gain)
    mask = ink_mask(stretched)
    h, w = mask.shape
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    # Photos, logos and page edges are big in both directions; rules are thin and still follow
    # the text, so only blobs that are large both ways are dropped.
    big = (stats[:, cv2.CC_STAT_WIDTH] > w / 5) & (stats[:, cv2.CC_STAT_HEIGHT] > h / 5)
    big[0] = True  # background label
    if big[1:].any():
        mask = ~big[labels]
    return InkAnalysis(gray=small, scale=scale, mask=mask, stats=stats[1:][~big[1:]])


def background_colour(image: np.ndarray) -> Tuple[int, ...]:
    """Paper colour: the median of the brightest half of pixels (the page, not the ink)."""
    small, _ = downscale(image, 200)
    pixels = small.reshape(-1, 1 if small.ndim == 2 else small.shape[2]).astype(np.float32)
    lum = pixels.mean(1)
    bright = pixels[lum >= np.median(lum)]
    value = np.median(bright, axis=0)
    return tuple(int(round(v)) for v in value)


def affine_to_h(m: np.ndarray) -> np.ndarray:
    h = np.eye(3)
    h[:2, :] = m
    return h
