"""Test-time views of a line crop, for view fusion on the lines a recognizer is unsure of.

One model read several ways makes different mistakes: a crop with a little more margin above and
below, or stretched sideways, moves the characters across the CNN's pooling grid and the
BiLSTM's frames, and a look-alike misread in one view is often read right in another. An aligned
vote over the views' texts (``postprocess.fusion.vote_texts``) keeps what most views agree on.

The views are chosen to stay inside what the recognizer was trained on (lines with 2-35 % margins,
characters of varying widths); none rotates or blurs. ``VIEW_ORDER`` is the order ``views=N``
takes them in: the first two are the best pair measured (BENCHMARKS.md, view fusion).
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import cv2
import numpy as np

from ..errors import ConfigError


def pad_vertical(crop: np.ndarray, share: float) -> np.ndarray:
    """``share`` of the crop's height added above and below, replicating the border rows."""
    m = max(1, int(round(crop.shape[0] * share)))
    return cv2.copyMakeBorder(crop, m, m, 0, 0, cv2.BORDER_REPLICATE)


def stretch(crop: np.ndarray, factor: float) -> np.ndarray:
    """The crop ``factor`` times as wide (same height)."""
    width = max(4, int(round(crop.shape[1] * factor)))
    return cv2.resize(crop, (width, crop.shape[0]), interpolation=cv2.INTER_LINEAR)


VIEWS: Dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "pad5": lambda crop: pad_vertical(crop, 0.05),
    "wide115": lambda crop: stretch(crop, 1.15),
    "pad10": lambda crop: pad_vertical(crop, 0.10),
    "narrow087": lambda crop: stretch(crop, 0.87),
}
VIEW_ORDER: Tuple[str, ...] = ("pad5", "wide115", "pad10", "narrow087")


def view_names(count: int) -> Tuple[str, ...]:
    """The first ``count`` views of ``VIEW_ORDER`` (0 = view fusion off)."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 0 <= count <= len(VIEW_ORDER):
        raise ConfigError(f"views must be an integer from 0 to {len(VIEW_ORDER)}, got {count!r}")
    return VIEW_ORDER[: int(count)]


def check_view_threshold(value: float, name: str = "view_threshold") -> float:
    """A confidence below which a line counts as unsure, checked to lie in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(f"{name} must be within [0, 1], got {value!r}")
    return float(value)
