"""The reading pipeline: input -> pages -> preprocess -> detect -> crop -> recognize -> layout -> Document.

    from ocrforge import OCR
    ocr = OCR()                     # shipped ONNX models, loaded on first use, never downloaded
    doc = ocr.read("scan.pdf")      # Document; boxes in the input page's own pixel coordinates
    ocr.recognize([crop1, crop2])   # one text line per image -> [(text, confidence), ...]

Nothing here imports PyTorch: detection and recognition run on ONNX Runtime
(tests/test_packaging.py checks it). Detector and recognizer can be injected (any object with
``.detect(image)`` / ``.recognize(crops, decoder=...)``), which is how the tests drive the
pipeline's own logic without models.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .document import Block, Document, Line, Page, words_from_line
from .errors import ConfigError, ModelError, OcrforgeError
from .io import DEFAULT_DPI, DEFAULT_MAX_PIXELS, PageImage, iter_pages, load_image, source_name
from .detection.orientation import DetectedLines, PageOrientation, page_orientation
from .layout import LayoutConfig, analyze_layout

Quad = np.ndarray  # (4, 2) float32: top-left, top-right, bottom-right, bottom-left


# What OCR() decodes with unless told otherwise: greedy, and beam search with the character LM on
# the lines where it pays (Chinese text, or greedy confidence < 0.8). BENCHMARKS.md (decoding): Chinese
# line CER -42 % on real news/review clauses and -68 % on bill lines, SROIE -8 %, for ~10-15 ms a receipt.
DEFAULT_DECODER = "auto"


@dataclass(frozen=True)
class PipelineConfig:
    """Settings of one ``OCR`` instance (what ``OCR(...)`` keyword arguments fill in)."""

    det_model: Optional[str] = None  # path to a detection .onnx; None = the shipped model
    rec_model: Optional[str] = None  # path to a recognition .onnx; None = the shipped model
    threads: int = 2  # ONNX Runtime intra-op threads
    preprocess: str = "auto"  # "auto", "none" or a comma list of preprocess steps
    max_pixels: Optional[int] = DEFAULT_MAX_PIXELS
    dpi: float = DEFAULT_DPI  # PDF render resolution
    det_max_side: int = 1280  # the detector resizes the long side to at most this (BENCHMARKS.md: 1280 vs 1600)
    # Lines per recognizer call: the recognizer sorts them by width and the beam searches them together,
    # so a receipt (~55 lines) in one call is 4-8 ms faster than in two (BENCHMARKS.md), for ~30 MB more
    # peak memory on a 230-line page (posteriors are 28 KB a frame).
    batch_size: int = 64
    vertical_ratio: float = 1.5  # a crop this much taller than wide may be a vertical line...
    vertical_min_height: float = 2.0  # ...if also this many typical line heights tall
    # Extra margin around each line crop, as a share of its height. DB boxes hug the ink while the
    # recognizer trained on lines with 2-35 % margins: 0.15 took SROIE page token F1 (ci) from 58 % to
    # 68 % and the sample receipt's CER from 10.5 % to 2.5 % (0.1-0.2 all within a point).
    crop_pad: float = 0.15
    drop_empty: bool = True  # drop detections the recognizer reads as nothing
    # Upside-down pages: preprocess flips a page only on a very confident classical vote (weak on
    # capitals-only receipts), so the widest detected lines go to the 0/180 line classifier as
    # cropped and turned; the page is turned and read again when the turned crops look more upright.
    flip_check: bool = True
    # Confidence calibration (postprocess.calibration): "auto" applies the recognizer's .calib.json
    # when it has one, "none" reports raw decoder scores, or a path to a calibration file.
    calibration: Optional[str] = "auto"
    # View fusion (recognition.views): lines read with confidence < 0.8 are read again in this many
    # other views (0-4) and the texts voted on. Off by default: 2 views cut SROIE line CER by ~16 %
    # and Chinese line CER by ~20 %, at ~1.5-2.5x the recognition time (BENCHMARKS.md, view fusion).
    views: int = 0
    view_threshold: float = 0.8  # lines below this confidence are the unsure ones
    # Model fusion (postprocess.fusion): recognizers of the same charset that also read the lines with
    # confidence < fusion_threshold; their posteriors are averaged with the primary's and decoded.
    # A tuple of .onnx paths (a comma-separated string is split); empty = off.
    fusion_models: Tuple[str, ...] = ()
    fusion_threshold: float = 0.8
    # Light text on a dark ground is inverted before reading (recognition.preprocess.normalize_polarity):
    # the recognizer reads it better dark-on-light; a page in dark mode reads like its light twin.
    polarity: bool = True
    layout: LayoutConfig = field(default_factory=LayoutConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.threads, int) or self.threads < 1:
            raise ConfigError(f"threads must be a positive integer, got {self.threads!r}")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {self.batch_size}")
        if self.max_pixels is not None and self.max_pixels < 1:
            raise ConfigError(f"max_pixels must be positive, got {self.max_pixels}")
        from .recognition.views import check_view_threshold, view_names

        view_names(self.views)  # ConfigError unless 0-4
        check_view_threshold(self.view_threshold)  # ConfigError unless within [0, 1]
        check_view_threshold(self.fusion_threshold, "fusion_threshold")
        models = self.fusion_models
        if isinstance(models, str):  # one path or a comma list, as ocrbench's -o passes it
            models = [p.strip() for p in models.split(",") if p.strip()]
        object.__setattr__(self, "fusion_models", tuple(str(p) for p in models))  # frozen: set once, here
        if not isinstance(self.preprocess, str) or not self.preprocess.strip():
            raise ConfigError(f"preprocess must be 'auto', 'none' or a comma list of steps, got {self.preprocess!r}")


# ------------------------------------------------------------------------------------ geometry


def order_quad(points: np.ndarray) -> Quad:
    """Minimum-area rectangle of a polygon as (tl, tr, br, bl), for lines tilted under 45°."""
    pts = np.asarray(points, np.float32).reshape(-1, 2)
    box = cv2.boxPoints(cv2.minAreaRect(pts))
    by_x = box[np.argsort(box[:, 0], kind="stable")]
    left, right = by_x[:2], by_x[2:]
    tl, bl = left[np.argsort(left[:, 1], kind="stable")]
    tr, br = right[np.argsort(right[:, 1], kind="stable")]
    return np.array([tl, tr, br, bl], np.float32)


def crop_quad(image: np.ndarray, quad: Quad, pad: float = 0.0) -> np.ndarray:
    """Warp the quadrilateral to an upright rectangle (perspective, so slanted lines come out flat)."""
    tl, tr, br, bl = quad.astype(np.float32)
    w = int(round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl))))
    h = int(round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr))))
    w, h = max(w, 1), max(h, 1)
    m = int(round(pad * min(w, h)))
    # Corners map to pixel edges, so the last column samples inside the quad, not past it.
    dst = np.array([[m, m], [m + w, m], [m + w, m + h], [m, m + h]], np.float32)
    mat = cv2.getPerspectiveTransform(quad.astype(np.float32), dst)
    return cv2.warpPerspective(image, mat, (w + 2 * m, h + 2 * m), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)


def map_points(points: np.ndarray, transform: Optional[np.ndarray]) -> np.ndarray:
    """Apply a 3x3 homography (preprocessed px -> input px) to (N, 2) points."""
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    if transform is None:
        return pts
    t = np.asarray(transform, np.float64)
    homo = np.hstack([pts, np.ones((len(pts), 1))]) @ t.T
    return homo[:, :2] / homo[:, 2:3]


# Counter-clockwise quarter turns of a page (np.rot90 with k = degrees / 90): each maps a point
# (x', y') of the turned w x h page back to the page before the turn.
_TURNS_TO_BEFORE = {
    90: lambda w, h: [[0.0, -1.0, w], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],  # (w - y', x')
    180: lambda w, h: [[-1.0, 0.0, w], [0.0, -1.0, h], [0.0, 0.0, 1.0]],  # (w - x', h - y')
    270: lambda w, h: [[0.0, 1.0, 0.0], [-1.0, 0.0, h], [0.0, 0.0, 1.0]],  # (y', h - x')
}


def _turned_transform(shape: Tuple[int, ...], transform: Optional[np.ndarray], rotation: int, degrees: int):
    """After turning a page of `shape` by `degrees` counter-clockwise: the transform from the
    turned page to the input, and the total turn."""
    h, w = shape[:2]
    back = np.array(_TURNS_TO_BEFORE[degrees](w, h))
    transform = back if transform is None else np.asarray(transform, np.float64) @ back
    return transform, (rotation + degrees) % 360


# ------------------------------------------------------------------------------------ preprocess


@dataclass
class _Identity:
    image: np.ndarray
    transform: np.ndarray = field(default_factory=lambda: np.eye(3))
    rotation: int = 0
    steps: Tuple[str, ...] = ()


def _preprocess(image: np.ndarray, mode: str, det_max_side: Optional[int] = None):
    """Run ``ocrforge.preprocess.preprocess_page``; "none" (or a build without it) is identity.
    ``det_max_side``: the detector's input side, past which auto mode never enlarges a page."""
    kind = mode.strip().lower()
    if kind == "none":
        return _Identity(image)
    try:
        module = importlib.import_module("ocrforge.preprocess")
        fn, auto_config = module.preprocess_page, module.AutoConfig
    except (ImportError, AttributeError):
        if kind == "auto":
            return _Identity(image)
        raise ConfigError(f"preprocess steps {mode!r} requested but ocrforge.preprocess has no preprocess_page")
    if kind == "auto" and det_max_side is not None:
        return fn(image, mode=mode, config=auto_config(max_upscaled_side=det_max_side))
    return fn(image, mode=mode)


def _check_preprocess_mode(mode: str) -> None:
    """Fail at construction, not on the first page, for a misspelled step."""
    if mode.strip().lower() in ("auto", "none"):
        return
    try:
        parse_mode = importlib.import_module("ocrforge.preprocess").parse_mode
    except (ImportError, AttributeError):
        return  # _preprocess reports it when a page arrives
    parse_mode(mode)


# ------------------------------------------------------------------------------------ the pipeline


class OCR:
    """Read documents, receipts and bills (printed Chinese + English) into a ``Document``.

    Every keyword of ``PipelineConfig`` is accepted; ``detector`` / ``recognizer`` / ``decoder``
    replace the shipped components (any objects with the same methods).
    """

    def __init__(
        self,
        det_model: Optional[str] = None,
        rec_model: Optional[str] = None,
        threads: int = 2,
        preprocess: str = "auto",
        decoder: Any = None,
        detector: Any = None,
        recognizer: Any = None,
        preprocessor: Any = None,
        max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
        dpi: float = DEFAULT_DPI,
        **options: Any,
    ) -> None:
        try:
            self.config = PipelineConfig(det_model=det_model, rec_model=rec_model, threads=threads,
                                         preprocess=preprocess, max_pixels=max_pixels, dpi=dpi, **options)
        except TypeError as exc:
            raise ConfigError(f"unknown OCR option: {exc}") from exc
        _check_preprocess_mode(self.config.preprocess)
        # A decoder object, or a name ("greedy", "beam", "beam_lm", "auto") / DecoderOptions built
        # against the recognizer's charset when the recognizer is first needed; None is DEFAULT_DECODER.
        self._decoder_spec = decoder
        self._decoder = decoder if hasattr(decoder, "decode") else None
        # A callable image -> PreprocessResult replacing ``preprocess_page`` (tests, custom steps).
        self.preprocessor = preprocessor
        self._detector = detector
        self._recognizer = recognizer
        self._line_orientation = None

    # Components are built on first use so that `OCR()` is cheap and `recognize` alone never
    # loads the detector.
    @property
    def detector(self):
        if self._detector is None:
            try:
                from .detection.predictor import TextDetector
            except ImportError as exc:
                raise ModelError(f"text detector unavailable: {exc}") from exc
            self._detector = TextDetector(self.config.det_model, threads=self.config.threads,
                                          max_side=self.config.det_max_side)
        return self._detector

    @property
    def recognizer(self):
        if self._recognizer is None:
            try:
                from .recognition.predictor import TextRecognizer
            except ImportError as exc:
                raise ModelError(f"text recognizer unavailable: {exc}") from exc
            self._recognizer = TextRecognizer(self.config.rec_model, threads=self.config.threads,
                                              calibration=self.config.calibration, views=self.config.views,
                                              view_threshold=self.config.view_threshold,
                                              polarity=self.config.polarity,
                                              fusion_models=self.config.fusion_models,
                                              fusion_threshold=self.config.fusion_threshold)
        return self._recognizer

    @property
    def decoder(self):
        if self._decoder is None:
            from .postprocess.beam import DecoderOptions, make_decoder

            spec = self._decoder_spec
            if spec is None:
                # A recognizer without a charset (a fake, a wrapper of the user's own) keeps its own default.
                if getattr(self.recognizer, "charset", None) is None:
                    return None
                spec = DEFAULT_DECODER
            opts = DecoderOptions(kind=spec) if isinstance(spec, str) else spec
            if not isinstance(opts, DecoderOptions):
                raise ConfigError(f"decoder must be a name, DecoderOptions or an object with .decode(), got {spec!r}")
            self._decoder = make_decoder(self.recognizer.charset, opts)
        return self._decoder

    # ---------------------------------------------------------------- public API

    def read(self, input: Any, pages: Any = None, dpi: Optional[float] = None) -> Document:
        """Read every selected page of ``input`` (path, bytes, array, PIL image; image or PDF)."""
        return Document(pages=[page for _, page in self.read_pages(input, pages=pages, dpi=dpi)],
                        source=source_name(input), metadata=self.metadata())

    def read_pages(self, input: Any, pages: Any = None, dpi: Optional[float] = None
                   ) -> Iterator[Tuple[PageImage, Page]]:
        """Pages one at a time, each with the image it was read from (for the PDF writer)."""
        for k, page_image in enumerate(iter_pages(input, pages=pages, dpi=dpi or self.config.dpi,
                                                  max_pixels=self.config.max_pixels)):
            yield page_image, self.read_page(page_image, index=k)

    def read_many(self, inputs: Iterable[Any], pages: Any = None, dpi: Optional[float] = None
                  ) -> Iterator[Tuple[Any, Any]]:
        """``(input, Document)`` or ``(input, exception)`` for each input; one failure stops nothing."""
        for item in inputs:
            try:
                yield item, self.read(item, pages=pages, dpi=dpi)
            except OcrforgeError as exc:
                yield item, exc
            except Exception as exc:  # noqa: BLE001 - a batch must account for every input
                yield item, OcrforgeError(f"{source_name(item)}: internal error: {type(exc).__name__}: {exc}")

    def recognize(self, crops: Sequence[Any]) -> List[Tuple[str, float]]:
        """Single-line images (numpy BGR/gray, paths, bytes, PIL) -> [(text, confidence), ...]."""
        images = [c if isinstance(c, np.ndarray) and c.dtype == np.uint8 and c.ndim in (2, 3) and c.size
                  and (c.ndim == 2 or c.shape[2] == 3)
                  else load_image(c, max_pixels=self.config.max_pixels) for c in crops]
        if not images:
            return []
        return [(r.text, float(r.confidence)) for r in self._recognize(images)]

    # ---------------------------------------------------------------- stages

    def read_page(self, page_image: PageImage, index: Optional[int] = None) -> Page:
        """One loaded page -> Page (blocks, lines, words in the page image's pixel coordinates)."""
        img = page_image.image
        pre = (self.preprocessor(img) if self.preprocessor is not None
               else _preprocess(img, self.config.preprocess, self.config.det_max_side))
        work = pre.image
        if work.ndim == 2:
            work = cv2.cvtColor(work, cv2.COLOR_GRAY2BGR)
        transform = pre.transform
        rotation = int(getattr(pre, "rotation", 0))
        lines = self._detect_and_crop(work)
        if self.config.flip_check:
            orientation = self.orient_page(work, lines)
            if orientation.turn:
                transform, rotation = _turned_transform(work.shape, transform, rotation, orientation.turn)
                work, lines = orientation.image, orientation.lines
        quads, crops, vertical = lines
        results = self._recognize(crops) if crops else []

        lines: List[Line] = []
        work_quads: List[np.ndarray] = []
        for quad, is_vertical, res in zip(quads, vertical, results):
            text = res.text
            if self.config.drop_empty and not text.strip():
                continue
            lines.append(self._line(text, res, quad, is_vertical, transform))
            work_quads.append(quad)
        # Reading order is decided on the upright, deskewed page, where rows are horizontal.
        blocks = [Block(lines=[lines[i] for i in blk.lines])
                  for blk in analyze_layout(work_quads, self.config.layout)]
        return Page(
            index=page_image.index if index is None else index,
            width=page_image.width,
            height=page_image.height,
            blocks=blocks,
            dpi=page_image.dpi,
            # preprocess reports counter-clockwise quarter turns; Page.rotation is clockwise.
            rotation=(-rotation) % 360,
            source=page_image.source if page_image.page_count == 1
            else f"{page_image.source}#page={page_image.index + 1}",
        )

    def _detect_and_crop(self, work: np.ndarray) -> DetectedLines:
        detections = list(self.detector.detect(work))
        quads = [order_quad(np.asarray(d.polygon, np.float32)) for d in detections]
        crops, vertical = self._crops(work, quads)
        return DetectedLines(quads, crops, vertical)

    @property
    def line_orientation(self):
        if self._line_orientation is None:
            from .detection.orientation import LineOrientationClassifier

            self._line_orientation = LineOrientationClassifier(threads=self.config.threads)
        return self._line_orientation

    def orient_page(self, image: np.ndarray, lines: Optional[DetectedLines] = None) -> PageOrientation:
        """The page turned upright (sideways or upside down), with its lines detected again."""
        return page_orientation(image, self._detect_and_crop,
                                lambda crops: self.line_orientation.upside_down_probs(crops),
                                self._mean_confidence, lines=lines)

    def _mean_confidence(self, crops: List[np.ndarray]) -> float:
        # the raw decoder score: the orientation thresholds were tuned on it, not on calibrated values,
        # and on plain readings (a recognizer with view fusion is asked for those)
        plain = {"views": 0} if getattr(self.recognizer, "views", None) else {}
        if getattr(self.recognizer, "fusion", None):
            plain["fusion"] = False
        return float(np.mean([r.confidence if getattr(r, "raw_confidence", None) is None else r.raw_confidence
                              for r in self.recognizer.recognize(crops, **plain)]))

    def _crops(self, image: np.ndarray, quads: List[Quad]) -> Tuple[List[np.ndarray], List[bool]]:
        if not quads:
            return [], []
        sizes = [(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[3] - q[0])) for q in quads]
        # Typical text height on this page: the short side of most boxes.
        typical = float(np.median([min(w, h) for w, h in sizes]))
        crops, vertical = [], []
        for quad, (w, h) in zip(quads, sizes):
            crop = crop_quad(image, quad, self.config.crop_pad)
            # A tall box is a vertical Chinese line only if it is also several characters long;
            # a lone "1" or "|" is tall too.
            is_vertical = h >= self.config.vertical_ratio * w and h >= self.config.vertical_min_height * typical
            if is_vertical:
                crop = np.ascontiguousarray(np.rot90(crop))  # top of the column becomes the left end
            crops.append(crop)
            vertical.append(bool(is_vertical))
        return crops, vertical

    def _recognize(self, crops: List[np.ndarray]) -> list:
        out = []
        size = self.config.batch_size
        for start in range(0, len(crops), size):
            batch = crops[start:start + size]
            results = self.recognizer.recognize(batch, decoder=self.decoder)
            if len(results) != len(batch):
                raise ModelError(f"recognizer returned {len(results)} results for {len(batch)} lines")
            out.extend(results)
        return out

    @staticmethod
    def _line(text: str, res: Any, quad: Quad, is_vertical: bool, transform) -> Line:
        page_quad = map_points(quad, transform)
        # Words are laid out along the reading direction: for a vertical line (crop turned by
        # 90° counter-clockwise) that runs from the top-right corner down the right edge.
        reading_quad = page_quad[[1, 2, 3, 0]] if is_vertical else page_quad
        num_frames = int(getattr(res, "num_frames", 0) or 0)
        frames = list(getattr(res, "char_frames", []) or [])
        confidence = min(max(float(res.confidence), 0.0), 1.0)
        words = []
        if num_frames > 0 and len(frames) == len(text):
            scores = getattr(res, "char_scores", None)
            scores = list(scores) if scores is not None and len(scores) == len(text) else None
            positions = [(f + 0.5) / num_frames for f in frames]
            words = words_from_line(text, [tuple(p) for p in reading_quad], positions, confidence, scores,
                                    getattr(res, "word_confidences", None))
        return Line(words=words, text=text, confidence=confidence,
                    polygon=[(float(x), float(y)) for x, y in page_quad])

    def metadata(self) -> dict:
        """What produced a document (stored in Document.metadata)."""
        from . import __version__

        meta = {"engine": f"ocrforge {__version__}", "preprocess": self.config.preprocess}
        if self.config.views:
            meta["views"] = self.config.views
        if self.config.fusion_models:
            meta["fusion_models"] = [Path(p).name for p in self.config.fusion_models]
        return meta


__all__ = ["OCR", "PipelineConfig", "crop_quad", "map_points", "order_quad"]
