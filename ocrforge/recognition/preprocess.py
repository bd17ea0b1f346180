"""Line-image preparation shared by training and inference (numpy + OpenCV only).

The recognizer sees a grayscale line resized to height 32 (aspect kept), normalised to [-1, 1],
right-padded by replicating its last column so padding looks like background, not like ink.
At inference a line of light text on a dark ground is first turned dark-on-light
(``normalize_polarity``), the polarity most of the training lines have.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import cv2
import numpy as np

INPUT_HEIGHT = 32
MIN_WIDTH = 16
MAX_WIDTH = 2048
WIDTH_MULTIPLE = 8  # pad widths to a multiple of the largest width stride a model uses (4 or 8)


def to_gray(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        return img
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def resize_line(img: np.ndarray, height: int = INPUT_HEIGHT, max_width: int = MAX_WIDTH) -> np.ndarray:
    """Gray line at `height`, width by aspect ratio, clamped to [MIN_WIDTH, max_width]."""
    gray = to_gray(img)
    h, w = gray.shape[:2]
    if h == 0 or w == 0:
        raise ValueError("empty line image")
    new_w = int(round(w * height / h))
    new_w = min(max(new_w, MIN_WIDTH), max_width)
    interp = cv2.INTER_AREA if h > height else cv2.INTER_LINEAR
    return cv2.resize(gray, (new_w, height), interpolation=interp)


def normalize_polarity(line: np.ndarray) -> np.ndarray:
    """A gray line of light text on a dark ground inverted to dark-on-light; any other line as it is.

    Three signs must agree. Otsu's threshold splits the pixels into a dark and a light class, and the
    ground is the class that holds most of the line and most of its border (ink covers less of a crop
    than its ground, and less still of its edges: a dense line of bold Chinese can be half ink, but its
    border is still mostly light). And the sharp detail, what is left after subtracting a blur wider
    than a stroke, must be light: on a faint line over a shaded ground Otsu splits the shading, not the
    ink, while the strokes still stand out dark. The recognizer reads light-on-dark lines (headers of
    invoices, stamps, screenshots in dark mode) worse than the same lines dark-on-light, the polarity
    most of its training lines have (BENCHMARKS.md, fourteenth session).
    """
    _, binary = cv2.threshold(line, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    border = np.concatenate([binary[0], binary[-1], binary[1:-1, 0], binary[1:-1, -1]])
    if 2 * cv2.countNonZero(binary) >= binary.size or 2 * np.count_nonzero(border) >= border.size:
        return line
    detail = line.astype(np.float32) - cv2.GaussianBlur(line, (0, 0), 8).astype(np.float32)
    darkest, lightest = np.percentile(detail, (2, 98))
    return cv2.bitwise_not(line) if lightest > -darkest else line


def pad_batch(lines: Sequence[np.ndarray], multiple: int = WIDTH_MULTIPLE) -> Tuple[np.ndarray, List[int]]:
    """Stack resized gray lines into (N, 1, H, Wmax) float32 in [-1, 1]; returns widths too."""
    widths = [ln.shape[1] for ln in lines]
    wmax = max(widths)
    wmax = int(np.ceil(wmax / multiple) * multiple)
    h = lines[0].shape[0]
    out = np.empty((len(lines), 1, h, wmax), np.float32)
    for i, ln in enumerate(lines):
        if ln.shape[1] < wmax:
            ln = cv2.copyMakeBorder(ln, 0, 0, 0, wmax - ln.shape[1], cv2.BORDER_REPLICATE)
        out[i, 0] = ln
    out *= 2.0 / 255.0
    out -= 1.0
    return out, widths


def frames_for_width(width: int, width_stride: int = 4) -> int:
    """Output frames that cover `width` input columns (the rest of a padded batch is padding)."""
    return int(np.ceil(width / width_stride))
