"""Light augmentation of real line crops (users' labelled data, SROIE receipts) during training.

Real lines are few (20,000 SROIE train lines) and a fine-tune shows each of them many times; without
variation the model learns those exact pixels. Every change here stays within what printing, scanning
and our own cropping do to a receipt line: faded or heavy thermal ink, blur, sensor noise, JPEG, a crop
margin a few pixels off, characters a little narrower or wider. Nothing that changes what the line says.
"""

from __future__ import annotations

import random
from typing import Callable

import cv2
import numpy as np

LineAugment = Callable[[np.ndarray, random.Random], np.ndarray]


def build_real_line_augment(probability: float) -> LineAugment:
    """A function (gray line crop, rng) -> augmented crop of the same height; each line is changed with
    `probability`, otherwise returned as it is. Deterministic given the rng's state."""
    import albumentations as A

    photometric = A.Compose([
        A.RandomBrightnessContrast(brightness_limit=0.25, contrast_limit=0.3, p=0.5),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(0.3, 1.0)), A.MotionBlur(blur_limit=(3, 3))], p=0.2),
        # Receipts print dark on light: erosion (min filter) thickens the ink, dilation thins it.
        A.Morphological(scale=(2, 2), operation="erosion", p=0.1),
        A.Morphological(scale=(2, 2), operation="dilation", p=0.1),
        A.GaussNoise(std_range=(0.01, 0.05), p=0.2),
        A.ImageCompression(quality_range=(40, 95), p=0.25),
    ])

    def augment(img: np.ndarray, rng: random.Random) -> np.ndarray:
        if probability <= 0 or rng.random() >= probability:
            return img
        height = img.shape[0]
        out = _jitter_margins(img, rng)
        if rng.random() < 0.5:
            width = max(4, int(round(out.shape[1] * rng.uniform(0.85, 1.15))))
            out = cv2.resize(out, (width, height), interpolation=cv2.INTER_LINEAR)
        photometric.set_random_seed(rng.getrandbits(31))
        out = photometric(image=out)["image"]
        if rng.random() < 0.1:
            out = _fade(out, rng)
        return np.ascontiguousarray(out, dtype=np.uint8)

    return augment


def _jitter_margins(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Trim up to 2 px or add up to 3 px (edge colour) at each end: detector boxes are never exactly
    where the ground-truth box was."""
    out = img
    for side in (0, 1):
        d = rng.randint(-2, 3)
        if d < 0 and out.shape[1] > 16:
            out = out[:, -d:] if side == 0 else out[:, : out.shape[1] + d]
        elif d > 0:
            left, right = (d, 0) if side == 0 else (0, d)
            out = cv2.copyMakeBorder(out, 0, 0, left, right, cv2.BORDER_REPLICATE)
    return out


def _fade(img: np.ndarray, rng: random.Random) -> np.ndarray:
    """Old thermal paper: ink pales toward the paper's colour."""
    paper = float(np.percentile(img, 90))
    keep = rng.uniform(0.45, 0.75)
    return np.clip(img.astype(np.float32) * keep + paper * (1 - keep), 0, 255).astype(np.uint8)
