"""``preprocess_page``: run named steps, or measure the page and choose them (``mode="auto"``).

What auto mode does, in order, and why:

1. **denoise** when the measured noise needs it (impulses -> selective median; Gaussian sigma
   >= 2.5 -> bilateral). First, because every later measurement and warp is cleaner on a clean
   image, and noise is independent per pixel only before any resampling.
2. **perspective** when a page outline stands out from a background (a photographed page);
   the rest is then measured on the rectified page, not on the desk around it.
   **invert** then when the page is light text on a dark ground (dark mode, negatives): every
   later measurement assumes dark ink on light paper (``polarity.py``).
3. **orientation** (quarter turns) when the estimate is confident; a wrong turn ruins a page,
   so an unsure estimate leaves it as it is. With the classical estimate the two halves of the
   decision are gated separately: a page whose lines run vertically is turned to horizontal
   when the line direction is clear (that cue was right on every SROIE receipt), but a
   horizontal page is only flipped by 180 degrees on a very confident up/down vote, since that
   vote is the weak part on receipts printed in capitals.
4. **deskew** when the text lines are tilted by more than ``min_skew`` degrees.
5. **contrast** (flatten lighting + stretch) for faint or unevenly lit pages.
6. **binarize** (Sauvola) only when text contrast is very poor (``binarize_below``). Not by
   default: the detector and recognizer work on grey/colour images and use the anti-aliased
   edges that binarization destroys; for them a contrast-normalised grey image is better.
7. **upscale** when the text, as the detector will see it, is under ``min_text_height`` px tall (a
   thumbnail, a photo from afar): the detector never enlarges a page and misses such small text
   (``scale.py``).

A clean, flat, upright scan passes through untouched with the identity transform. Measurements
are taken on downscaled copies (and noise on a full-resolution crop) so they cost a few tens of
milliseconds on a 1000x1500 page.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from ..errors import ConfigError
from ._common import InkAnalysis, StepOutput, analyse_ink, check_image, downscale
from .binarize import binarize
from .contrast import estimate_background, normalize_contrast
from .denoise import choose_denoiser, denoise, estimate_noise
from .deskew import deskew, ink_points, search_angle
from .orientation import OrientationEstimator, estimate_orientation, line_direction, orient
from .perspective import correct_perspective, find_page_quad
from .polarity import invert, measure_polarity
from .scale import upscale, upscale_factor

StepFunction = Callable[..., StepOutput]

# Every step, by the name used in ``mode="deskew,binarize"``; each is also a plain function.
STEPS: Dict[str, StepFunction] = {
    "denoise": denoise,
    "perspective": correct_perspective,
    "invert": invert,
    "orientation": orient,
    "deskew": deskew,
    "contrast": normalize_contrast,
    "binarize": binarize,
    "upscale": upscale,
}


@dataclass
class AutoConfig:
    """Thresholds of auto mode (YAML-loadable: plain fields only)."""

    denoise: bool = True
    perspective: bool = True
    polarity: bool = True  # invert a page of light text on a dark ground
    orientation: bool = True
    min_orientation_confidence: float = 0.85  # for a quarter turn (and any hook estimator's answer)
    min_flip_confidence: float = 0.97  # classical up/down confidence needed to turn an upright-looking page by 180
    deskew: bool = True
    min_skew: float = 0.3  # degrees; below this rotating costs more sharpness than it gains
    max_skew: float = 15.0
    min_skew_confidence: float = 1.5  # best / median profile score: below it there are no lines
    contrast: bool = True
    low_contrast: float = 110.0  # paper level - ink level (grey levels) under which to normalise
    max_shading: float = 40.0  # paper brightness spread across the page over which to flatten
    binarize: bool = True
    binarize_below: float = 35.0  # text contrast under which the page is also binarized
    upscale: bool = True
    # Median ink-blob height (px, as the detector will see the page) under which the page is enlarged,
    # and the height it is enlarged to: on SROIE's training receipts 10 % are under 6.4 px, the median 14.8
    min_text_height: float = 12.0
    target_text_height: float = 18.0
    max_upscaled_side: int = 1280  # the detector's input side (OCR passes its det_max_side): larger would be shrunk back


@dataclass
class PreprocessResult:
    """A preprocessed page and how to get back to the input.

    ``transform`` is a 3x3 float64 homography mapping OUTPUT pixel coordinates to INPUT pixel
    coordinates, so boxes detected on ``image`` map back onto the original page;
    ``rotation`` is the quarter-turn orientation applied, degrees counter-clockwise;
    ``steps`` lists (name, parameters actually used) in the order applied.
    """

    image: np.ndarray
    transform: np.ndarray = field(default_factory=lambda: np.eye(3))
    rotation: int = 0
    steps: List[Tuple[str, Dict[str, Any]]] = field(default_factory=list)
    measurements: Dict[str, Any] = field(default_factory=dict)

    def to_input(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 2) output pixel coordinates to input pixel coordinates."""
        return apply_homography(self.transform, points)

    def to_output(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 2) input pixel coordinates to output pixel coordinates."""
        return apply_homography(np.linalg.inv(self.transform), points)


def apply_homography(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    homog = np.hstack([pts, np.ones((len(pts), 1))]) @ np.asarray(matrix, dtype=np.float64).T
    return homog[:, :2] / homog[:, 2:3]


def parse_mode(mode: Union[str, Sequence[str]]) -> Union[str, List[str]]:
    """"auto" / "none" or the list of step names in ``mode`` (comma separated or a sequence)."""
    if isinstance(mode, str):
        text = mode.strip().lower()
        if text in ("auto", "none", ""):
            return text or "none"
        names = [n.strip() for n in text.split(",") if n.strip()]
    else:
        names = [str(n).strip().lower() for n in mode]
    unknown = [n for n in names if n not in STEPS]
    if unknown:
        raise ConfigError(f"unknown preprocessing step(s) {unknown}; known: auto, none, {', '.join(STEPS)}")
    return names


class _Run:
    """Accumulates steps, composing each step's output->input map onto the total."""

    def __init__(self, image: np.ndarray):
        self.image = image
        self.transform = np.eye(3)
        self.rotation = 0
        self.steps: List[Tuple[str, Dict[str, Any]]] = []

    def apply(self, name: str, **kwargs: Any) -> StepOutput:
        out = STEPS[name](self.image, **kwargs)
        self.image = out.image
        self.transform = self.transform @ out.matrix
        self.rotation = (self.rotation + out.rotation) % 360
        self.steps.append((name, out.params))
        return out

    def result(self, measurements: Dict[str, Any]) -> PreprocessResult:
        return PreprocessResult(self.image, self.transform, self.rotation, self.steps, measurements)


def _text_contrast(ink: InkAnalysis) -> Tuple[float, float]:
    """(paper level - ink level, paper brightness spread) on the analysis copy."""
    gray = ink.gray
    paper = float(np.median(gray[gray >= np.median(gray)]))
    ink_px = gray[ink.mask]
    ink_level = float(np.percentile(ink_px, 10)) if ink_px.size >= 50 else paper
    background = estimate_background(downscale(gray, 256)[0])
    lo, hi = np.percentile(background, (5, 95))
    return paper - ink_level, float(hi - lo)


def _skew_in_frame(ink: InkAnalysis, rotation: int, max_skew: float) -> Tuple[float, float]:
    """Skew of the lines after a quarter turn of ``rotation``: a turn by 90/270 makes the
    original's columns the new rows, and a half turn leaves line angles unchanged."""
    xs, ys = ink_points(ink)
    if len(xs) < 50:
        return 0.0, 0.0
    angle, best, median = search_angle(xs, ys, max_skew, vertical=rotation in (90, 270))
    return angle, (best / median if median > 0 else 0.0)


def _auto(
    image: np.ndarray,
    config: AutoConfig,
    overrides: Dict[str, Dict[str, Any]],
    orientation_estimator: Optional[OrientationEstimator],
) -> PreprocessResult:
    start = time.perf_counter()
    run = _Run(image)
    m: Dict[str, Any] = {"input_size": [int(image.shape[1]), int(image.shape[0])]}

    noise = estimate_noise(image)
    m.update(noise_sigma=round(noise.sigma, 2), impulse_fraction=round(noise.impulse_fraction, 5))
    method = choose_denoiser(noise)
    if config.denoise and method is not None:
        run.apply("denoise", **{"method": method, **overrides.get("denoise", {})})

    quad = find_page_quad(run.image) if config.perspective else None
    m["page_quad"] = None if quad is None else quad.corners.round(1).tolist()
    if quad is not None:
        m["page_area_fraction"] = round(quad.area_fraction, 3)
        run.apply("perspective", **{"corners": quad.corners, **overrides.get("perspective", {})})

    if config.polarity:
        light_on_dark, measured = measure_polarity(run.image)
        m.update(light_on_dark=light_on_dark, **measured)
        if light_on_dark:
            run.apply("invert")

    ink = analyse_ink(run.image)
    contrast, shading = _text_contrast(ink)
    m.update(text_contrast=round(contrast, 1), shading=round(shading, 1))
    _, glyph = line_direction(ink)
    m["glyph_px"] = round(glyph / ink.scale, 1)

    turn = 0
    cached_skew: Optional[Tuple[bool, float, float]] = None
    if config.orientation:
        if orientation_estimator is not None:
            angle, confidence = orientation_estimator(run.image)
            apply = int(angle) % 360 != 0 and confidence >= config.min_orientation_confidence
        else:
            est = estimate_orientation(run.image, ink)
            angle, confidence = est.angle, est.confidence
            # The classical estimate already searched the skew along its line direction.
            cached_skew = (est.angle in (90, 270), est.skew, est.skew_confidence)
            if est.angle in (90, 270):
                apply = est.direction_confidence >= config.min_orientation_confidence
            else:
                apply = est.angle == 180 and est.confidence >= config.min_flip_confidence
        m.update(orientation=int(angle) % 360, orientation_confidence=round(float(confidence), 3))
        if apply:
            turn = int(angle) % 360
            run.apply("orientation", **{"angle": turn, "min_confidence": 0.0, **overrides.get("orientation", {})})

    if config.deskew:
        if cached_skew is not None and cached_skew[0] == (turn in (90, 270)) and config.max_skew == 15.0:
            _, skew, skew_conf = cached_skew
        else:
            skew, skew_conf = _skew_in_frame(ink, turn, config.max_skew)
        m.update(skew=round(float(skew), 2), skew_confidence=round(float(skew_conf), 2))
        if abs(skew) > config.min_skew and skew_conf >= config.min_skew_confidence:
            run.apply("deskew", **{"angle": skew, **overrides.get("deskew", {})})

    if config.contrast and (contrast < config.low_contrast or shading > config.max_shading):
        params = {"method": "flatten", "glyph": glyph / ink.scale if glyph else None}
        run.apply("contrast", **{**params, **overrides.get("contrast", {})})
    if config.binarize and contrast < config.binarize_below:
        window = int(max(15, 2.5 * glyph / ink.scale)) if glyph else None
        run.apply("binarize", **{"method": "sauvola", "window": window, **overrides.get("binarize", {})})

    if config.upscale:
        # blob heights across the lines as the page now stands (a quarter turn swapped the axes)
        heights = ink.stats[ink.stats[:, cv2.CC_STAT_AREA] >= 4][:, cv2.CC_STAT_WIDTH if turn in (90, 270) else cv2.CC_STAT_HEIGHT]
        text_px = float(np.median(heights)) / ink.scale if len(heights) >= 5 else 0.0
        h, w = run.image.shape[:2]
        factor = upscale_factor(text_px, max(h, w), config.min_text_height, config.target_text_height,
                                config.max_upscaled_side)
        m["text_height_px"] = round(text_px, 1)
        if factor > 1.0:
            run.apply("upscale", **{"factor": factor, **overrides.get("upscale", {})})

    m["seconds"] = round(time.perf_counter() - start, 4)
    return run.result(m)


def preprocess_page(
    image_bgr: np.ndarray,
    mode: Union[str, Sequence[str]] = "auto",
    config: Optional[AutoConfig] = None,
    orientation_estimator: Optional[OrientationEstimator] = None,
    **params: Dict[str, Any],
) -> PreprocessResult:
    """Preprocess one page image (uint8 BGR, grey or BGRA).

    ``mode``: "auto" (measure and choose, see module doc), "none", or step names in the order to
    apply them, e.g. "deskew,binarize". Per-step keyword arguments go by step name, e.g.
    ``binarize={"method": "gaussian", "window": 41}``; in auto mode they override what auto
    would choose for that step when it runs. ``orientation_estimator(image) -> (angle,
    confidence)`` replaces the classical orientation estimate (e.g. with a trained model).
    """
    image = check_image(image_bgr)
    steps = parse_mode(mode)
    for name, value in params.items():
        if name not in STEPS:
            raise ConfigError(f"unknown preprocessing parameter group {name!r}; expected a step name: {', '.join(STEPS)}")
        if not isinstance(value, dict):
            raise ConfigError(f"parameters for step {name!r} must be a dict, got {type(value).__name__}")
    if steps == "none":
        return PreprocessResult(image)
    if steps == "auto":
        return _auto(image, config or AutoConfig(), params, orientation_estimator)
    run = _Run(image)
    start = time.perf_counter()
    for name in steps:
        kwargs = dict(params.get(name, {}))
        if name == "orientation" and orientation_estimator is not None:
            kwargs.setdefault("orientation_estimator", orientation_estimator)
        try:
            inspect.signature(STEPS[name]).bind(run.image, **kwargs)
        except TypeError as exc:  # a misspelt parameter name: a setting error, not a crash
            raise ConfigError(f"bad parameters for preprocessing step {name!r}: {exc}") from None
        run.apply(name, **kwargs)
    return run.result({"seconds": round(time.perf_counter() - start, 4)})


def config_from_dict(values: Dict[str, Any]) -> AutoConfig:
    known = set(asdict(AutoConfig()))
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"unknown auto preprocessing setting(s) {sorted(unknown)}")
    return AutoConfig(**values)
