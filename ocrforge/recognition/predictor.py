"""Text-line recognition with ONNX Runtime (no PyTorch): crops in, text + confidence out.

Confidences are calibrated when the model has a calibration file beside it
(``rec_x.onnx`` -> ``rec_x.calib.json``, see ``postprocess.calibration``): a line's confidence is then
the probability that the line is read exactly right, for the decoder that read it, and each word
gets its own. ``raw_confidence`` keeps the decoder's score (what thresholds inside the pipeline and
the decoders were tuned on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import InputError, ModelError
from ..postprocess.calibration import ReadingCalibration, resolve_calibration
from ..postprocess.ctc import GreedyDecoder, decode_lines
from ..postprocess.fusion import average_posteriors, vote_texts
from .charset import Charset, load_charset
from .preprocess import frames_for_width, normalize_polarity, pad_batch, resize_line
from .views import VIEWS, check_view_threshold, view_names

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"
# The shipped zh+en recognizer with its classification head in INT8 (export.onnx_rec.quantize_recognizer
# "head": same greedy text on 99 % of SROIE dev lines, ~1.4x the lines/s on CPU). Its FP32 original,
# FP32_MODEL, is what the mobile converters read and the INT8 parity is measured against.
DEFAULT_MODEL = MODELS_DIR / "rec_crnn_mobilenetv3_small_int8.onnx"
FP32_MODEL = MODELS_DIR / "rec_crnn_mobilenetv3_small.onnx"
# Most lines one recognize() call decodes at once (more are read in chunks of this many); above
# the pipeline's 64-line calls, so a page is still batched as a whole.
RECOGNIZE_CHUNK = 256
# View fusion reads a line again in other views when its (calibrated) confidence is below this:
# ~60 % of SROIE receipt lines, 12-54 % of rendered Chinese ones. 0.5 keeps ~3/4 of the gain on
# receipts at ~half the extra time (BENCHMARKS.md, view fusion).
VIEW_THRESHOLD = 0.8
# The calibration kind of a line that view fusion read (postprocess.calibration): its maps turn the
# fusion score (the best calibrated confidence among the views that read the winning text) into
# P(the line is right).
VIEWS_KIND = "views"
# Model fusion: lines whose (calibrated) confidence is below this are read by the fusion models too and
# decoded from the averaged posteriors (postprocess.fusion.average_posteriors).
FUSION_THRESHOLD = 0.8


@dataclass
class LineResult:
    text: str
    confidence: float
    char_frames: List[int] = field(default_factory=list)
    num_frames: int = 0
    raw_confidence: Optional[float] = None  # the decoder's own score, before calibration
    word_confidences: Optional[List[float]] = None  # calibrated, one per word (document.split_words)
    decoder: Optional[str] = None  # the kind of decoder that read the line (auto: greedy or beam_lm; "views": fused)
    char_scores: List[float] = field(default_factory=list)  # the decoder's raw score of each output character

    def __iter__(self):  # unpacks as (text, confidence) like the peers' APIs
        return iter((self.text, self.confidence))


class TextRecognizer:
    def __init__(self, model_path: Optional[str | Path] = None, threads: int = 2, providers="auto",
                 max_batch_pixels: int = 32 * 800 * 16, max_pad: int = 64,
                 calibration: Union[str, Path, ReadingCalibration, None] = "auto", views: int = 0,
                 view_threshold: float = VIEW_THRESHOLD, polarity: bool = True,
                 fusion_models: Sequence[Union[str, Path]] = (), fusion_threshold: float = FUSION_THRESHOLD):
        from ..runtime.session import create_session

        # View fusion (recognition.views): lines read below view_threshold are read again in
        # `views` other views and the texts voted on; 0 = off.
        self.views = view_names(views)
        self.view_threshold = check_view_threshold(view_threshold)
        # True: light-on-dark lines are inverted before reading (preprocess.normalize_polarity)
        self.polarity = bool(polarity)

        self.model_path = Path(model_path) if model_path else DEFAULT_MODEL
        if not self.model_path.is_file():
            raise ModelError(f"recognition model not found: {self.model_path}")
        self.session = create_session(self.model_path, threads=threads, providers=providers)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.charset: Charset = load_charset(meta.get("charset_version", "v1"))
        self.height = int(meta.get("input_height", 32))
        self.width_stride = int(meta.get("width_stride", 4))
        out_classes = self.session.get_outputs()[0].shape[-1]
        if isinstance(out_classes, int) and out_classes != self.charset.num_classes:
            raise ModelError(f"model has {out_classes} classes but charset {self.charset.version} has {self.charset.num_classes}")
        self.max_batch_pixels = max_batch_pixels
        # Lines share a batch only if padding adds at most max_pad px, as in training (64-px width
        # buckets): a BiLSTM reading 200 px of replicated border after "8.50" reads "S.50".
        self.max_pad = max_pad
        self.default_decoder = GreedyDecoder(self.charset)
        # "auto": the model's .calib.json when it has one; a damaged or mismatched file is a ModelError.
        self.calibration, self.calibration_note = resolve_calibration(calibration, self.model_path)
        # Model fusion: other recognizers of the same charset and frame rate, run on unsure lines only.
        self.fusion_threshold = check_view_threshold(fusion_threshold, "fusion_threshold")
        self.fusion = [TextRecognizer(m, threads=threads, providers=providers, max_batch_pixels=max_batch_pixels,
                                      max_pad=max_pad, calibration="none", polarity=polarity) for m in fusion_models]
        for other in self.fusion:
            if other.charset.version != self.charset.version or other.width_stride != self.width_stride \
                    or other.height != self.height:
                raise ModelError(f"fusion model {other.model_path.name} does not share {self.model_path.name}'s "
                                 "charset, input height and frame rate: their posteriors cannot be averaged")

    def predict_probs(self, crops: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Per-frame class probabilities (T_i, C) for each crop, T_i = ceil(resized width / width_stride)."""
        lines = []
        for i, c in enumerate(crops):
            if not isinstance(c, np.ndarray) or c.ndim not in (2, 3) or c.size == 0:
                raise InputError(f"line image {i} is empty or not an image array")
            line = resize_line(c, self.height)
            lines.append(normalize_polarity(line) if self.polarity else line)
        order = sorted(range(len(lines)), key=lambda i: lines[i].shape[1])
        out: List[Optional[np.ndarray]] = [None] * len(lines)
        start = 0
        while start < len(order):
            end = start + 1
            # Sorted by width, so the last line sets the padded width; stop before the pixel budget.
            first = lines[order[start]].shape[1]
            while (end < len(order) and lines[order[end]].shape[1] - first <= self.max_pad
                   and (end + 1 - start) * lines[order[end]].shape[1] * self.height <= self.max_batch_pixels):
                end += 1
            idx = order[start:end]
            x, widths = pad_batch([lines[i] for i in idx])
            probs = self.session.run(None, {"images": x})[0]
            for j, i in enumerate(idx):
                out[i] = probs[j, : frames_for_width(widths[j], self.width_stride)]
            start = end
        return out  # type: ignore[return-value]

    def recognize(self, crops: Sequence[np.ndarray], decoder=None, views: Optional[int] = None,
                  fusion: bool = True) -> List[LineResult]:
        """One ``LineResult`` per crop. ``views`` overrides the recognizer's view fusion setting
        for this call (0: one plain reading per line); ``fusion=False`` leaves the fusion models out."""
        if len(crops) == 0:
            return []
        dec = decoder or self.default_decoder
        names = self.views if views is None else view_names(views)
        if len(crops) > RECOGNIZE_CHUNK:
            # Posteriors are (frames x 7,039) floats, ~2.8 MB for a 100-frame line: thousands of
            # lines in one call must not hold them all at once.
            return [r for i in range(0, len(crops), RECOGNIZE_CHUNK)
                    for r in self.recognize(crops[i : i + RECOGNIZE_CHUNK], dec, views, fusion)]
        results, probs = self._read(crops, dec)
        if self.fusion and fusion:
            self._fuse_models(crops, results, probs, dec)
        if names:
            self._fuse_views(crops, results, dec, names)
        return results

    def _read(self, crops: Sequence[np.ndarray], dec) -> Tuple[List[LineResult], List[np.ndarray]]:
        probs = self.predict_probs(crops)
        return self._decode(probs, dec), probs

    def _decode(self, probs: List[np.ndarray], dec) -> List[LineResult]:
        kind = getattr(dec, "kind", None)  # a decoder of the user's own has no calibration: raw scores
        decoded = decode_lines(dec, probs)
        if len(decoded) != len(probs):
            raise ModelError(f"decoder returned {len(decoded)} results for {len(probs)} lines")
        results = []
        for p, r in zip(probs, decoded):
            raw = float(r.confidence)
            scores = list(getattr(r, "char_scores", None) or [])
            # auto tags each line with the decoder that read it; that decoder's map applies
            line_kind = getattr(r, "decoder", None) or kind
            cal = self.calibration if self.calibration is not None and self.calibration.covers(line_kind) else None
            confidence, words = cal.read(line_kind, r.text, raw, scores) if cal else (raw, None)
            results.append(LineResult(r.text, confidence, list(r.char_frames), int(p.shape[0]),
                                      raw_confidence=raw, word_confidences=words, decoder=line_kind, char_scores=scores))
        return results

    def _fuse_models(self, crops: Sequence[np.ndarray], results: List[LineResult], probs: List[np.ndarray], dec) -> None:
        """Replace each unsure line's result by the decoding of its posteriors averaged over every model (in place).
        The fused line keeps the primary model's calibration maps (the decoder's kind): no maps of fused
        readings are fitted yet."""
        unsure = [i for i, r in enumerate(results) if r.confidence < self.fusion_threshold]
        if not unsure:
            return
        others = [m.predict_probs([crops[i] for i in unsure]) for m in self.fusion]
        fused = [average_posteriors([probs[i]] + [o[j] for o in others]) for j, i in enumerate(unsure)]
        for i, r in zip(unsure, self._decode(fused, dec)):
            results[i] = r

    def _fuse_views(self, crops: Sequence[np.ndarray], results: List[LineResult], dec, names: Sequence[str]) -> None:
        """Replace each unsure line's result by the vote of its plain reading and its views' (in place)."""
        unsure = [i for i, r in enumerate(results) if r.confidence < self.view_threshold]
        if not unsure:
            return
        # every view of every unsure line in one call: the recognizer batches them by width
        again = self.recognize([VIEWS[name](crops[i]) for name in names for i in unsure], dec, views=0, fusion=False)
        n = len(unsure)
        for j, i in enumerate(unsure):
            readings = [results[i]] + [again[k * n + j] for k in range(len(names))]
            results[i] = fuse_readings(readings, self.calibration)


def fuse_readings(readings: Sequence[LineResult], calibration: Optional[ReadingCalibration] = None) -> LineResult:
    """One line's readings (plain first, then its views) -> the aligned weighted vote of their texts
    (``postprocess.fusion.vote_texts``, weighted by confidence: a view that is sure and usually right
    wins ties). Its score is the best confidence among the readings of the winning text, whose
    character positions and word confidences it keeps; ``calibration``'s ``views`` maps, when it has
    them, turn score and word confidences into probabilities of being right."""
    text, agreement = vote_texts([(r.text, max(r.confidence, 1e-3)) for r in readings])
    agreeing = [r for r in readings if r.text == text]
    if agreeing:
        best = max(agreeing, key=lambda r: r.confidence)
        score, frames, num_frames, words = best.confidence, best.char_frames, best.num_frames, best.word_confidences
        char_scores = best.char_scores
    else:
        # A text no single reading has: character positions only where the plain reading's fit it.
        first = readings[0]
        score = agreement * float(np.mean([r.confidence for r in readings]))
        frames = first.char_frames if len(first.char_frames) == len(text) else []
        num_frames, words = first.num_frames, None
        char_scores = first.char_scores if len(first.char_scores) == len(text) else []
    confidence = score
    if calibration is not None and calibration.covers(VIEWS_KIND):
        confidence = calibration.line(VIEWS_KIND, text, score)
        words = calibration.word_scores(VIEWS_KIND, text, words) if words is not None else None
    return LineResult(text, confidence, list(frames), num_frames, raw_confidence=score,
                      word_confidences=words, decoder=VIEWS_KIND, char_scores=list(char_scores))
