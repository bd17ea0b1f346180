"""Training-time augmentation for detection: geometry moves the polygons with the pixels.

Plain OpenCV rather than albumentations for the geometric part because albumentations' keypoint
handling drops points outside the image, which breaks polygons cut by a crop; here polygons are
clipped with pyclipper and a line cut across its height becomes "ignore".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence, Tuple

import cv2
import numpy as np
import pyclipper


@dataclass(frozen=True)
class AugmentConfig:
    crop: int = 512
    scale_min: float = 0.6  # relative to the cached image (long side ~1024)
    scale_max: float = 1.6
    rotate_p: float = 0.3
    rotate_deg: float = 10.0
    quarter_p: float = 0.1  # 90/180/270: rotated pages and vertical lines
    colour_p: float = 0.8
    blur_p: float = 0.15
    noise_p: float = 0.15
    text_crop_p: float = 0.85  # crop windows centred near text rather than anywhere


Polys = List[np.ndarray]


def _transform(polys: Polys, m: np.ndarray) -> Polys:
    return [cv2.transform(p.reshape(-1, 1, 2).astype(np.float32), m).reshape(-1, 2) for p in polys]


def rotate(img: np.ndarray, polys: Polys, angle: float, border=(255, 255, 255)) -> Tuple[np.ndarray, Polys]:
    """Rotate by angle (degrees, counter-clockwise) on an enlarged canvas so nothing is cut."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    c, s = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * s + w * c + 0.5), int(h * c + w * s + 0.5)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    out = cv2.warpAffine(img, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    return out, _transform(polys, m)


def quarter(img: np.ndarray, polys: Polys, k: int) -> Tuple[np.ndarray, Polys]:
    """Rotate by k * 90 degrees counter-clockwise, exactly (no resampling)."""
    k %= 4
    h, w = img.shape[:2]
    out = np.ascontiguousarray(np.rot90(img, k))
    res = []
    for p in polys:
        x, y = p[:, 0], p[:, 1]
        if k == 1:
            q = np.stack([y, w - x], 1)
        elif k == 2:
            q = np.stack([w - x, h - y], 1)
        elif k == 3:
            q = np.stack([h - y, x], 1)
        else:
            q = p.copy()
        res.append(q.astype(np.float32))
    return out, res


def _clip(poly: np.ndarray, w: int, h: int) -> np.ndarray | None:
    pc = pyclipper.Pyclipper()
    scale = 16.0  # pyclipper works on integers; keep sub-pixel precision
    pc.AddPath([(0, 0), (w * scale, 0), (w * scale, h * scale), (0, h * scale)], pyclipper.PT_CLIP, True)
    pc.AddPath((poly * scale).astype(np.int64).tolist(), pyclipper.PT_SUBJECT, True)
    res = pc.Execute(pyclipper.CT_INTERSECTION, pyclipper.PFT_NONZERO, pyclipper.PFT_NONZERO)
    if not res:
        return None
    return (np.array(max(res, key=lambda r: abs(pyclipper.Area(r))), np.float32) / scale)


def crop_and_clip(img: np.ndarray, polys: Polys, ignore: Sequence[bool], x0: int, y0: int, size: int,
                  fill=(255, 255, 255)) -> Tuple[np.ndarray, Polys, List[bool]]:
    """Cut a size x size window at (x0, y0) (padding outside the image) and clip the polygons.

    A polygon whose clipped short side lost more than 20 % (cut along the line) becomes ignore:
    its remains are neither text nor background. Cut across its length it stays text.
    """
    h, w = img.shape[:2]
    out = np.empty((size, size, 3), np.uint8)
    out[:] = fill
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + size, w), min(y0 + size, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = img[sy0:sy1, sx0:sx1]
    new_polys, new_ign = [], []
    for p, ign in zip(polys, ignore):
        q = p - np.array([x0, y0], np.float32)
        if q[:, 0].max() <= 0 or q[:, 1].max() <= 0 or q[:, 0].min() >= size or q[:, 1].min() >= size:
            continue
        inside = q[:, 0].min() >= 0 and q[:, 1].min() >= 0 and q[:, 0].max() <= size and q[:, 1].max() <= size
        if not inside:
            c = _clip(q, size, size)
            if c is None or len(c) < 3:
                continue
            short_before = min(cv2.minAreaRect(q)[1])
            short_after = min(cv2.minAreaRect(c)[1])
            ign = ign or short_after < 0.8 * short_before
            q = c
        new_polys.append(q)
        new_ign.append(bool(ign))
    return out, new_polys, new_ign


def _colour(img: np.ndarray, rng: np.random.Generator, cfg: AugmentConfig) -> np.ndarray:
    out = img.astype(np.float32)
    if rng.random() < cfg.colour_p:
        alpha = rng.uniform(0.6, 1.3)  # contrast
        beta = rng.uniform(-40, 40)  # brightness
        out = out * alpha + beta + rng.uniform(-15, 15, size=3)  # per-channel tint
    if rng.random() < 0.1:
        out = 255 - out  # light text on dark ground
    if rng.random() < cfg.noise_p:
        out += rng.normal(0, rng.uniform(3, 12), out.shape)
    out = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < cfg.blur_p:
        k = int(rng.choice([3, 5]))
        out = cv2.GaussianBlur(out, (k, k), 0)
    if rng.random() < 0.1:
        g = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
        out = cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)
    return out


def augment(img: np.ndarray, polys: Polys, ignore: Sequence[bool], rng: np.random.Generator,
            cfg: AugmentConfig = AugmentConfig()) -> Tuple[np.ndarray, Polys, List[bool]]:
    polys = [np.asarray(p, np.float32).reshape(-1, 2) for p in polys]
    ignore = list(ignore)
    border = tuple(int(v) for v in img[0, 0])  # page-ish colour for rotated corners
    if rng.random() < cfg.quarter_p:
        img, polys = quarter(img, polys, int(rng.integers(1, 4)))
    if rng.random() < cfg.rotate_p:
        img, polys = rotate(img, polys, float(rng.uniform(-cfg.rotate_deg, cfg.rotate_deg)), border)
    s = float(np.exp(rng.uniform(np.log(cfg.scale_min), np.log(cfg.scale_max))))
    sx = s * float(rng.uniform(0.9, 1.1))  # mild aspect change
    img = cv2.resize(img, None, fx=sx, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    polys = [p * np.array([sx, s], np.float32) for p in polys]
    h, w = img.shape[:2]
    size = cfg.crop
    usable = [i for i, ig in enumerate(ignore) if not ig]
    if usable and rng.random() < cfg.text_crop_p:
        cx, cy = polys[usable[int(rng.integers(len(usable)))]].mean(0)
        x0 = int(cx - rng.uniform(0.1, 0.9) * size)
        y0 = int(cy - rng.uniform(0.1, 0.9) * size)
    else:
        x0 = int(rng.integers(min(0, w - size), max(0, w - size) + 1))
        y0 = int(rng.integers(min(0, h - size), max(0, h - size) + 1))
    # Keep the window mostly on the image: pad only where the image is smaller than the crop.
    x0 = int(np.clip(x0, min(0, w - size), max(0, w - size)))
    y0 = int(np.clip(y0, min(0, h - size), max(0, h - size)))
    fill = tuple(int(v) for v in rng.integers(0, 256, 3)) if rng.random() < 0.5 else border
    img, polys, ignore = crop_and_clip(img, polys, ignore, x0, y0, size, fill)
    return _colour(img, rng, cfg), polys, ignore
