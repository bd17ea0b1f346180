"""Text detector for inference: ONNX Runtime + OpenCV, no torch.

    det = TextDetector()             # the shipped model
    for d in det.detect(image_bgr):  # uint8 HxWx3 BGR
        d.polygon, d.score           # (4, 2) float32 image px, clockwise from top-left
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import cv2
import numpy as np

from ..errors import InputError, ModelError
from ..io.images import shrink
from .postprocess import Detection, PostprocessConfig, boxes_from_prob

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "det_db_mobilenetv3_small_int8.onnx"


def default_model_path() -> Path:
    return MODELS_DIR / DEFAULT_MODEL


def resize_for_model(image: np.ndarray, max_side: int, min_side: int = 32) -> Tuple[np.ndarray, float, float]:
    """Scale so the long side is <= max_side (never up), both sides rounded to multiples of 32.

    Shrinks with ``io.images.shrink`` (as page analysis does): at the same detection F1 as one
    INTER_AREA resize, ~5 ms less per receipt (BENCHMARKS.md). The browser does the same."""
    h, w = image.shape[:2]
    s = min(1.0, max_side / max(h, w))
    nh = max(min_side, int(round(h * s / 32)) * 32)
    nw = max(min_side, int(round(w * s / 32)) * 32)
    return shrink(image, (nw, nh), s), w / nw, h / nh


def _metadata_config(meta: dict, base: PostprocessConfig) -> PostprocessConfig:
    kw = {}
    for key in ("thresh", "box_thresh", "unclip_ratio"):
        if key in meta:
            try:
                kw[key] = float(meta[key])
            except ValueError:
                raise ModelError(f"detector metadata {key}={meta[key]!r} is not a number") from None
    return PostprocessConfig(**{**base.__dict__, **kw})


class TextDetector:
    def __init__(self, model_path: Optional[str | Path] = None, threads: int = 2, max_side: int = 1280,
                 postprocess: Optional[PostprocessConfig] = None, providers="auto"):
        from ..runtime.session import create_session

        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_file():
            raise ModelError(f"detection model not found: {path}")
        if max_side < 32:
            raise InputError(f"max_side must be at least 32, got {max_side}")
        # One shared session per model and process (runtime.session): a service building pipelines
        # per request must not load the weights again each time.
        self.session = create_session(path, threads=threads, providers=providers)
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("ocrforge_task", "detection") != "detection":
            raise ModelError(f"{path} is not a detection model (ocrforge_task={meta.get('ocrforge_task')})")
        self.model_path = path
        self.max_side = max_side
        # Explicit settings win over the model's defaults stored in its metadata.
        self.config = postprocess or _metadata_config(meta, PostprocessConfig())

    def prob_map(self, image_bgr: np.ndarray) -> Tuple[np.ndarray, float, float]:
        img = _as_bgr(image_bgr)
        resized, sx, sy = resize_for_model(img, self.max_side)
        x = ((resized.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
        prob = self.session.run(["prob"], {"images": x})[0][0, 0]
        return prob, sx, sy

    def detect(self, image_bgr: np.ndarray) -> List[Detection]:
        img = _as_bgr(image_bgr)
        prob, sx, sy = self.prob_map(img)
        return boxes_from_prob(prob, (sx, sy), (img.shape[1], img.shape[0]), self.config)


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise InputError("detector input must be a non-empty numpy image")
    if image.dtype != np.uint8:
        raise InputError(f"detector input must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise InputError(f"detector input must be HxW, HxWx3 or HxWx4, got shape {image.shape}")
