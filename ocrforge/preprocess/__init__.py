"""Page preprocessing before detection: denoise, perspective, orientation, deskew, contrast, binarize.

Entry point: :func:`preprocess_page` (``mode="auto"`` measures the page and picks the steps; see
``pipeline.py`` for what it does and why). Every step is also a plain function returning a
:class:`StepOutput` (image, output->input matrix, parameters used), registered in :data:`STEPS`.
Everything here is OpenCV + numpy: no torch on the reading path.
"""

from ._common import StepOutput
from .binarize import BINARIZERS, binarize, gaussian_threshold, otsu_threshold, sauvola_threshold
from .contrast import normalize_contrast
from .denoise import DENOISERS, NoiseEstimate, denoise, estimate_noise
from .deskew import SkewEstimate, deskew, estimate_skew
from .orientation import OrientationEstimate, OrientationEstimator, classical_estimator, estimate_orientation, orient
from .perspective import PageQuad, correct_perspective, find_page_quad
from .pipeline import (
    STEPS,
    AutoConfig,
    PreprocessResult,
    apply_homography,
    config_from_dict,
    parse_mode,
    preprocess_page,
)

__all__ = [
    "AutoConfig",
    "BINARIZERS",
    "DENOISERS",
    "NoiseEstimate",
    "OrientationEstimate",
    "OrientationEstimator",
    "PageQuad",
    "PreprocessResult",
    "STEPS",
    "SkewEstimate",
    "StepOutput",
    "apply_homography",
    "binarize",
    "classical_estimator",
    "config_from_dict",
    "correct_perspective",
    "denoise",
    "deskew",
    "estimate_noise",
    "estimate_orientation",
    "estimate_skew",
    "find_page_quad",
    "gaussian_threshold",
    "normalize_contrast",
    "orient",
    "otsu_threshold",
    "parse_mode",
    "preprocess_page",
    "sauvola_threshold",
]
