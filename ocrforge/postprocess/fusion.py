"""Multi-model fusion on low-confidence lines.

Two ways to combine recognizers that share a charset:
- ``average_posteriors``: weighted mean of the per-frame CTC posteriors, then one decode. Needs
  the same frame rate; a small length difference (models that pad differently) is resampled
  linearly onto the first model's frames.
- ``vote_texts``: aligned weighted voting (ROVER-style) over the decoded texts: each text is aligned
  to the most trusted one with ``rapidfuzz.distance.Levenshtein.opcodes`` and every aligned slot
  (a character, a deletion, an insertion) takes the reading with the largest summed weight. The
  weights are calibrated confidences, so a model that is sure and usually right wins ties.
``FusionRecognizer`` runs the primary model on every line and the others only on the lines whose
confidence is below ``threshold`` (the cost is paid where it can help).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigError
from .ctc import DecodeResult, greedy_decode


def _resample(p: np.ndarray, n: int) -> np.ndarray:
    if len(p) == n:
        return p
    src = np.linspace(0.0, 1.0, len(p))
    dst = np.linspace(0.0, 1.0, n)
    out = np.stack([np.interp(dst, src, p[:, c]) for c in range(p.shape[1])], axis=1)
    return out / out.sum(1, keepdims=True)


def average_posteriors(probs: Sequence[np.ndarray], weights: Optional[Sequence[float]] = None,
                       max_len_diff: float = 0.15) -> np.ndarray:
    """Weighted mean of (T_i, C) posteriors of the same line from several models."""
    if not probs:
        raise ConfigError("nothing to fuse")
    c = probs[0].shape[1]
    if any(p.ndim != 2 or p.shape[1] != c for p in probs):
        raise ConfigError("fused models must share the charset (same number of classes)")
    t = probs[0].shape[0]
    if any(abs(p.shape[0] - t) > max(1, max_len_diff * t) for p in probs):
        raise ConfigError("fused models must share the frame rate (frame counts differ too much)")
    w = np.ones(len(probs)) if weights is None else np.asarray(weights, np.float64)
    if w.shape != (len(probs),) or (w < 0).any() or w.sum() <= 0:
        raise ConfigError("one non-negative weight per model, not all zero")
    w = w / w.sum()
    acc = np.zeros((t, c), np.float64)
    for wi, p in zip(w, probs):
        acc += wi * _resample(np.asarray(p, np.float64), t)
    return acc.astype(np.float32)


def vote_texts(candidates: Sequence[Tuple[str, float]]) -> Tuple[str, float]:
    """Aligned weighted vote over texts; returns (text, agreement = winning weight share, averaged)."""
    from rapidfuzz.distance import Levenshtein

    cands = [(t, float(w)) for t, w in candidates if w > 0]
    if not cands:
        return "", 0.0
    cands.sort(key=lambda tw: -tw[1])
    ref = cands[0][0]
    n = len(ref)
    total_w = sum(w for _, w in cands)
    # slot 2*i+1: backbone character i; slot 2*i: what is inserted before character i (slot 2n: after)
    votes: List[Dict[str, float]] = [dict() for _ in range(2 * n + 1)]
    for text, w in cands:
        ins: Dict[int, str] = {}
        sub: Dict[int, str] = {i: "" for i in range(n)}
        for tag, i1, i2, j1, j2 in Levenshtein.opcodes(ref, text):
            if tag in ("equal", "replace") and i2 - i1 == j2 - j1:
                for k in range(i2 - i1):
                    sub[i1 + k] = text[j1 + k]
            elif tag == "replace":  # unequal spans: the other text's span replaces ours as a whole
                sub[i1] = text[j1:j2]
                for k in range(i1 + 1, i2):
                    sub[k] = ""
            elif tag == "insert":
                ins[i1] = ins.get(i1, "") + text[j1:j2]
            # "delete": sub stays "" for those backbone characters
        for i in range(n):
            votes[2 * i + 1][sub[i]] = votes[2 * i + 1].get(sub[i], 0.0) + w
        for i in range(n + 1):
            s = ins.get(i, "")
            votes[2 * i][s] = votes[2 * i].get(s, 0.0) + w
    out, shares = [], []
    for slot in votes:
        best, bw = max(slot.items(), key=lambda kv: (kv[1], kv[0] != ""))
        out.append(best)
        if best:
            shares.append(bw / total_w)
    agreement = float(np.mean(shares)) if shares else 1.0
    return "".join(out), agreement


@dataclass
class FusionConfig:
    threshold: float = 0.8  # fuse only lines whose (calibrated) primary confidence is below this
    mode: str = "posterior"  # "posterior" (average CTC posteriors) or "vote" (aligned text voting)
    weights: Optional[Sequence[float]] = None  # per model, for "posterior"; default equal


@dataclass
class FusionStats:
    lines: int = 0
    fused: int = 0
    seconds_primary: float = 0.0
    seconds_extra: float = 0.0


@dataclass
class FusionRecognizer:
    """Primary recognizer on every line, the others on low-confidence lines only.

    ``models`` expose ``predict_probs(crops) -> list[(T, C)]`` (like ``TextRecognizer``);
    ``decoder`` turns posteriors into ``DecodeResult`` (greedy by default); ``calibrators[i]`` maps
    model i's raw confidence to a calibrated one (identity when absent).
    """

    models: Sequence
    charset: object
    config: FusionConfig = field(default_factory=FusionConfig)
    decoder: Optional[object] = None
    calibrators: Optional[Sequence[Optional[Callable]]] = None
    stats: FusionStats = field(default_factory=FusionStats)

    def __post_init__(self):
        if len(self.models) < 1:
            raise ConfigError("fusion needs at least one model")
        if self.config.mode not in FUSION_MODES:
            raise ConfigError(f"unknown fusion mode {self.config.mode!r}; choose from {sorted(FUSION_MODES)}")

    def _decode(self, probs: np.ndarray) -> DecodeResult:
        return self.decoder.decode(probs) if self.decoder is not None else greedy_decode(probs, self.charset)

    def _calibrate(self, i: int, conf: float) -> float:
        cal = self.calibrators[i] if self.calibrators and i < len(self.calibrators) else None
        return float(np.asarray(cal([conf])).ravel()[0]) if cal is not None else conf

    def recognize(self, crops: Sequence[np.ndarray]) -> List[DecodeResult]:
        t0 = time.perf_counter()
        primary = self.models[0].predict_probs(crops)
        results = [self._decode(p) for p in primary]
        calibrated = [self._calibrate(0, r.confidence) for r in results]
        self.stats.seconds_primary += time.perf_counter() - t0
        self.stats.lines += len(crops)
        low = [i for i, c in enumerate(calibrated) if c < self.config.threshold]
        if not low or len(self.models) == 1:
            return results
        t1 = time.perf_counter()
        others = [m.predict_probs([crops[i] for i in low]) for m in self.models[1:]]
        for j, i in enumerate(low):
            all_probs = [primary[i]] + [o[j] for o in others]
            results[i] = FUSION_MODES[self.config.mode](self, all_probs, results[i], calibrated[i])
        self.stats.fused += len(low)
        self.stats.seconds_extra += time.perf_counter() - t1
        return results


def _fuse_posterior(fr: FusionRecognizer, probs: List[np.ndarray], first: DecodeResult, first_conf: float) -> DecodeResult:
    return fr._decode(average_posteriors(probs, fr.config.weights))


def _fuse_vote(fr: FusionRecognizer, probs: List[np.ndarray], first: DecodeResult, first_conf: float) -> DecodeResult:
    decoded = [first] + [fr._decode(p) for p in probs[1:]]
    confs = [first_conf] + [fr._calibrate(k, d.confidence) for k, d in enumerate(decoded) if k > 0]
    text, agreement = vote_texts([(d.text, max(c, 1e-3)) for d, c in zip(decoded, confs)])
    winner = next((d for d in decoded if d.text == text), None)
    if winner is not None:
        return DecodeResult(winner.text, agreement * max(d.confidence for d in decoded if d.text == text),
                            winner.char_frames, winner.char_scores)
    # a mixed reading: character positions are those of the backbone where lengths agree
    base = decoded[int(np.argmax(confs))]
    frames = base.char_frames if len(base.char_frames) == len(text) else []
    return DecodeResult(text, agreement * float(np.mean(confs)), frames)


FUSION_MODES: Dict[str, Callable] = {"posterior": _fuse_posterior, "vote": _fuse_vote}
