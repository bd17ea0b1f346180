"""benchmarks/bench_line_scores.py: each candidate line score fitted and judged the same way; a score that
sees the weak character calibrates long lines that a map of the average, learnt on short ones, misjudges."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def _features(n, seed, lengths):
    """bench_line_scores' feature rows of readings whose fate hangs on one character."""
    from ocrforge.postprocess.synthetic import one_weak_character_readings

    readings, refs = one_weak_character_readings(n, seed, lengths)
    return [{"text": r.text, "confidence": r.confidence, "char_scores": r.char_scores,
             "margins": [2 * c - 1 for c in r.char_scores], "right": r.text == ref} for r, ref in zip(readings, refs)]


def test_weakest_char_beats_the_average_where_line_lengths_differ():
    import bench_line_scores as bench

    fit = {"short": _features(1500, 0, (2, 7)), "long": _features(300, 1, (20, 31))}
    evals = {"long": _features(1500, 2, (20, 31))}
    table = bench.score_table(fit, evals, ["decoder", "weakest_char", "prod_margin"], repeats=2)
    assert set(table) == {"decoder", "weakest_char", "prod_margin"}
    assert set(table["decoder"]["cv"]) == {"short", "long"}
    dec, weak = table["decoder"], table["weakest_char"]
    assert weak["heldout"]["long"]["ece"] < 0.05 < dec["heldout"]["long"]["ece"]
    assert weak["cv"]["long"]["mean"] < dec["cv"]["long"]["mean"]  # the long fit lines, drowned by short ones
    # the margins need the posteriors, which the reader does not keep
    assert weak["reader_can_compute"] and not table["prod_margin"]["reader_can_compute"]


def test_script_runs_on_fake_posteriors(tmp_path):
    import bench_line_scores as bench

    out = tmp_path / "scores.json"
    assert bench.main(["--fake", "--zh-lines", "80", "--repeats", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["scores"]) == set(bench.SCORES)
    assert report["lines"]["fit"]["bills"] > 40 and "sroie" not in report["lines"]["fit"]
    for row in report["scores"].values():
        assert 0.0 <= row["heldout_worst"] <= 1.0 and set(row["heldout"]) == {"bills", "real"}
    with pytest.raises(SystemExit, match="unknown score"):
        bench.main(["--fake", "--scores", "loudest"])
