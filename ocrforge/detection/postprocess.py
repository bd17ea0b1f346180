"""DB post-processing without torch: probability map -> scored text polygons.

threshold -> connected contours (cv2.findContours) -> score = mean probability inside the
contour -> unclip (pyclipper offset by D' = A * ratio / L, the inverse of the training shrink)
-> minimum-area rotated box -> original image coordinates. Each contour is expanded on its own,
so neighbouring lines never merge; a long line is one contour, so it is never split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Tuple

import cv2
import numpy as np
import pyclipper


@dataclass(frozen=True)
class PostprocessConfig:
    thresh: float = 0.3  # pixel threshold on the probability map
    box_thresh: float = 0.5  # minimum mean probability inside a kernel
    unclip_ratio: float = 1.6
    min_size: float = 3.0  # px (map scale); shorter kernels are noise
    max_candidates: int = 1000
    polygon: bool = False  # False: 4-point rotated boxes; True: unclipped contour polygons


@dataclass
class Detection:
    polygon: np.ndarray  # float32 (N, 2), image px, clockwise from top-left
    score: float


def order_clockwise(pts: np.ndarray) -> np.ndarray:
    """4 points -> top-left, top-right, bottom-right, bottom-left (image y grows down)."""
    pts = np.asarray(pts, np.float32).reshape(4, 2)
    xs = pts[np.argsort(pts[:, 0])]
    left, right = xs[:2], xs[2:]
    tl, bl = left[np.argsort(left[:, 1])]
    tr, br = right[np.argsort(right[:, 1])]
    return np.array([tl, tr, br, bl], np.float32)


def _mean_score(prob: np.ndarray, contour: np.ndarray) -> float:
    h, w = prob.shape
    x0, y0 = np.clip(np.floor(contour.min(0)).astype(int), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(contour.max(0)).astype(int), 0, [w - 1, h - 1])
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, [(contour - [x0, y0]).round().astype(np.int32)], 1)
    return float(cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0])


def unclip(poly: np.ndarray, ratio: float) -> Optional[np.ndarray]:
    area = cv2.contourArea(poly.astype(np.float32))
    length = cv2.arcLength(poly.astype(np.float32), True)
    if length <= 0:
        return None
    d = area * ratio / length
    pco = pyclipper.PyclipperOffset()
    pco.AddPath([tuple(p) for p in poly.round().astype(np.int64).tolist()], pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    out = pco.Execute(d)
    if not out:
        return None
    return np.array(max(out, key=lambda p: abs(pyclipper.Area(p))), np.float32)


def _clockwise_polygon(poly: np.ndarray) -> np.ndarray:
    """Contour points clockwise on screen, starting at the point nearest the top-left corner."""
    poly = np.asarray(poly, np.float32)
    x, y = poly[:, 0], poly[:, 1]
    if float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) < 0:  # shoelace, y down: < 0 is anticlockwise
        poly = poly[::-1]
    lo = poly.min(0)
    start = int(np.argmin(((poly - lo) ** 2).sum(1)))
    return np.roll(poly, -start, axis=0)


def boxes_from_prob(prob: np.ndarray, scale_xy: Tuple[float, float], image_wh: Tuple[int, int],
                    cfg: PostprocessConfig = PostprocessConfig()) -> List[Detection]:
    """prob: (H, W) float map of the resized input; scale_xy maps map px -> image px."""
    bitmap = (prob > cfg.thresh).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    sx, sy = scale_xy
    iw, ih = image_wh
    out: List[Detection] = []
    for c in contours[: cfg.max_candidates]:
        c = c.reshape(-1, 2).astype(np.float32)
        if len(c) < 3:
            continue
        rect = cv2.minAreaRect(c)
        if min(rect[1]) < cfg.min_size:
            continue
        score = _mean_score(prob, c)
        if score < cfg.box_thresh:
            continue
        shape = c if cfg.polygon else cv2.boxPoints(rect)
        grown = unclip(shape, cfg.unclip_ratio)
        if grown is None:
            continue
        if cfg.polygon:
            poly = _clockwise_polygon(grown)
        else:
            rect = cv2.minAreaRect(grown)
            if min(rect[1]) < cfg.min_size + 2:
                continue
            poly = order_clockwise(cv2.boxPoints(rect))
        poly = poly * np.array([sx, sy], np.float32)
        poly[:, 0] = np.clip(poly[:, 0], 0, iw - 1)
        poly[:, 1] = np.clip(poly[:, 1], 0, ih - 1)
        out.append(Detection(poly.astype(np.float32), score))
    # Top-to-bottom, then left-to-right: a stable order; reading order is the layout stage's job.
    out.sort(key=lambda d: (float(d.polygon[:, 1].min()), float(d.polygon[:, 0].min())))
    return out
