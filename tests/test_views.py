"""View fusion (recognition.views): unsure lines are read again in other views of the crop and the
texts voted on. The views, the vote and its confidence, the recognizer and pipeline settings, the
batched recognizer passing the setting on, the CLI flag and the benchmark that measures and fits it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import CJK_LINES, needs_cjk_font, render_cjk_line
from ocrforge import cli
from ocrforge.document import split_words
from ocrforge.errors import ConfigError
from ocrforge.pipeline import OCR
from ocrforge.postprocess.calibration import ReadingCalibration, calibration_path
from ocrforge.recognition.predictor import DEFAULT_MODEL, FP32_MODEL, VIEWS_KIND, LineResult, TextRecognizer, fuse_readings
from ocrforge.recognition.views import VIEW_ORDER, VIEWS, pad_vertical, stretch, view_names
from ocrforge.runtime.batcher import BatcherConfig
from ocrforge.runtime.recognizer import BatchedRecognizer

REPO = Path(__file__).resolve().parents[1]
LINES = CJK_LINES
needs_font = needs_cjk_font
render = render_cjk_line


# ------------------------------------------------------------------------------------ the views


@pytest.mark.parametrize("shape", [(30, 200), (30, 200, 3), (30, 200, 4)])
def test_views_keep_the_crop_kind_and_change_only_their_axis(shape):
    crop = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    padded = pad_vertical(crop, 0.10)
    assert padded.shape[0] == 36 and padded.shape[1:] == crop.shape[1:]
    assert np.array_equal(padded[3:33], crop) and np.array_equal(padded[0], crop[0])  # border rows replicated
    wide = stretch(crop, 1.15)
    assert wide.shape[0] == 30 and wide.shape[1] == 230 and wide.shape[2:] == crop.shape[2:]
    assert stretch(np.zeros((20, 2), np.uint8), 0.5).shape == (20, 4)  # never thinner than 4 px
    for name in VIEW_ORDER:
        assert VIEWS[name](crop).dtype == np.uint8


def test_view_counts_are_checked():
    assert view_names(0) == () and view_names(2) == ("pad5", "wide115") and view_names(4) == VIEW_ORDER
    for bad in (-1, 5, 1.5, "2", True, None):
        with pytest.raises(ConfigError, match="views must be an integer from 0 to 4"):
            view_names(bad)


# ------------------------------------------------------------------------------------ the vote


def reading(text, conf, frames=None, words=None):
    return LineResult(text, conf, list(frames if frames is not None else range(len(text))), 40,
                      raw_confidence=conf, word_confidences=words, decoder="greedy")


def test_the_majority_reading_wins_with_its_own_positions_and_words():
    plain = reading("T0TAL 12.50", 0.40, words=[0.2, 0.9])
    views = [reading("TOTAL 12.50", 0.55, frames=[2 * i for i in range(11)], words=[0.6, 0.9]),
             reading("TOTAL 12.50", 0.35, words=[0.5, 0.8])]
    fused = fuse_readings([plain] + views)
    assert fused.text == "TOTAL 12.50" and fused.decoder == VIEWS_KIND
    # without a views map the score is the best agreeing reading's, with its frames and words
    assert fused.confidence == fused.raw_confidence == 0.55
    assert fused.char_frames == [2 * i for i in range(11)] and fused.word_confidences == [0.6, 0.9]


def test_a_sure_plain_reading_outvotes_two_unsure_views():
    fused = fuse_readings([reading("8.50", 0.75), reading("S.50", 0.2), reading("S.50", 0.3)])
    assert fused.text == "8.50"


def test_a_mixed_vote_keeps_positions_only_where_they_fit():
    # each reading is wrong in a different place; the vote is a text none of them read
    readings = [reading("AB1D", 0.5), reading("A2CD", 0.45), reading("3BCD", 0.4)]
    fused = fuse_readings(readings)
    assert fused.text == "ABCD" and all(r.text != "ABCD" for r in readings)
    assert fused.char_frames == [0, 1, 2, 3] and fused.word_confidences is None
    assert 0.0 < fused.confidence < 0.5  # agreement share x mean confidence
    shorter = fuse_readings([reading("ABD", 0.5), reading("ABCD", 0.45), reading("ABCD", 0.44)])
    assert shorter.text == "ABCD" and shorter.char_frames == [0, 1, 2, 3]  # the agreeing reading's own


def test_the_shipped_calibration_maps_fused_scores_monotonically():
    cal = ReadingCalibration.load(calibration_path(DEFAULT_MODEL), model_path=DEFAULT_MODEL)
    assert cal.covers(VIEWS_KIND) and cal.info["views_fit"]["views"] == list(VIEW_ORDER[:2])
    for text in ("TOTAL 12.50", "合计", "北京市朝阳区建国路88号"):
        mapped = [fuse_readings([reading(text, s), reading(text, s)], cal).confidence for s in np.linspace(0, 1, 11)]
        assert all(0.0 <= m <= 1.0 for m in mapped) and mapped == sorted(mapped) and mapped[-1] > mapped[0]
    words = fuse_readings([reading("TOTAL 12.50", 0.5, words=[0.3, 0.9])] * 2, cal).word_confidences
    assert len(words) == 2 and words[0] <= words[1]


def test_both_shipped_calibrations_cover_fused_lines():
    for model in (DEFAULT_MODEL, FP32_MODEL):
        assert ReadingCalibration.load(calibration_path(model), model_path=model).covers(VIEWS_KIND)


# ------------------------------------------------------------------------------------ the recognizer


@needs_font
def test_recognizer_fuses_only_unsure_lines_and_a_call_can_turn_it_off():
    crops = [render(t) for t in LINES]
    everything = TextRecognizer(threads=1, views=2, view_threshold=1.0)  # every line is "unsure"
    fused = everything.recognize(crops)
    assert [r.decoder for r in fused] == [VIEWS_KIND] * len(crops)
    for r in fused:
        assert 0.0 <= r.confidence <= 1.0 and len(r.char_frames) in (0, len(r.text))
        assert r.word_confidences is None or len(r.word_confidences) == len(split_words(r.text))
    plain = everything.recognize(crops, views=0)
    assert VIEWS_KIND not in [r.decoder for r in plain]
    # the fused lines are the vote of the plain reading and the views read apart (in one call, as it batches them)
    again = everything.recognize([VIEWS[name](c) for name in ("pad5", "wide115") for c in crops], views=0)
    n = len(crops)
    want = [fuse_readings([p, again[i], again[n + i]], everything.calibration) for i, p in enumerate(plain)]
    assert [f.text for f in fused] == [w.text for w in want]
    assert [f.confidence for f in fused] == pytest.approx([w.confidence for w in want])
    assert sum(f.text != p.text for f, p in zip(fused, plain)) >= 1  # these lines are hard enough to differ
    nothing = TextRecognizer(threads=1, views=2, view_threshold=0.0)  # no line is below 0
    assert [r.text for r in nothing.recognize(crops)] == [r.text for r in plain]
    with pytest.raises(ConfigError):
        TextRecognizer(threads=1, views=2, view_threshold=1.5)


class RecordingRecognizer:
    views = ("pad5",)

    def __init__(self):
        self.calls = []

    def recognize(self, crops, decoder=None, **kwargs):
        self.calls.append(kwargs)
        return [("x", 1.0) for _ in crops]


def test_batched_recognizer_passes_the_views_setting_on():
    inner = RecordingRecognizer()
    batched = BatchedRecognizer(inner, BatcherConfig(max_batch_size=8, max_wait_ms=1))
    try:
        crop = np.zeros((32, 100), np.uint8)
        assert len(batched.recognize([crop, crop])) == 2
        assert len(batched.recognize([crop], views=0)) == 1
        assert batched.views == ("pad5",)  # settings come from the wrapped recognizer
    finally:
        batched.close()
    assert inner.calls == [{}, {"views": 0}]


# ------------------------------------------------------------------------------------ pipeline and CLI


def test_pipeline_setting_reaches_the_recognizer_and_the_metadata():
    ocr = OCR(threads=1, views=2)
    assert ocr.recognizer.views == ("pad5", "wide115")
    assert ocr.metadata()["views"] == 2 and "views" not in OCR(threads=1).metadata()
    with pytest.raises(ConfigError, match="views"):
        OCR(views=7)
    for bad in (1.5, -0.1, True, "0.5"):
        with pytest.raises(ConfigError, match=r"view_threshold must be within \[0, 1\]"):
            OCR(view_threshold=bad)


def test_sample_receipt_reads_with_views():
    from rapidfuzz.distance import Levenshtein

    want = "".join((REPO / "examples" / "receipt_sample.txt").read_text("utf-8").split())
    got = "".join(OCR(threads=1, views=2).read(REPO / "examples" / "receipt_sample.png").render().split())
    assert Levenshtein.distance(got, want) / len(want) <= 0.05


def test_cli_views_flag(capsys):
    assert cli.main(["read", str(REPO / "examples" / "receipt_sample.png"), "--views", "2"]) == 0
    assert "TOTAL" in capsys.readouterr().out
    assert cli.main(["read", str(REPO / "examples" / "receipt_sample.png"), "--views", "9"]) == 2
    assert "--views: invalid choice" in capsys.readouterr().err


def test_serve_and_batch_options_carry_views():
    import argparse

    from ocrforge.batch import cli as batch_cli
    from ocrforge.serving import cli as serving_cli

    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers()
    serving_cli.add_parser(sub)
    batch_cli.add_parser(sub)
    options = serving_cli.ocr_options_from_args(ap.parse_args(["serve", "--views", "2"]), None)
    assert options.views == 2 and options.pipeline_kwargs()["views"] == 2
    assert ap.parse_args(["batch", "in", "-o", "out", "--views", "1"]).views == 1
    assert serving_cli.ocr_options_from_args(ap.parse_args(["serve"]), None).views == 0


# ------------------------------------------------------------------------------------ the benchmark


@needs_font
def test_views_benchmark_reports_and_fits(tmp_path, load_bench):
    bench = load_bench("bench_views")
    out = tmp_path / "views.json"
    assert bench.main(["--sroie-lines", "0", "--zh-lines", "10", "--zh-real-lines", "10", "--views", "0,2",
                       "--threads", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["sets"]) == {"zh_bills", "zh_real"}
    for rows in report["sets"].values():
        assert set(rows) == {"0", "2"}
        assert rows["0"]["fused_share"] == 0.0 and rows["2"]["views"] == ["pad5", "wide115"]
        for row in rows.values():
            assert 0.0 <= row["cer"] < 0.2 and 0.0 <= row["line_ece"] <= 1.0 and row["cpu_s"] > 0
    # fitting refuses the held-out sets, and writes maps that load into the model's calibration
    cal_file = tmp_path / "rec.calib.json"
    shutil.copy(calibration_path(DEFAULT_MODEL), cal_file)
    assert bench.main(["--fit-calibration", str(cal_file), "--sroie-lines", "0", "--zh-lines", "10"]) == 2
    assert bench.main(["--fit-calibration", str(cal_file), "--sroie-lines", "0", "--zh-lines", "40", "--zh-seed", "7",
                       "--zh-real-lines", "40", "--zh-real-skip", "2000", "--method", "temperature",
                       "--threads", "1"]) == 0
    cal = ReadingCalibration.load(cal_file, model_path=DEFAULT_MODEL)
    assert cal.covers(VIEWS_KIND) and cal.info["views_fit"]["fitted_on"]["zh_seed"] == 7
    assert cal.decoders[VIEWS_KIND]["line"]["cjk"].to_dict()["method"] == "temperature"
    assert bench.main(["--views", "0,9", "--sroie-lines", "0"]) == 2
