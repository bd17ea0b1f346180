"""Calibrated confidence: map raw line/word scores to the probability that the reading is right.

Fitted on (raw score, correct) pairs from a dev set; saved as a small JSON next to the model
(``rec_x.onnx`` -> ``rec_x.calib.json``). Two methods, both numpy (scikit-learn is not a reading
dependency and each is a few lines):
- ``temperature``: ``sigmoid((logit(s) - b) / T)``: Platt-style temperature (and optional bias) fitted
  by Newton's method on the log loss; smooth, monotone, two parameters, hard to overfit;
- ``isotonic``: pool-adjacent-violators fit of a non-decreasing step function, interpolated
  linearly; more flexible, needs more data.
``ece`` is the expected calibration error over equal-width bins; ``threshold_table`` gives
accuracy vs the fraction of lines kept for a range of thresholds (the chart users threshold on).

``ReadingCalibration`` is what the reading path applies (``TextRecognizer`` loads it from beside
its model): for each decoder kind (greedy, beam, beam_lm, auto) and script group (``line_group``)
one map for line confidences (P(the whole line is read exactly)) and one for word confidences
(P(an output word matches a reference word)); a word's raw score is its weakest character's peak
probability (``word_score``). It is refitted with ``benchmarks/bench_decoding.py --fit-calibration``.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..document import is_cjk_char, split_words
from ..errors import ConfigError, ModelError

_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def _check(scores, correct):
    s = np.asarray(scores, np.float64).ravel()
    y = np.asarray(correct, np.float64).ravel()
    if s.shape != y.shape or s.size == 0:
        raise ConfigError("calibration needs as many scores as correctness labels, at least one")
    return s, y


@dataclass
class TemperatureCalibrator:
    temperature: float = 1.0
    bias: float = 0.0

    method = "temperature"

    @classmethod
    def fit(cls, scores, correct, fit_bias: bool = True, iters: int = 100) -> "TemperatureCalibrator":
        s, y = _check(scores, correct)
        z = _logit(s)
        a, b = 1.0, 0.0  # calibrated = sigmoid(a * z + b), a = 1/T
        for _ in range(iters):
            p = _sigmoid(a * z + b)
            r = p - y
            w = np.maximum(p * (1 - p), 1e-9)
            if fit_bias:
                g = np.array([np.dot(r, z), r.sum()])
                h = np.array([[np.dot(w, z * z), np.dot(w, z)], [np.dot(w, z), w.sum()]]) + 1e-6 * np.eye(2)
                step = np.linalg.solve(h, g)
            else:
                step = np.array([np.dot(r, z) / (np.dot(w, z * z) + 1e-9), 0.0])
            a, b = a - step[0], b - step[1]
            a = min(max(a, 1e-3), 1e3)  # increasing in the raw score; bounded when the data are separable
            if np.abs(step).max() < 1e-8:
                break
        return cls(temperature=1.0 / a, bias=-b / a)

    def __call__(self, scores) -> np.ndarray:
        return _sigmoid((_logit(scores) - self.bias) / self.temperature)

    def to_dict(self) -> dict:
        return {"method": self.method, "temperature": self.temperature, "bias": self.bias}

    @classmethod
    def from_dict(cls, d: dict) -> "TemperatureCalibrator":
        return cls(float(d["temperature"]), float(d.get("bias", 0.0)))


def pool_adjacent_violators(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted least-squares non-decreasing fit of ``y`` (already sorted by x)."""
    vals: List[float] = []
    wts: List[float] = []
    counts: List[int] = []
    for yi, wi in zip(y, w):
        vals.append(float(yi))
        wts.append(float(wi))
        counts.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            wsum = wts[-2] + wts[-1]
            merged = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / wsum
            counts[-2] += counts[-1]
            vals[-2], wts[-2] = merged, wsum
            vals.pop(), wts.pop(), counts.pop()
    return np.repeat(vals, counts)


@dataclass
class IsotonicCalibrator:
    x: Sequence[float]
    y: Sequence[float]

    method = "isotonic"

    @classmethod
    def fit(cls, scores, correct) -> "IsotonicCalibrator":
        s, y = _check(scores, correct)
        order = np.argsort(s, kind="stable")
        xs, ys = s[order], y[order]
        ux, inv = np.unique(xs, return_inverse=True)  # tie scores share one value
        wy = np.bincount(inv, weights=ys)
        wn = np.bincount(inv).astype(np.float64)
        fitted = pool_adjacent_violators(wy / wn, wn)
        # keep the knots where the step function changes (compact JSON)
        keep = np.ones(len(ux), bool)
        keep[1:-1] = (np.diff(fitted)[:-1] != 0) | (np.diff(fitted)[1:] != 0)
        return cls([float(v) for v in ux[keep]], [float(v) for v in np.clip(fitted[keep], 0, 1)])

    def __call__(self, scores) -> np.ndarray:
        return np.interp(np.asarray(scores, np.float64), self.x, self.y)

    def to_dict(self) -> dict:
        return {"method": self.method, "x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, d: dict) -> "IsotonicCalibrator":
        return cls(list(d["x"]), list(d["y"]))


Calibrator = Union[TemperatureCalibrator, IsotonicCalibrator]
CALIBRATORS: Dict[str, Callable[..., Calibrator]] = {
    "temperature": TemperatureCalibrator.fit,
    "isotonic": IsotonicCalibrator.fit,
}
_LOADERS: Dict[str, Callable[[dict], Calibrator]] = {
    "temperature": TemperatureCalibrator.from_dict,
    "isotonic": IsotonicCalibrator.from_dict,
}


def fit_calibrator(scores, correct, method: str = "temperature") -> Calibrator:
    if method not in CALIBRATORS:
        raise ConfigError(f"unknown calibration method {method!r}; choose from {sorted(CALIBRATORS)}")
    return CALIBRATORS[method](scores, correct)


def save_calibrator(cal: Calibrator, path: Union[str, Path], **info) -> Path:
    path = Path(path)
    d = cal.to_dict()
    d.update(info)
    path.write_text(json.dumps(d, indent=1), encoding="utf-8")
    return path


def load_calibrator(path: Union[str, Path]) -> Calibrator:
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return _LOADERS[d["method"]](d)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"{path}: unreadable calibration file ({exc})") from None


def calibration_path(model_path: Union[str, Path]) -> Path:
    """Where the calibration of ``model_path`` lives: ``rec_x.onnx`` -> ``rec_x.calib.json``."""
    p = Path(model_path)
    return p.with_name(p.stem + ".calib.json")


def ece(confidences, correct, n_bins: int = 15) -> float:
    """Expected calibration error: bin-weighted |accuracy - mean confidence| over equal-width bins."""
    c, y = _check(confidences, correct)
    bins = np.minimum((c * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            total += m.mean() * abs(y[m].mean() - c[m].mean())
    return float(total)


def reliability(confidences, correct, n_bins: int = 10) -> List[dict]:
    c, y = _check(confidences, correct)
    bins = np.minimum((c * n_bins).astype(int), n_bins - 1)
    rows = []
    for b in range(n_bins):
        m = bins == b
        if m.any():
            rows.append({"bin": f"{b / n_bins:.1f}-{(b + 1) / n_bins:.1f}", "count": int(m.sum()),
                         "confidence": float(c[m].mean()), "accuracy": float(y[m].mean())})
    return rows


def threshold_table(confidences, correct, thresholds: Sequence[float] = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)) -> List[dict]:
    """Accuracy of the lines kept, and the fraction kept, when dropping lines below each threshold."""
    c, y = _check(confidences, correct)
    rows = []
    for t in thresholds:
        m = c >= t
        rows.append({"threshold": float(t), "kept": float(m.mean()),
                     "accuracy": float(y[m].mean()) if m.any() else float("nan")})
    return rows


# ----------------------------------------------------------------------------------------------
# The reading path's calibration: per decoder kind, level (line, word) and script group


CALIBRATION_FORMAT = "ocrforge-confidence-calibration"
CALIBRATION_VERSION = 1
LEVELS = ("line", "word")
# At the same raw score a Chinese line and a receipt line in Latin script are not equally often right
# (session 6 fit data, greedy, raw 0.9: ~0.45 for Chinese bill and news lines, ~0.40 for SROIE's; the
# groups' maps differ most below 0.8), so lines with at least ``min_cjk_chars`` CJK characters ("cjk")
# and the others ("other") get their own maps, and a word is calibrated in its line's group.
# Optionally Chinese lines are split by length too ("cjk_long": at least ``long_cjk_chars`` CJK
# characters): greedy scores are per-character averages, so at the same score a 20-character news
# clause is less often right than a 6-character bill label (session 7, bench_calibration_groups:
# greedy line ECE on real clauses 0.057 with one Chinese map, 0.019 split at 8). Both thresholds
# are stored in the file; a file without a long group reads every Chinese line with the "cjk" map.
GROUPS = ("cjk", "cjk_long", "other")
DEFAULT_MIN_CJK_CHARS = 3


def line_group(text: str, min_cjk_chars: int = DEFAULT_MIN_CJK_CHARS, long_cjk_chars: Optional[int] = None) -> str:
    n = sum(is_cjk_char(ch) for ch in text)
    if n < min_cjk_chars:
        return "other"
    return "cjk_long" if long_cjk_chars is not None and n >= long_cjk_chars else "cjk"


def active_groups(long_cjk_chars: Optional[int]) -> Tuple[str, ...]:
    """The groups a calibration with this length threshold has maps for."""
    return GROUPS if long_cjk_chars is not None else tuple(g for g in GROUPS if g != "cjk_long")


# What a line map reads, per the decoder that read the line. "decoder": the decoder's own confidence.
# "weakest_char": greedy's confidence (geometric mean of the character peaks times the blank frames'
# mean peak) with its geometric mean replaced by the weakest character's peak, i.e. greedy's least sure
# character times how sure it is of the gaps. A line is wrong as soon as one character is, and an average
# hides the one: on the fit sets (two-fold, ten repeats; benchmarks/bench_line_scores.py) greedy's
# worst-set line ECE falls from 0.061 (bill lines; Latin-only ones read through the SROIE-dominated map)
# to 0.046 with it. Decoders missing from ``line_scores`` read their own confidence.
def _weakest_char(raw: float, char_scores: Sequence[float]) -> float:
    if not len(char_scores):
        return float(raw)
    cs = np.maximum(np.asarray(char_scores, np.float64), 1e-9)
    return float(raw * cs.min() / np.exp(np.log(cs).mean()))


LINE_SCORES: Dict[str, Callable[[float, Sequence[float]], float]] = {
    "decoder": lambda raw, char_scores: float(raw),
    "weakest_char": _weakest_char,
}
DEFAULT_LINE_SCORES: Dict[str, str] = {"greedy": "weakest_char"}


def checked_line_scores(line_scores: Optional[Dict[str, str]]) -> Dict[str, str]:
    """``line_scores`` (None: ``DEFAULT_LINE_SCORES``) with every name checked against ``LINE_SCORES``."""
    chosen = dict(DEFAULT_LINE_SCORES if line_scores is None else line_scores)
    bad = sorted(v for v in chosen.values() if v not in LINE_SCORES)
    if bad:
        raise ConfigError(f"unknown line score {bad[0]!r}; choose from {sorted(LINE_SCORES)}")
    return chosen


def line_input(line_scores: Dict[str, str], kind: Optional[str], raw: float, char_scores: Sequence[float]) -> float:
    """The number the line map of a reading by decoder ``kind`` reads (``LINE_SCORES``)."""
    return LINE_SCORES[line_scores.get(kind or "", "decoder")](raw, char_scores)


def is_correct(hyp: str, ref: str, casefold: bool = False) -> bool:
    """A line is right when it equals its reference (ignoring case where the reference does not
    keep it, e.g. SROIE's all-capitals transcripts)."""
    return hyp.upper() == ref.upper() if casefold else hyp == ref


def word_score(char_scores: Sequence[float]) -> float:
    """Raw score of a word: its weakest character's peak probability (one misread character makes
    the word wrong; on the fit data the minimum separates right from wrong words better than the
    mean or the geometric mean)."""
    return float(min(char_scores)) if len(char_scores) else 0.0


def word_outcomes(hyp: str, char_scores: Sequence[float], ref: str, casefold: bool = False
                  ) -> Tuple[List[float], List[bool]]:
    """(raw score, right?) for each output word of ``hyp`` (words as ``document.split_words`` cuts
    them). A word is right when the best alignment of the output words to the reference words
    (``difflib``, whole words) pairs it with an identical reference word. Empty when the decoder
    gave no per-character scores."""
    if len(char_scores) != len(hyp):
        return [], []
    key = str.upper if casefold else (lambda w: w)
    spans = split_words(hyp)
    hw = [key(hyp[s:e]) for s, e in spans]
    rw = [key(ref[s:e]) for s, e in split_words(ref)]
    ok = [False] * len(hw)
    for block in difflib.SequenceMatcher(None, hw, rw, autojunk=False).get_matching_blocks():
        for i in range(block.a, block.a + block.size):
            ok[i] = True
    return [word_score(char_scores[s:e]) for s, e in spans], ok


def reading_outcomes(results: Sequence[Any], refs: Sequence[str], casefold: bool,
                     min_cjk_chars: int = DEFAULT_MIN_CJK_CHARS, kind: Optional[str] = None,
                     long_cjk_chars: Optional[int] = None, line_scores: Optional[Dict[str, str]] = None
                     ) -> Dict[str, Tuple[list, list, list, list]]:
    """Raw scores, right/wrong, script group (``line_group`` of the line) and the decoder kind that
    read it (``DecodeResult.decoder``: auto's lines are greedy or beam + LM readings; else ``kind``)
    of every line and of every output word of decoder ``results`` against their references. A line's
    raw score is its decoder's confidence, or with ``line_scores`` what that decoder's line map reads
    (``line_input``)."""
    ws, wy, wg, wk = [], [], [], []
    for r, ref in zip(results, refs):
        s, y = word_outcomes(r.text, list(r.char_scores), ref, casefold)
        ws += s
        wy += y
        wg += [line_group(r.text, min_cjk_chars, long_cjk_chars)] * len(s)
        wk += [r.decoder or kind] * len(s)
    line_raw = [r.confidence if line_scores is None else line_input(line_scores, r.decoder or kind, r.confidence, list(r.char_scores))
                for r in results]
    return {"line": (line_raw, [is_correct(r.text, ref, casefold) for r, ref in zip(results, refs)],
                     [line_group(r.text, min_cjk_chars, long_cjk_chars) for r in results], [r.decoder or kind for r in results]),
            "word": (ws, wy, wg, wk)}


ReadingSet = Tuple[Dict[str, Sequence[Any]], Sequence[str], bool]  # ({decoder kind: readings}, references, casefold)


def fit_reading_calibration(sets: Sequence[ReadingSet], method: str = "isotonic",
                            min_cjk_chars: int = DEFAULT_MIN_CJK_CHARS, long_cjk_chars: Optional[int] = 8,
                            line_scores: Optional[Dict[str, str]] = None, **info: Any) -> "ReadingCalibration":
    """Each decoder's raw readings of some sets of lines -> a ``ReadingCalibration`` (their
    outcomes pooled per decoder, level and script group, one map each; ``ConfigError`` when there
    are too few lines or no errors to learn from). ``info["counts"]`` records what each map saw.
    ``line_scores``: what each decoder's line maps read (None: ``DEFAULT_LINE_SCORES``)."""
    line_scores = checked_line_scores(line_scores)
    pooled: Dict[str, Dict[str, Dict[str, Tuple[list, list]]]] = {}
    for results, refs, casefold in sets:
        for kind, readings in results.items():
            outs = reading_outcomes(readings, refs, casefold, min_cjk_chars, kind=kind, long_cjk_chars=long_cjk_chars,
                                    line_scores=line_scores)
            for level, (scores, right, groups, _) in outs.items():
                for v, y, g in zip(scores, right, groups):
                    acc = pooled.setdefault(kind, {}).setdefault(level, {}).setdefault(g, ([], []))
                    acc[0].append(v)
                    acc[1].append(y)
    info["counts"] = {kind: {lv: {g: len(v[0]) for g, v in groups.items()} for lv, groups in levels.items()}
                      for kind, levels in pooled.items()}
    return ReadingCalibration.fit(pooled, method, min_cjk_chars=min_cjk_chars, long_cjk_chars=long_cjk_chars,
                                  line_scores=line_scores, **info)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _checked(cal: Calibrator, where: str) -> Calibrator:
    """Refuse maps that would reorder confidences or leave [0, 1] (a hand-edited or damaged file)."""
    if isinstance(cal, TemperatureCalibrator):
        if not (math.isfinite(cal.temperature) and cal.temperature > 0 and math.isfinite(cal.bias)):
            raise ModelError(f"{where}: temperature must be a positive number and bias finite")
        return cal
    x, y = np.asarray(cal.x, np.float64), np.asarray(cal.y, np.float64)
    if x.ndim != 1 or x.size == 0 or x.shape != y.shape or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ModelError(f"{where}: isotonic knots must be two equal, non-empty lists of numbers")
    if np.any(np.diff(x) <= 0) or np.any(np.diff(y) < 0) or y.min() < 0 or y.max() > 1:
        raise ModelError(f"{where}: isotonic map is not increasing within [0, 1]")
    return cal


def _compact(d: dict, digits: int = 7) -> dict:
    """A map's dict with its numbers rounded (a knot list is a few hundred numbers). Isotonic knots
    mark steps, often two scores a hair apart: one that rounding would put on or before its
    predecessor moves just past it, so the steps keep their place and the map stays increasing."""
    if d.get("method") != "isotonic":
        return {k: round(v, 10) if isinstance(v, float) else v for k, v in d.items()}
    step = 10.0 ** -digits
    xs: List[float] = []
    for x in d["x"]:
        x = round(float(x), digits)
        xs.append(round(xs[-1] + step, digits) if xs and x <= xs[-1] else x)
    return dict(d, x=xs, y=[round(float(y), digits) for y in d["y"]])


Outcomes = Tuple[Sequence[float], Sequence[bool]]  # raw scores, right?


def fit_group_maps(groups: Dict[str, Outcomes], method: str, names: Sequence[str], min_count: int = 20,
                   what: str = "lines (or no errors) to calibrate") -> Tuple[Dict[str, Calibrator], List[str]]:
    """One ``method`` map for each script group in ``names`` from ``groups[g] = (raw scores, right?)``;
    a group with fewer than ``min_count`` samples, or only right or only wrong ones, gets the map fitted
    on all groups together (returned: the maps and the names of those pooled groups). ``ConfigError``
    ("too few ``what``") when all groups together are too few or hold no error or no success."""
    all_s = [v for g in GROUPS for v in groups.get(g, ([], []))[0]]
    all_y = [v for g in GROUPS for v in groups.get(g, ([], []))[1]]
    if len(all_s) < min_count or all(all_y) or not any(all_y):
        raise ConfigError(f"too few {what}")
    maps: Dict[str, Calibrator] = {}
    pooled: List[str] = []
    for g in names:
        sc, ok = groups.get(g, ([], []))
        if len(sc) >= min_count and any(ok) and not all(ok):
            maps[g] = fit_calibrator(sc, ok, method)
        else:
            maps[g] = fit_calibrator(all_s, all_y, method)
            pooled.append(g)
    return maps, pooled


@dataclass
class ReadingCalibration:
    """``decoders[kind][level][group]``: a map from raw to calibrated confidence for each decoder
    kind (greedy, beam, beam_lm, auto), level (line, word) and script group (``line_group``)."""

    decoders: Dict[str, Dict[str, Dict[str, Calibrator]]]
    min_cjk_chars: int = DEFAULT_MIN_CJK_CHARS
    info: Dict[str, Any] = field(default_factory=dict)  # provenance: model, data, method, counts
    source: str = ""  # the file it came from
    long_cjk_chars: Optional[int] = None  # None: one map for every Chinese line
    # what each decoder's line maps read (LINE_SCORES); empty in files before session 13: confidences
    line_scores: Dict[str, str] = field(default_factory=dict)

    def covers(self, kind: Optional[str]) -> bool:
        return kind in self.decoders

    def group(self, text: str) -> str:
        return line_group(text, self.min_cjk_chars, self.long_cjk_chars)

    def line(self, kind: str, text: str, raw: float, char_scores: Sequence[float] = ()) -> float:
        """Calibrated confidence of a line ``kind`` read as ``text`` with confidence ``raw`` and these
        per-character scores, which some decoders' maps read (``line_scores``: greedy's, in the shipped
        files; without them such a map reads ``raw`` itself, which is not what it was fitted on)."""
        return self._line(kind, self.group(text), raw, char_scores)

    def words(self, kind: str, text: str, char_scores: Sequence[float]) -> Optional[List[float]]:
        """Calibrated confidence of each word of ``text`` (``split_words`` order), or None when
        the decoder gave no score per character."""
        return self._words(kind, self.group(text), text, char_scores)

    def word_scores(self, kind: str, text: str, scores: Sequence[float]) -> List[float]:
        """``kind``'s word map applied to raw scores given one per word of ``text`` (view fusion
        scores a fused line's words by the calibrated confidences of the view it took them from)."""
        return [float(v) for v in self.decoders[kind]["word"][self.group(text)](np.asarray(scores, np.float64))]

    def read(self, kind: str, text: str, raw: float, char_scores: Sequence[float]) -> Tuple[float, Optional[List[float]]]:
        """``line`` and ``words`` of one reading, its script group counted once (the recognizer's per-line path)."""
        group = self.group(text)
        return self._line(kind, group, raw, char_scores), self._words(kind, group, text, char_scores)

    def _line(self, kind: str, group: str, raw: float, char_scores: Sequence[float]) -> float:
        x = line_input(self.line_scores, kind, raw, char_scores)
        return float(self.decoders[kind]["line"][group](np.array([x]))[0])

    def _words(self, kind: str, group: str, text: str, char_scores: Sequence[float]) -> Optional[List[float]]:
        if len(char_scores) != len(text):
            return None
        spans = split_words(text)
        if not spans:
            return []
        raw = np.array([word_score(char_scores[s:e]) for s, e in spans])
        return [float(v) for v in self.decoders[kind]["word"][group](raw)]

    @classmethod
    def fit(cls, outcomes: Dict[str, Dict[str, Dict[str, Outcomes]]], method: str,
            min_cjk_chars: int = DEFAULT_MIN_CJK_CHARS, min_count: int = 20, long_cjk_chars: Optional[int] = None,
            line_scores: Optional[Dict[str, str]] = None, **info: Any) -> "ReadingCalibration":
        """``outcomes[kind][level][group] = (raw scores, right?)`` -> one ``method`` map each. A
        group with fewer than ``min_count`` samples, or only right or only wrong ones, gets the map
        fitted on all groups of its level (noted in ``info["pooled"]``)."""
        decoders: Dict[str, Dict[str, Dict[str, Calibrator]]] = {}
        pooled: List[str] = []
        groups_fitted = active_groups(long_cjk_chars)
        if long_cjk_chars is not None and long_cjk_chars <= min_cjk_chars:
            raise ConfigError(f"long_cjk_chars ({long_cjk_chars}) must exceed min_cjk_chars ({min_cjk_chars})")
        for kind, levels in outcomes.items():
            decoders[kind] = {}
            for level in LEVELS:
                maps, pooled_groups = fit_group_maps(levels.get(level, {}), method, groups_fitted, min_count,
                                                     what=f"{level}s (or no errors) to calibrate the {kind} decoder")
                pooled += [f"{kind}/{level}/{g}" for g in pooled_groups]
                decoders[kind][level] = maps
        return cls(decoders, min_cjk_chars, dict(info, method=method, pooled=pooled), long_cjk_chars=long_cjk_chars,
                   line_scores=checked_line_scores(line_scores or {}))

    def to_dict(self) -> dict:
        return {"format": CALIBRATION_FORMAT, "version": CALIBRATION_VERSION, **self.info,
                "min_cjk_chars": self.min_cjk_chars, "long_cjk_chars": self.long_cjk_chars,
                "line_scores": dict(self.line_scores),
                "decoders": {k: {lv: {g: _compact(cal.to_dict()) for g, cal in groups.items()}
                                 for lv, groups in levels.items()} for k, levels in self.decoders.items()}}

    def save(self, path: Union[str, Path]) -> Path:
        """Indented JSON with each map on one line (isotonic knot lists are long)."""
        d = self.to_dict()
        maps = d.pop("decoders")
        kinds = []
        for kind, levels in maps.items():
            parts = [f'   "{lv}": {{\n' + ",\n".join(f'    "{g}": {json.dumps(m)}' for g, m in groups.items()) + "\n   }"
                     for lv, groups in levels.items()]
            kinds.append(f'  "{kind}": {{\n' + ",\n".join(parts) + "\n  }")
        text = json.dumps(d, indent=1, ensure_ascii=False)[:-2] + ',\n "decoders": {\n' + ",\n".join(kinds) + "\n }\n}\n"
        path = Path(path)
        path.write_text(text, encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Union[str, Path], model_path: Union[str, Path, None] = None) -> "ReadingCalibration":
        """Read and check a calibration file; ``ModelError`` (one line) when it is unreadable, not
        monotone, or was fitted for another model than ``model_path``."""
        path = Path(path)
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            if d.get("format") != CALIBRATION_FORMAT or d.get("version") != CALIBRATION_VERSION:
                raise ValueError(f"not a {CALIBRATION_FORMAT} v{CALIBRATION_VERSION} file")
            long_cjk = d.get("long_cjk_chars")  # absent in files before session 7: no long group
            long_cjk = None if long_cjk is None else int(long_cjk)
            groups = active_groups(long_cjk)
            decoders = {kind: {level: {g: _checked(_LOADERS[levels[level][g]["method"]](levels[level][g]),
                                                   f"{path}: {kind} {level} {g}") for g in groups}
                               for level in LEVELS}
                        for kind, levels in d["decoders"].items()}
            if not decoders:
                raise ValueError("no decoder is calibrated")
            min_cjk = int(d["min_cjk_chars"])
            if long_cjk is not None and long_cjk <= min_cjk:
                raise ValueError(f"long_cjk_chars {long_cjk} must exceed min_cjk_chars {min_cjk}")
            line_scores = {str(k): str(v) for k, v in d.get("line_scores", {}).items()}  # absent before session 13
            checked_line_scores(line_scores)
        except ConfigError as exc:
            raise ModelError(f"{path}: {exc}") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"{path}: unreadable calibration file ({type(exc).__name__}: {exc})") from None
        info = {k: v for k, v in d.items()
                if k not in ("format", "version", "decoders", "min_cjk_chars", "long_cjk_chars", "line_scores")}
        want = info.get("model_sha256")
        if model_path is not None and want and Path(model_path).is_file() and _file_sha256(Path(model_path)) != want:
            raise ModelError(f"{path} was fitted for another model than {Path(model_path).name}; refit it "
                             f"(benchmarks/bench_decoding.py --fit-calibration) or turn calibration off")
        return cls(decoders, min_cjk, info, str(path), long_cjk, line_scores)


def resolve_calibration(spec: Union[str, Path, ReadingCalibration, None], model_path: Union[str, Path]
                        ) -> Tuple[Optional[ReadingCalibration], str]:
    """The calibration a recognizer applies, and a line saying which (or why none).

    ``"auto"``: the file beside the model (``calibration_path``) when there is one; a model without
    one (a user's own, a quantized copy) reports raw decoder scores. ``None`` / ``"none"``: raw
    scores. A path: that file, which must exist. A damaged file or one fitted for another model
    is an error, never silently ignored."""
    if isinstance(spec, ReadingCalibration):
        return spec, f"calibrated ({spec.info.get('method', '?')})"
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "none"):
        return None, "calibration off: confidences are raw decoder scores"
    if isinstance(spec, str) and spec.strip().lower() == "auto":
        path = calibration_path(model_path)
        if not path.is_file():
            return None, f"no {path.name} beside the model: confidences are raw decoder scores"
    else:
        path = Path(spec)
        if not path.is_file():
            raise ModelError(f"calibration file not found: {path}")
    cal = ReadingCalibration.load(path, model_path=model_path)
    return cal, f"calibrated by {path.name} ({cal.info.get('method', '?')})"
