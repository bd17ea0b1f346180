"""Calibration: fitted maps lower the ECE of over-confident scores, stay monotone, and round-trip as JSON."""

import numpy as np
import pytest

from ocrforge.errors import ConfigError, ModelError
from ocrforge.postprocess.calibration import (CALIBRATORS, IsotonicCalibrator, TemperatureCalibrator, calibration_path,
                                              ece, fit_calibrator, load_calibrator, pool_adjacent_violators,
                                              reliability, save_calibrator, threshold_table)


def overconfident(n=4000, seed=0):
    """Scores that claim more than they deliver: true P(correct) = sigmoid(logit(score) / 3)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(3.0, 2.0, n)
    score = 1 / (1 + np.exp(-z))
    correct = rng.random(n) < 1 / (1 + np.exp(-z / 3))
    return score, correct


def test_ece_of_perfect_and_bad_scores():
    rng = np.random.default_rng(0)
    p = rng.random(20000)
    assert ece(p, rng.random(20000) < p) < 0.02
    assert ece(np.full(100, 0.99), np.zeros(100)) == pytest.approx(0.99)


@pytest.mark.parametrize("method", sorted(CALIBRATORS))
def test_calibration_lowers_ece(method):
    s, y = overconfident()
    cal = fit_calibrator(s[:3000], y[:3000], method)
    before, after = ece(s[3000:], y[3000:]), ece(cal(s[3000:]), y[3000:])
    assert before > 0.1 and after < 0.05
    grid = np.linspace(0.01, 0.99, 50)
    assert np.all(np.diff(cal(grid)) >= -1e-12)  # monotone: thresholds keep their order


def test_temperature_recovers_known_temperature():
    s, y = overconfident(40000, seed=1)
    cal = TemperatureCalibrator.fit(s, y, fit_bias=False)
    assert cal.temperature == pytest.approx(3.0, rel=0.15)


def test_pav_is_monotone_least_squares():
    y = np.array([1, 3, 2, 4, 3, 5], float)
    fit = pool_adjacent_violators(y, np.ones_like(y))
    assert np.all(np.diff(fit) >= 0)
    assert np.allclose(fit, [1, 2.5, 2.5, 3.5, 3.5, 5])


@pytest.mark.parametrize("method", sorted(CALIBRATORS))
def test_save_load_roundtrip(tmp_path, method):
    s, y = overconfident(500)
    cal = fit_calibrator(s, y, method)
    path = save_calibrator(cal, calibration_path(tmp_path / "rec_x.onnx"), fitted_on="synthetic")
    assert path.name == "rec_x.calib.json"
    again = load_calibrator(path)
    assert np.allclose(again(s), cal(s))


def test_errors(tmp_path):
    with pytest.raises(ConfigError):
        fit_calibrator([0.5], [1], "magic")
    with pytest.raises(ConfigError):
        TemperatureCalibrator.fit([0.5, 0.6], [1])
    bad = tmp_path / "x.json"
    bad.write_text("{nope")
    with pytest.raises(ModelError):
        load_calibrator(bad)


def test_threshold_table_and_reliability():
    s, y = overconfident()
    rows = threshold_table(s, y, [0.0, 0.5, 0.9])
    assert rows[0]["kept"] == 1.0
    assert rows[0]["kept"] >= rows[1]["kept"] >= rows[2]["kept"]
    assert rows[2]["accuracy"] >= rows[0]["accuracy"]
    rel = reliability(s, y)
    assert sum(r["count"] for r in rel) == len(s)
