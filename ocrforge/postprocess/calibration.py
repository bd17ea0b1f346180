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
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Union

import numpy as np

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
