"""DB training targets from text polygons (numpy + OpenCV + pyclipper; no torch).

* shrink map: each polygon shrunk by D = A (1 - r^2) / L (r = shrink_ratio), filled with 1.
  The network learns these kernels; post-processing expands them back by unclip.
* shrink mask: 0 over ignored ("###", too small, cut by a crop) text, so it is neither
  positive nor negative.
* threshold map: inside the polygon dilated by D, 1 - (distance to the polygon border) / D,
  rescaled to [thresh_min, thresh_max]; thresh mask marks the dilated region where L1 applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Sequence

import cv2
import numpy as np
import pyclipper


@dataclass(frozen=True)
class LabelConfig:
    shrink_ratio: float = 0.4
    min_text_size: int = 6  # px; shorter side below this is ignored (unlearnable at stride 4)
    thresh_min: float = 0.3
    thresh_max: float = 0.7


def polygon_area(poly: np.ndarray) -> float:
    return float(cv2.contourArea(poly.astype(np.float32)))


def shrink_distance(poly: np.ndarray, ratio: float) -> float:
    area = polygon_area(poly)
    perimeter = float(cv2.arcLength(poly.astype(np.float32), True))
    return area * (1 - ratio * ratio) / max(perimeter, 1e-6)


def offset_polygon(poly: np.ndarray, distance: float) -> list:
    """Positive distance grows, negative shrinks; returns a list of polygons (may be empty)."""
    pco = pyclipper.PyclipperOffset()
    pco.AddPath([tuple(map(int, map(round, p))) for p in poly], pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    return [np.array(p, dtype=np.float32) for p in pco.Execute(distance)]


def _segment_distance(xs: np.ndarray, ys: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from each grid point to the segment a-b."""
    ab = b - a
    denom = float(ab @ ab) or 1e-6
    t = np.clip(((xs - a[0]) * ab[0] + (ys - a[1]) * ab[1]) / denom, 0.0, 1.0)
    return np.hypot(xs - (a[0] + t * ab[0]), ys - (a[1] + t * ab[1]))


def _draw_border(poly: np.ndarray, distance: float, canvas: np.ndarray, mask: np.ndarray) -> None:
    grown = offset_polygon(poly, distance)
    if not grown:
        return
    grown = grown[0]
    cv2.fillPoly(mask, [grown.round().astype(np.int32)], 1.0)
    h, w = canvas.shape
    x0, y0 = np.floor(grown.min(0)).astype(int)
    x1, y1 = np.ceil(grown.max(0)).astype(int)
    if x1 < 0 or y1 < 0 or x0 >= w or y0 >= h:
        return
    ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1].astype(np.float32)
    dist = np.full(xs.shape, np.inf, dtype=np.float32)
    n = len(poly)
    for i in range(n):
        dist = np.minimum(dist, _segment_distance(xs, ys, poly[i], poly[(i + 1) % n]))
    value = 1.0 - np.clip(dist / distance, 0.0, 1.0)
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
    sub = value[cy0 - y0:cy1 - y0 + 1, cx0 - x0:cx1 - x0 + 1]
    canvas[cy0:cy1 + 1, cx0:cx1 + 1] = np.maximum(canvas[cy0:cy1 + 1, cx0:cx1 + 1], sub)


def make_db_targets(
    shape: Sequence[int], polygons: Sequence[np.ndarray], ignore: Sequence[bool], cfg: LabelConfig = LabelConfig()
) -> Dict[str, np.ndarray]:
    h, w = int(shape[0]), int(shape[1])
    shrink_map = np.zeros((h, w), np.float32)
    shrink_mask = np.ones((h, w), np.float32)
    thresh_map = np.zeros((h, w), np.float32)
    thresh_mask = np.zeros((h, w), np.float32)
    for poly, ign in zip(polygons, ignore):
        poly = np.asarray(poly, np.float32).reshape(-1, 2)
        if len(poly) < 3:
            continue
        rect_w, rect_h = cv2.minAreaRect(poly)[1]
        if ign or min(rect_w, rect_h) < cfg.min_text_size or polygon_area(poly) < 1:
            cv2.fillPoly(shrink_mask, [poly.round().astype(np.int32)], 0.0)
            continue
        d = shrink_distance(poly, cfg.shrink_ratio)
        shrunk = offset_polygon(poly, -d)
        if not shrunk or polygon_area(shrunk[0]) < 1:
            cv2.fillPoly(shrink_mask, [poly.round().astype(np.int32)], 0.0)
            continue
        cv2.fillPoly(shrink_map, [s.round().astype(np.int32) for s in shrunk], 1.0)
        _draw_border(poly, d, thresh_map, thresh_mask)
    thresh_map = thresh_map * (cfg.thresh_max - cfg.thresh_min) + cfg.thresh_min
    return {"shrink_map": shrink_map, "shrink_mask": shrink_mask, "thresh_map": thresh_map, "thresh_mask": thresh_mask}
