"""Polarity: a page of light text on a dark ground turned dark-on-light.

Dark-mode screenshots, negatives and white-on-black signs are read like any other page once
inverted: every later measurement (the ink mask, the paper level that decides contrast
normalisation and binarization) and the detector's training pages assume dark ink on light
paper. Without this step auto mode took a dark-mode page for a faint one and binarized it.

Otsu's threshold splits the page (a small copy) into a dark and a light class. The ground is the
class that covers the page as one connected region; ink is many small pieces. A page is light
text on a dark ground when the dark class holds most of it and no light piece is larger than
``max_light_piece`` of it: a light receipt photographed on a dark table has a dark majority too,
but its light class is one big piece (the receipt), so it is left alone.
"""

from __future__ import annotations

from typing import Dict, Tuple

import cv2
import numpy as np

from ..errors import ConfigError
from ._common import StepOutput, check_image, downscale, to_gray

ANALYSIS_SIDE = 512
MAX_LIGHT_PIECE = 0.02  # share of the page: a glyph or a word at most, never a sheet of paper


def measure_polarity(image: np.ndarray, max_light_piece: float = MAX_LIGHT_PIECE) -> Tuple[bool, Dict[str, float]]:
    """(light text on a dark ground?, the measurements it was decided from)."""
    if not 0.0 < max_light_piece <= 1.0:
        raise ConfigError(f"max_light_piece must be within (0, 1], got {max_light_piece!r}")
    small, _ = downscale(to_gray(check_image(image)), ANALYSIS_SIDE)
    _, binary = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark_share = 1.0 - cv2.countNonZero(binary) / binary.size
    count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    largest = float(stats[1:, cv2.CC_STAT_AREA].max()) / binary.size if count > 1 else 0.0
    light_on_dark = dark_share > 0.5 and largest < max_light_piece
    return light_on_dark, {"dark_share": round(dark_share, 3), "largest_light_piece": round(largest, 4)}


def invert(image: np.ndarray) -> StepOutput:
    """The page with every channel inverted (255 - value); pixels stay where they are."""
    image = check_image(image)
    return StepOutput(cv2.bitwise_not(image), params={})
