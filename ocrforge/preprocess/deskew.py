"""Deskew: estimate the angle of the text lines by projection-profile search and rotate it away.

Why projection profiles rather than Hough lines or minAreaRect of the ink: a profile search scores
every candidate angle by how sharply the ink piles up into lines, so it uses all the text on the
page, is not thrown by a single long rule or a photo, and is accurate to a fraction of a degree
with a coarse-to-fine search. minAreaRect of all ink only works for one clean block of text.

Angles are degrees, counter-clockwise as seen on screen (the convention of
``cv2.getRotationMatrix2D``): a page whose lines climb to the right has a positive skew.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from ._common import InkAnalysis, StepOutput, affine_to_h, analyse_ink, background_colour, check_image

MAX_POINTS = 20000  # ink pixels sampled for the profile search; more adds time, not accuracy
# Line peaks stay visible in the profile within about a degree of the true angle on a page of
# text, so a 1-degree sweep cannot skip the peak; the fine pass and a parabola do the rest.
COARSE_STEP = 1.0
FINE_STEP = 0.1


@dataclass
class SkewEstimate:
    angle: float  # degrees counter-clockwise of the text lines from horizontal
    confidence: float  # best profile score over the median score; ~1 means no line structure
    ink_fraction: float


def ink_points(ink: InkAnalysis, max_points: int = MAX_POINTS) -> Tuple[np.ndarray, np.ndarray]:
    """Coordinates (x, y) of ink pixels relative to the centre, subsampled deterministically."""
    h, w = ink.mask.shape
    ys, xs = np.nonzero(ink.mask)
    if len(xs) > max_points:
        # A random (fixed-seed) subset, not every k-th pixel in raster order: on a dense page (CJK
        # text, 10-14 % ink) a regular stride leaves a lattice of points whose projection aliases,
        # and the profile score then grows with the angle: scanned Chinese pages 1 degree off were
        # "deskewed" by 15 degrees (benchmarks/make_zh_pages.py pages 2, 6, 8, 14).
        keep = np.random.default_rng(0).random(len(xs)) < max_points / len(xs)
        xs, ys = xs[keep], ys[keep]
    return xs.astype(np.float64) - w / 2.0, ys.astype(np.float64) - h / 2.0


def profile_scores(xs: np.ndarray, ys: np.ndarray, angles_deg: Sequence[float], vertical: bool = False) -> np.ndarray:
    """Sharpness of the ink projection for each candidate line angle.

    For horizontal lines tilted by angle a (counter-clockwise on screen, y pointing down), undoing
    the tilt puts a point at row x*sin(a) + y*cos(a); for vertical lines (a page on its side) the
    columns x*cos(a) - y*sin(a) are projected instead. The score is the sum of squared differences
    between neighbouring bins, which peaks when lines and gaps separate cleanly.
    """
    scores = np.empty(len(angles_deg))
    for i, a in enumerate(np.radians(np.asarray(angles_deg, dtype=np.float64))):
        if vertical:
            coord = xs * np.cos(a) - ys * np.sin(a)
        else:
            coord = xs * np.sin(a) + ys * np.cos(a)
        coord = np.rint(coord - coord.min()).astype(np.int64)
        hist = np.bincount(coord).astype(np.float64)
        scores[i] = float(np.sum(np.diff(hist) ** 2))
    return scores


def search_angle(
    xs: np.ndarray, ys: np.ndarray, max_angle: float = 15.0, vertical: bool = False
) -> Tuple[float, float, float]:
    """Coarse-to-fine search; returns (angle, best score, median coarse score)."""
    coarse = np.arange(-max_angle, max_angle + 1e-9, COARSE_STEP)
    s = profile_scores(xs, ys, coarse, vertical)
    best = float(coarse[int(np.argmax(s))])
    fine = np.arange(best - COARSE_STEP, best + COARSE_STEP + 1e-9, FINE_STEP)
    fs = profile_scores(xs, ys, fine, vertical)
    k = int(np.argmax(fs))
    angle = float(fine[k])
    if 0 < k < len(fine) - 1:
        # Parabola through the peak and its neighbours: sub-step accuracy for free.
        y0, y1, y2 = fs[k - 1], fs[k], fs[k + 1]
        denom = y0 - 2 * y1 + y2
        if denom < 0:
            angle += FINE_STEP * 0.5 * (y0 - y2) / denom
    return angle, float(fs[k]), float(np.median(s))


def estimate_skew(image: np.ndarray, max_angle: float = 15.0, ink: Optional[InkAnalysis] = None) -> SkewEstimate:
    """Angle of the text lines in [-max_angle, max_angle] degrees (0 when there is no text).

    ``ink`` lets a caller that already analysed the page (auto mode) share that work.
    """
    if ink is None:
        ink = analyse_ink(check_image(image))
    xs, ys = ink_points(ink)
    frac = float(ink.mask.mean())
    if len(xs) < 50:
        return SkewEstimate(0.0, 0.0, frac)
    angle, best, median = search_angle(xs, ys, max_angle)
    confidence = best / median if median > 0 else 0.0
    return SkewEstimate(angle=angle, confidence=float(confidence), ink_fraction=frac)


def rotation_matrix(shape: Tuple[int, int], angle_deg: float, expand: bool = True) -> Tuple[np.ndarray, Tuple[int, int]]:
    """Forward 2x3 matrix rotating by ``angle_deg`` counter-clockwise about the centre, and the output size."""
    h, w = shape
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle_deg, 1.0)
    if not expand:
        return m, (w, h)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    new_w = int(np.ceil(w * cos + h * sin - 1e-6))
    new_h = int(np.ceil(w * sin + h * cos - 1e-6))
    m[0, 2] += new_w / 2.0 - w / 2.0
    m[1, 2] += new_h / 2.0 - h / 2.0
    return m, (new_w, new_h)


def deskew(
    image: np.ndarray,
    angle: Optional[float] = None,
    max_angle: float = 15.0,
    min_angle: float = 0.0,
    expand: bool = True,
) -> StepOutput:
    """Rotate the text lines to horizontal.

    ``angle`` is the measured skew (estimated when None); nothing is done when its magnitude is
    at most ``min_angle``. With ``expand`` the canvas grows so no corner of the page is cut off;
    the new area is filled with the paper colour so it reads as margin, not as ink.
    """
    image = check_image(image)
    if angle is None:
        angle = estimate_skew(image, max_angle).angle
    angle = float(angle)
    if abs(angle) <= min_angle:
        return StepOutput(image, np.eye(3), {"angle": angle, "applied": False})
    forward, size = rotation_matrix(image.shape[:2], -angle, expand)
    out = cv2.warpAffine(
        image, forward, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
        borderValue=background_colour(image),
    )
    return StepOutput(out, np.linalg.inv(affine_to_h(forward)), {"angle": angle, "applied": True})
