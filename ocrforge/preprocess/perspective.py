"""Perspective correction of a photographed page: find the page quadrilateral, warp it to a rectangle.

The page is found as the largest convex four-corner contour that stands out from its surroundings,
trying two cues on a small copy: a brightness split (Otsu: paper is lighter than a desk) and edges
(Canny: works when paper and background have similar brightness but a visible border). A candidate
must cover a good part of the frame but not all of it (a flat scan's own border is not a page
outline), the inside must differ from the outside, and it must hold the page's text: a false
outline (the edge of a shadow, an Otsu split of uneven lighting, a fold) cuts through the text,
while the desk around a real page has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import cv2
import numpy as np

from ._common import StepOutput, analyse_ink, check_image, downscale, to_gray

ANALYSIS_SIDE = 512  # the page outline is a large structure; this is plenty and takes ~ms
# Most text-like ink a page candidate may leave outside itself. On SROIE's receipts the page
# outlines found held all but 0-10 % of it; the false ones (diagonal cuts along uneven lighting,
# 5 of 500 receipts, and 2 of 20 under a side light) left 29-71 % outside (BENCHMARKS.md,
# fourteenth session).
MAX_INK_OUTSIDE = 0.2


@dataclass
class PageQuad:
    corners: np.ndarray  # (4, 2) float64 input pixels, TL, TR, BR, BL
    area_fraction: float  # quad area over image area
    contrast: float  # |mean inside - mean outside| in grey levels, measured on a thin ring


def order_corners(pts: np.ndarray) -> np.ndarray:
    """Order four points TL, TR, BR, BL (clockwise from top-left in image coordinates)."""
    pts = np.asarray(pts, dtype=np.float64).reshape(4, 2)
    centre = pts.mean(0)
    ang = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(ang)]  # clockwise on screen, starting from the left-most angle (-pi)
    # Start from the corner nearest the top-left (smallest x + y).
    start = int(np.argmin(pts.sum(1)))
    return np.roll(pts, -start, axis=0)


def _quad_candidates(gray: np.ndarray) -> List[np.ndarray]:
    blurred = cv2.GaussianBlur(gray, (5, 5), 0)
    masks = []
    _, otsu = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Close the page so text holes do not break its outline.
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
    masks.append(cv2.morphologyEx(otsu, cv2.MORPH_CLOSE, kernel))
    edges = cv2.Canny(blurred, 30, 100)
    masks.append(cv2.dilate(edges, cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))))
    quads = []
    for mask in masks:
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in sorted(contours, key=cv2.contourArea, reverse=True)[:5]:
            hull = cv2.convexHull(c)
            peri = cv2.arcLength(hull, True)
            for eps in (0.02, 0.03, 0.05):
                approx = cv2.approxPolyDP(hull, eps * peri, True)
                if len(approx) == 4:
                    quads.append(approx.reshape(4, 2).astype(np.float64))
                    break
    return quads


def _ring_contrast(gray: np.ndarray, quad: np.ndarray) -> float:
    """Mean brightness just inside the quad minus just outside it (a thin band on each side)."""
    h, w = gray.shape
    band = max(3, int(0.02 * max(h, w)))
    inside = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(inside, np.round(quad).astype(np.int32), 255)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * band + 1, 2 * band + 1))
    inner = (inside > 0) & (cv2.erode(inside, kernel) == 0)
    outer = (inside == 0) & (cv2.dilate(inside, kernel) > 0)
    if inner.sum() < 10 or outer.sum() < 10:
        return 0.0
    return float(abs(gray[inner].mean() - gray[outer].mean()))


def find_page_quad(
    image: np.ndarray, min_area: float = 0.2, max_area: float = 0.95, min_contrast: float = 25.0,
    max_ink_outside: float = MAX_INK_OUTSIDE,
) -> Optional[PageQuad]:
    """The page outline in input pixels, or None when the image shows no page against a background."""
    image = check_image(image)
    small, scale = downscale(to_gray(image), ANALYSIS_SIDE)
    h, w = small.shape
    best: Optional[PageQuad] = None
    ink: Optional[np.ndarray] = None  # measured once, and only if some candidate gets that far
    for quad in _quad_candidates(small):
        if not cv2.isContourConvex(quad.astype(np.float32).reshape(-1, 1, 2)):
            continue
        area = abs(cv2.contourArea(quad.astype(np.float32))) / float(h * w)
        if not (min_area <= area <= max_area):
            continue
        contrast = _ring_contrast(small, quad)
        if contrast < min_contrast:
            continue
        if best is not None and area <= best.area_fraction:
            continue
        ink = analyse_ink(small).mask if ink is None else ink
        if _ink_outside(ink, quad) > max_ink_outside:
            continue
        best = PageQuad(order_corners(quad / scale), area, contrast)
    if best is not None and scale < 1.0:
        best.corners = _refine_corners(to_gray(image), best.corners, scale)
    return best


def _ink_outside(ink: np.ndarray, quad: np.ndarray) -> float:
    """Share of the ink mask lying outside ``quad`` grown by 2 % of the frame (a page's own edge
    shadow and the text nearest it are not "outside")."""
    total = int(np.count_nonzero(ink))
    if total == 0:
        return 0.0
    h, w = ink.shape
    inside = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(inside, np.round(quad).astype(np.int32), 255)
    grow = max(1, int(0.02 * max(h, w)))
    inside = cv2.dilate(inside, cv2.getStructuringElement(cv2.MORPH_RECT, (2 * grow + 1, 2 * grow + 1)))
    return float(np.count_nonzero(ink & (inside == 0))) / total


def _refine_corners(gray: np.ndarray, corners: np.ndarray, scale: float) -> np.ndarray:
    """Sharpen corners found on the small copy to sub-pixel accuracy on the full image.

    The search window covers the uncertainty of one analysis pixel; a corner that moves further
    than that latched onto something else (text near the edge), so the coarse one is kept.
    """
    half = int(np.ceil(2.0 / scale)) + 2
    pts = corners.astype(np.float32).reshape(-1, 1, 2).copy()
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 40, 0.01)
    refined = cv2.cornerSubPix(gray, pts, (half, half), (-1, -1), criteria).reshape(4, 2).astype(np.float64)
    moved = np.linalg.norm(refined - corners, axis=1) > 1.5 * half
    refined[moved] = corners[moved]
    return refined


def target_size(corners: np.ndarray) -> Tuple[int, int]:
    """Output (width, height): the longer of each pair of opposite edges, so no detail is squeezed."""
    tl, tr, br, bl = corners
    width = max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))
    height = max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))
    return max(2, int(round(width))), max(2, int(round(height)))


def correct_perspective(image: np.ndarray, corners: Optional[np.ndarray] = None) -> StepOutput:
    """Warp the page quad (found when ``corners`` is None) to an upright rectangle.

    When no page outline is found the image is returned unchanged with the identity transform.
    """
    image = check_image(image)
    if corners is None:
        quad = find_page_quad(image)
        if quad is None:
            return StepOutput(image, np.eye(3), {"found": False})
        corners = quad.corners
    corners = order_corners(np.asarray(corners, dtype=np.float64))
    w, h = target_size(corners)
    dst = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)
    # Solve directly for output -> input, which is both the sampling map and the step's transform.
    out_to_in = cv2.getPerspectiveTransform(dst.astype(np.float32), corners.astype(np.float32)).astype(np.float64)
    out = cv2.warpPerspective(
        image, out_to_in, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    return StepOutput(out, out_to_in, {"found": True, "corners": corners.round(2).tolist()})
