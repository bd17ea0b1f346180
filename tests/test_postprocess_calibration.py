"""Calibration: fitted maps lower the ECE of over-confident scores, stay monotone, and round-trip as JSON."""

import numpy as np
import pytest

from ocrforge.errors import ConfigError, ModelError
from ocrforge.postprocess.calibration import (CALIBRATORS, TemperatureCalibrator, calibration_path,
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


# ------------------------------------------------------------------------------------------------
# The reading path's calibration (per decoder kind, level and script group) and the shipped file

import json  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

from ocrforge.postprocess.calibration import (GROUPS, LEVELS, ReadingCalibration, active_groups, line_group,  # noqa: E402
                                              resolve_calibration, word_outcomes, word_score)

MODELS = Path(__file__).resolve().parents[1] / "ocrforge" / "models"
SHIPPED_MODEL = MODELS / "rec_crnn_mobilenetv3_small_int8.onnx"  # OCR()'s default
SHIPPED_CALIB = MODELS / "rec_crnn_mobilenetv3_small_int8.calib.json"
# the default and its FP32 original: each carries its own calibration, fitted on its own scores
SHIPPED_PAIRS = [(SHIPPED_MODEL, SHIPPED_CALIB),
                 (MODELS / "rec_crnn_mobilenetv3_small.onnx", MODELS / "rec_crnn_mobilenetv3_small.calib.json")]
KINDS = ("greedy", "beam", "beam_lm", "auto")


def _outcomes(seed=0, n=3000):
    """Two groups that need different maps: the CJK one is right far less often at the same score."""
    s, y = overconfident(n, seed)
    rng = np.random.default_rng(seed + 1)
    s2 = rng.uniform(0.5, 1.0, n // 3)
    y2 = rng.random(n // 3) < (s2 - 0.5)  # P(right) climbs from 0 to 0.5
    both = {"other": (s, y), "cjk": (s2, y2)}
    return {k: {lv: both for lv in LEVELS} for k in KINDS}


@pytest.mark.parametrize("method", sorted(CALIBRATORS))
def test_reading_calibration_fits_each_group_and_roundtrips(tmp_path, method):
    cal = ReadingCalibration.fit(_outcomes(), method, min_cjk_chars=3, fitted_on="synthetic")
    s2 = np.linspace(0.55, 0.95, 5)
    cjk = cal.decoders["greedy"]["line"]["cjk"](s2)
    other = cal.decoders["greedy"]["line"]["other"](s2)
    assert np.all(cjk < other - 0.1)  # the CJK map is lower: the groups were fitted apart
    assert abs(cjk[-1] - 0.45) < 0.12  # and close to the truth there (P = s - 0.5)
    # a line's group decides its map: 3 CJK characters make a Chinese line
    assert line_group("合计12.00") == "other" and line_group("开票日期") == "cjk"
    assert cal.line("greedy", "开票日期", 0.9) == pytest.approx(float(cal.decoders["greedy"]["line"]["cjk"](np.array([0.9]))[0]))
    path = cal.save(tmp_path / "x.calib.json")
    again = ReadingCalibration.load(path)
    assert again.min_cjk_chars == 3 and again.info["fitted_on"] == "synthetic"
    for k in KINDS:
        for lv in LEVELS:
            for g in active_groups(None):
                assert np.allclose(again.decoders[k][lv][g](s2), cal.decoders[k][lv][g](s2))


def test_long_chinese_lines_get_their_own_map_and_old_files_still_load(tmp_path):
    rng = np.random.default_rng(3)
    s = rng.uniform(0.5, 1.0, 3000)
    short_right = rng.random(3000) < s  # short lines: right about as often as the score says
    long_right = rng.random(3000) < (s - 0.5) * 1.2  # long lines at the same score: far less often
    groups = {"other": overconfident(2000, 1), "cjk": (s, short_right), "cjk_long": (s, long_right)}
    outs = {k: {lv: groups for lv in LEVELS} for k in KINDS}
    cal = ReadingCalibration.fit(outs, "isotonic", min_cjk_chars=3, long_cjk_chars=8)
    assert line_group("开票日期", 3, 8) == "cjk" and line_group("国家统计局今天发布了十月份数据", 3, 8) == "cjk_long"
    assert line_group("TOTAL 12.00", 3, 8) == "other" and line_group("国家统计局今天发布了十月份数据") == "cjk"
    assert cal.line("greedy", "国家统计局今天发布了十月份数据", 0.9) < cal.line("greedy", "开票日期", 0.9) - 0.2
    again = ReadingCalibration.load(cal.save(tmp_path / "x.calib.json"))
    assert again.long_cjk_chars == 8 and set(again.decoders["greedy"]["line"]) == set(GROUPS)
    assert again.line("greedy", "国家统计局今天发布了十月份数据", 0.9) == pytest.approx(cal.line("greedy", "国家统计局今天发布了十月份数据", 0.9))
    # a file written before the long group existed: no "cjk_long" maps, long lines read with "cjk"
    d = json.loads((tmp_path / "x.calib.json").read_text())
    del d["long_cjk_chars"]
    for levels in d["decoders"].values():
        for maps in levels.values():
            del maps["cjk_long"]
    (tmp_path / "old.calib.json").write_text(json.dumps(d))
    old = ReadingCalibration.load(tmp_path / "old.calib.json")
    assert old.long_cjk_chars is None and old.group("国家统计局今天发布了十月份数据") == "cjk"
    assert old.line("greedy", "国家统计局今天发布了十月份数据", 0.9) == pytest.approx(cal.line("greedy", "开票日期", 0.9))
    with pytest.raises(ConfigError, match="must exceed"):
        ReadingCalibration.fit(outs, "isotonic", min_cjk_chars=3, long_cjk_chars=3)
    d["long_cjk_chars"] = 2
    (tmp_path / "bad.calib.json").write_text(json.dumps(d))
    with pytest.raises(ModelError, match="unreadable calibration file"):
        ReadingCalibration.load(tmp_path / "bad.calib.json")


def test_small_group_falls_back_to_the_pooled_map():
    outs = _outcomes()
    for k in KINDS:
        for lv in LEVELS:
            outs[k][lv] = {"other": outs[k][lv]["other"], "cjk": ([0.9] * 5, [True] * 5)}
    cal = ReadingCalibration.fit(outs, "isotonic")
    assert "greedy/line/cjk" in cal.info["pooled"] and "greedy/line/other" not in cal.info["pooled"]
    with pytest.raises(ConfigError):
        ReadingCalibration.fit({"greedy": {lv: {"other": ([0.9] * 50, [True] * 50)} for lv in LEVELS}}, "isotonic")


def test_word_outcomes_align_whole_words():
    scores, ok = word_outcomes("TOTAL RM 12.5O", [0.9] * 9 + [0.8] * 4 + [0.4], "Total RM 12.50", casefold=True)
    assert ok == [True, True, False]  # case ignored; the misread amount is wrong
    assert scores == [0.9, 0.9, 0.4]  # a word scores its weakest character
    assert word_outcomes("ab", [0.9], "ab") == ([], [])  # no per-character scores: no words
    assert word_outcomes("合计 EXTRA 12", [0.9] * 11, "合计 12")[1] == [True, False, True]  # an inserted word
    assert word_score([0.7, 0.2, 0.9]) == 0.2


def _write(tmp_path, d, name="rec_x.calib.json"):
    p = tmp_path / name
    p.write_text(json.dumps(d), encoding="utf-8")
    return p


def test_damaged_or_foreign_files_are_errors_and_missing_ones_mean_raw(tmp_path):
    good = ReadingCalibration.fit(_outcomes(), "isotonic").to_dict()
    model = tmp_path / "rec_x.onnx"
    model.write_bytes(b"not really a model")
    # no file beside the model: raw scores, and the reason is said
    cal, note = resolve_calibration("auto", model)
    assert cal is None and "rec_x.calib.json" in note and "raw" in note
    assert resolve_calibration("none", model)[0] is None
    with pytest.raises(ModelError, match="not found"):
        resolve_calibration(tmp_path / "absent.json", model)
    # unreadable, wrong format, a map that goes down, knots outside [0, 1]
    bad_json = tmp_path / "rec_x.calib.json"
    bad_json.write_text("{nope", encoding="utf-8")
    with pytest.raises(ModelError, match="unreadable calibration file"):
        resolve_calibration("auto", model)
    with pytest.raises(ModelError, match="unreadable"):
        ReadingCalibration.load(_write(tmp_path, {"method": "isotonic", "x": [0, 1], "y": [0, 1]}))
    down = json.loads(json.dumps(good))
    down["decoders"]["greedy"]["line"]["other"].update(method="isotonic", x=[0.1, 0.5, 0.9], y=[0.9, 0.5, 0.1])
    with pytest.raises(ModelError, match="not increasing"):
        ReadingCalibration.load(_write(tmp_path, down))
    outside = json.loads(json.dumps(good))
    outside["decoders"]["beam"]["word"]["cjk"].update(method="isotonic", x=[0.1, 0.9], y=[0.2, 1.5])
    with pytest.raises(ModelError, match="not increasing within"):
        ReadingCalibration.load(_write(tmp_path, outside))
    missing_group = json.loads(json.dumps(good))
    del missing_group["decoders"]["auto"]["line"]["cjk"]
    with pytest.raises(ModelError, match="unreadable"):
        ReadingCalibration.load(_write(tmp_path, missing_group))
    # fitted for another model
    foreign = dict(good, model="rec_x.onnx", model_sha256="0" * 64)
    with pytest.raises(ModelError, match="another model"):
        resolve_calibration("auto", _write(tmp_path, foreign).parent / "rec_x.onnx")


@pytest.mark.parametrize("model,calib", SHIPPED_PAIRS, ids=lambda p: p.name)
def test_shipped_calibration_loads_matches_its_model_and_is_monotone(model, calib):
    assert calib.is_file(), f"the shipped recognizer's calibration file {calib.name} is missing"
    cal = ReadingCalibration.load(calib, model_path=model)  # checks the model's sha256
    # every decoder kind, and the lines view fusion read (benchmarks/bench_views.py, fitted on training data too)
    assert set(cal.decoders) == set(KINDS) | {"views"}
    from ocrforge.postprocess.calibration import DEFAULT_LINE_SCORES

    assert cal.line_scores == DEFAULT_LINE_SCORES  # refitted with greedy's weakest-character line score
    assert cal.info["fitted_on"]["sroie_split"] == "mod:5:1,2,3" and cal.info["fitted_on"]["zh_seed"] != 12345
    views_fit = cal.info["views_fit"]["fitted_on"]
    assert views_fit["sroie_split"] == "mod:5:1,2,3" and views_fit["zh_seed"] != 12345 and views_fit["zh_real_skip"] >= 2000
    grid = np.linspace(0.0, 1.0, 201)
    for k in list(KINDS) + ["views"]:
        for lv in LEVELS:
            for g in active_groups(cal.long_cjk_chars):
                out = cal.decoders[k][lv][g](grid)
                assert np.all(np.diff(out) >= -1e-12), (k, lv, g)
                assert out.min() >= 0.0 and out.max() <= 1.0
                assert out[-1] - out[0] > 0.2, (k, lv, g)  # a useful map, not a constant
    # greedy's maps read the weakest character (line_scores): at the same raw score one unsure
    # character pulls a line down, most for the long lines an average hides it in
    for text in ("增值税普通发票", "TOTAL 12.00", "国家统计局今天发布了十月份数据"):
        n = len(text)
        assert cal.line("greedy", text, 0.9, [0.95] * (n - 1) + [0.3]) < cal.line("greedy", text, 0.9, [0.9] * n) - 0.15
    # each script group has its own map and a line is read through its script's
    maps = cal.decoders["greedy"]["line"]
    assert not np.allclose(maps["cjk"](grid), maps["other"](grid))
    for text, group in (("增值税普通发票", "cjk"), ("TOTAL 12.00", "other")):
        # crisp characters all equal: the weakest character's score is the raw score
        assert ([cal.line("greedy", text, v, [v] * len(text)) for v in (0.3, 0.6, 0.9)]
                == pytest.approx(list(maps[group](np.array([0.3, 0.6, 0.9])))))


@pytest.mark.parametrize("other_model", ["rec_crnn_mobilenetv3_small_latin.onnx", "rec_crnn_mobilenetv3_small.onnx"])
def test_shipped_calibration_copied_beside_another_model_is_refused(tmp_path, other_model):
    # the FP32 original is "another model" too: its scores differ from the INT8 head's
    other = tmp_path / "rec_other.onnx"
    shutil.copy(MODELS / other_model, other)
    shutil.copy(SHIPPED_CALIB, tmp_path / "rec_other.calib.json")
    with pytest.raises(ModelError, match="another model"):
        resolve_calibration("auto", other)


def test_weakest_char_score_is_greedys_weakest_peak_times_its_blank_confidence():
    from ocrforge.postprocess.calibration import LINE_SCORES
    from ocrforge.postprocess.ctc import greedy_decode
    from ocrforge.recognition.charset import load_charset

    charset = load_charset("latin_v1")
    rng = np.random.default_rng(1)
    # frames alternate blank and a character, each frame's winner at a random peak, the rest spread thin
    winners = [0 if t % 2 == 0 else int(rng.integers(1, charset.num_classes)) for t in range(40)]
    probs = np.full((40, charset.num_classes), 1e-4, np.float32)
    for t, c in enumerate(winners):
        probs[t, c] = rng.uniform(0.4, 0.99)
    probs /= probs.sum(1, keepdims=True)
    r = greedy_decode(probs, charset)
    best = probs.argmax(1)
    blank_mean = probs.max(1)[best == 0].mean()
    assert len(r.char_scores) > 3
    assert LINE_SCORES["weakest_char"](r.confidence, r.char_scores) == pytest.approx(min(r.char_scores) * blank_mean, rel=1e-5)
    assert LINE_SCORES["weakest_char"](0.7, []) == 0.7 and LINE_SCORES["decoder"](0.7, [0.1]) == 0.7


def test_weakest_char_line_score_calibrates_lines_an_average_hides(tmp_path):
    from ocrforge.postprocess.calibration import DEFAULT_LINE_SCORES, fit_reading_calibration, reading_outcomes
    from ocrforge.postprocess.synthetic import one_weak_character_readings

    # fitted on short lines, read on long ones (bill labels vs news clauses): a map of the average
    # learnt where one weak character weighs a lot says "sure" where it weighs little
    fit_r, fit_refs = one_weak_character_readings(3000, seed=0, lengths=(2, 7))
    ev_r, ev_refs = one_weak_character_readings(3000, seed=1, lengths=(20, 31))
    errors = {}
    for score in ("decoder", "weakest_char"):
        cal = fit_reading_calibration([({"greedy": fit_r}, fit_refs, False)], line_scores={"greedy": score})
        assert cal.line_scores == {"greedy": score}
        conf = [cal.line("greedy", r.text, r.confidence, r.char_scores) for r in ev_r]
        right = reading_outcomes(ev_r, ev_refs, False)["line"][1]
        errors[score] = ece(conf, right)
    assert errors["weakest_char"] < 0.03 and errors["decoder"] > errors["weakest_char"] + 0.03, errors
    # the default is what the reader ships; it survives a save and load, and files without it read raw scores
    cal = fit_reading_calibration([({"greedy": fit_r}, fit_refs, False)])
    assert cal.line_scores == DEFAULT_LINE_SCORES == {"greedy": "weakest_char"}
    path = cal.save(tmp_path / "x.calib.json")
    again = ReadingCalibration.load(path)
    r = ev_r[0]
    assert again.line_scores == DEFAULT_LINE_SCORES
    assert again.line("greedy", r.text, r.confidence, r.char_scores) == pytest.approx(cal.line("greedy", r.text, r.confidence, r.char_scores))
    d = json.loads(path.read_text())
    del d["line_scores"]
    old = ReadingCalibration.load(_write(tmp_path, d, "old.calib.json"))
    assert old.line_scores == {}
    assert old.line("greedy", r.text, r.confidence, r.char_scores) == pytest.approx(old.line("greedy", r.text, r.confidence))
    d["line_scores"] = {"greedy": "loudest_char"}
    with pytest.raises(ModelError, match="unknown line score"):
        ReadingCalibration.load(_write(tmp_path, d, "bad.calib.json"))
    with pytest.raises(ConfigError, match="unknown line score"):
        fit_reading_calibration([({"greedy": fit_r}, fit_refs, False)], line_scores={"greedy": "loudest_char"})
