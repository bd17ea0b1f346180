"""Upscale a page whose text is too small for the detector.

The detector learnt text lines whose characters are ~9-23 px high at its input (SROIE receipts at
1,024 px, scaled 0.6-1.6); it never enlarges a page, so a small or low-resolution image (a thumbnail,
a receipt photographed from afar, a page rendered at 72 dpi) reaches it with 4-10 px characters and
most lines go unseen: on SROIE receipts shrunk to a third, line recall fell to 54 % (BENCHMARKS.md,
fourteenth session). Auto mode measures the text's height (the median ink blob) and enlarges such
pages (bicubic) toward a typical training page's; boxes map back through the step's matrix like any
other step's.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import ConfigError
from ._common import StepOutput, check_image

MAX_FACTOR = 4.0


def upscale(image: np.ndarray, factor: float = 2.0) -> StepOutput:
    """The page enlarged ``factor`` times (1 < factor <= 4), bicubic."""
    image = check_image(image)
    if not isinstance(factor, (int, float)) or not 1.0 < float(factor) <= MAX_FACTOR:
        raise ConfigError(f"upscale factor must be in (1, {MAX_FACTOR:g}], got {factor!r}")
    h, w = image.shape[:2]
    size = (int(round(w * factor)), int(round(h * factor)))
    out = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
    # output pixel centre -> input pixel centre as cv2.resize samples it: x_in = (x_out + 0.5) * sx - 0.5
    sx, sy = w / size[0], h / size[1]
    matrix = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    return StepOutput(out, matrix, {"factor": round(float(factor), 3)})


def upscale_factor(text_px: float, long_side: int, min_text: float, target_text: float, max_side: int) -> float:
    """How much to enlarge a page whose text is ``text_px`` high (1.0: leave it). The detector shrinks
    pages to a long side of ``max_side``, so the text it sees is ``text_px`` times that shrink; when that
    is under ``min_text`` the page grows toward ``target_text``, by at most 4x and to ``max_side``."""
    if text_px <= 0:
        return 1.0
    seen = text_px * min(1.0, max_side / float(long_side))
    if seen >= min_text:
        return 1.0
    factor = min(target_text / text_px, MAX_FACTOR, max_side / float(long_side))
    return factor if factor >= 1.25 else 1.0  # a few pixels more are not worth a resampling
