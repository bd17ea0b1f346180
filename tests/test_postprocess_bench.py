"""The decoding benchmark runs end to end on synthetic posteriors (the real run needs the shipped
recognizer) and reports what BENCHMARKS.md needs: CER per decoder, times, fusion, calibration."""

import json

import pytest

from ocrforge.postprocess.lm import BuildConfig, build_lm


def test_bench_on_fakes(tmp_path, load_bench):
    bench = load_bench("bench_decoding")
    zh = bench.zh_texts(60)
    lm = build_lm(zh * 3 + ["TOTAL 12.50", "CASH 20.00"] * 20, BuildConfig(order=4)).save(tmp_path / "lm.bin")
    # fit a calibration on other Chinese lines (another seed), then report with it on the held-out ones
    calib = tmp_path / "fake.calib.json"
    assert bench.main(["--fake", "--sroie", str(tmp_path / "none"), "--zh-lines", "200", "--zh-seed", "7",
                       "--lm", str(lm), "--fit-calibration", str(calib)]) == 0
    fitted = json.loads(calib.read_text(encoding="utf-8"))
    assert fitted["fitted_on"]["zh_seed"] == 7 and set(fitted["decoders"]) == {"greedy", "beam", "beam_lm", "auto"}
    out = tmp_path / "r.json"
    rc = bench.main(["--fake", "--sroie", str(tmp_path / "none"), "--zh-lines", "60", "--lm", str(lm),
                     "--out", str(out), "--fusion-threshold", "0.95", "--calibration", str(calib)])
    assert rc == 0
    rep = json.loads(out.read_text(encoding="utf-8"))
    zh_set = rep["sets"]["zh"]
    assert zh_set["lines"] > 40
    assert zh_set["greedy"]["cer"] > 0.01
    assert zh_set["beam_lm"]["cer"] < zh_set["greedy"]["cer"]
    assert zh_set["greedy"]["cer_case_insensitive"] <= zh_set["greedy"]["cer"]  # folding case never adds an error
    assert "cer_case_insensitive_relative_reduction" in zh_set["beam_lm_vs_greedy"]
    fusion = zh_set["fusion"]
    assert fusion["low_conf_lines"] > 0
    # every reading of the low-confidence lines, the unfused beam + LM among them, with and without case
    assert {"cer_before", "cer_beam_lm_before", "cer_fused_greedy", "cer_fused_beam_lm", "cer_second_model_beam_lm",
            "cer_voted_beam_lm"} <= set(fusion)
    assert set(fusion["cer_case_insensitive"]) == {"before", "beam_lm_before", "fused_greedy", "fused_beam_lm",
                                                   "second_model_beam_lm", "voted_beam_lm"}
    assert fusion["cer_beam_lm_before"] < fusion["cer_before"]  # the fakes' look-alikes: the LM fixes some
    # a vote takes each disputed slot from one of the two readings: here it lands no worse than the worse one
    assert fusion["cer_voted_beam_lm"] <= max(fusion["cer_beam_lm_before"], fusion["cer_second_model_beam_lm"])
    assert fusion["vote_weights"] == "calibrated"  # the run has a calibration, and the fakes share it
    line = zh_set["greedy"]["calibration"]["line"]
    assert {"ece_raw", "ece_calibrated", "thresholds", "thresholds_raw"} <= set(line)
    assert line["ece_calibrated"] < line["ece_raw"]  # the fake scores over-claim; the fitted map corrects them
    assert [r["threshold"] for r in line["thresholds"]] == list(bench.THRESHOLDS)
    assert "ece_calibrated" in zh_set["greedy"]["calibration"]["word"]


def test_bench_refuses_to_fit_on_held_out_data(tmp_path, load_bench):
    bench = load_bench("bench_decoding")
    assert bench.main(["--fake", "--sroie", str(tmp_path), "--zh-lines", "50", "--fit-calibration",
                       str(tmp_path / "c.json")]) == 2  # --zh-seed 12345 is the held-out Chinese set
    (tmp_path / "box").mkdir()
    assert bench.main(["--fake", "--sroie", str(tmp_path), "--zh-lines", "0", "--split", "mod:5:3,4",
                       "--fit-calibration", str(tmp_path / "c.json")]) == 2
    assert bench.main(["--fake", "--sroie", str(tmp_path / "none"), "--zh-lines", "0", "--zh-real-lines", "20",
                       "--fit-calibration", str(tmp_path / "c.json")]) == 2  # the evaluation clauses
    assert not (tmp_path / "c.json").exists()
    assert bench.main(["--fake", "--sroie", str(tmp_path / "none"), "--zh-lines", "0", "--zh-real-lines", "60",
                       "--zh-real-skip", str(bench.REAL_EVAL_TEXTS), "--fit-calibration", str(tmp_path / "c.json")]) == 0
    fitted = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))["fitted_on"]
    assert fitted["zh_real_skip"] == bench.REAL_EVAL_TEXTS
    # other sentences (the reviews hold near-duplicates: "性价比高，" recurs) may repeat a clause, no more
    fit_texts = bench.zh_real_texts(60, skip=bench.REAL_EVAL_TEXTS)
    assert len(set(fit_texts) & set(bench.zh_real_texts(bench.REAL_EVAL_TEXTS))) <= 0.2 * len(fit_texts)
    (tmp_path / "c.json").unlink()
    assert not (tmp_path / "c.json").exists()


def test_real_chinese_set_is_held_out_from_the_lm_corpus(tmp_path, load_bench):
    bench = load_bench("bench_decoding")
    from ocrforge.data.lm_corpus import CorpusConfig, generate

    texts = bench.zh_real_texts(40)
    assert len(texts) == 40 and texts == bench.zh_real_texts(40)
    assert all(4 <= len(t) and any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in texts)
    corpus = set(generate(CorpusConfig(seed=0, scale=0.05)))  # includes the first 5 % of the kept sentences' clauses
    assert not corpus & set(texts)
    out = tmp_path / "r.json"
    assert bench.main(["--fake", "--sroie", str(tmp_path / "none"), "--zh-lines", "0", "--zh-real-lines", "30",
                       "--out", str(out), "--calibration", "none"]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["sets"]["zh_real"]["lines"] >= 25


def test_bench_split_and_no_samples(tmp_path, load_bench):
    bench = load_bench("bench_decoding")
    assert bench.parse_split("mod:5:4") == (5, (4,))
    assert bench.parse_split("mod:5:1,2,3") == (5, (1, 2, 3))
    with pytest.raises(SystemExit):
        bench.parse_split("half")
    assert bench.main(["--fake", "--sroie", str(tmp_path), "--zh-lines", "0"]) == 2


def test_sroie_reader(tmp_path, load_bench):
    bench = load_bench("bench_decoding")
    from ocrforge.recognition.charset import load_charset

    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "004.csv").write_text("1,1,50,1,50,20,1,20,TOTAL: 12.50\r\n1,30,50,30,50,50,1,50,RM 3,00\r\n")
    (tmp_path / "box" / "005.csv").write_text("1,1,50,1,50,20,1,20,NOT IN SPLIT\r\n")
    got = bench.sroie_samples(tmp_path, (5, (4,)), 10, load_charset(), load_images=False)
    assert [s.text for s in got] == ["TOTAL: 12.50", "RM 3,00"]
    both = bench.sroie_samples(tmp_path, (5, (0, 4)), 10, load_charset(), load_images=False)
    assert [s.text for s in both] == ["TOTAL: 12.50", "RM 3,00", "NOT IN SPLIT"]


def test_chinese_lines_are_rendered_in_the_simplified_chinese_face(load_bench):
    from pathlib import Path

    bench = load_bench("bench_decoding")
    noto = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"  # collection: JP, KR, SC, TC, ...
    if not Path(noto).exists():
        pytest.skip("fonts-noto-cjk not installed")
    from PIL import ImageFont

    index = bench.simplified_chinese_face(noto)
    assert ImageFont.truetype(noto, 12, index=index).getname()[0] == "Noto Sans CJK SC"
    assert bench.simplified_chinese_face("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf") == 0


def test_decoding_benchmark_votes_over_three_models(tmp_path, load_bench):
    """With two other models the vote has a majority: independent confusions are outvoted where any two agree."""
    bench = load_bench("bench_decoding")
    # an LM of other text, so the look-alike confusions survive decoding and only the vote can fix them
    lm = build_lm(["TOTAL 12.50", "CASH 20.00"] * 20, BuildConfig(order=3)).save(tmp_path / "lm.bin")
    out = tmp_path / "r3.json"
    assert bench.main(["--fake", "--sroie", str(tmp_path / "none"), "--zh-lines", "60", "--lm", str(lm), "--out", str(out),
                       "--fusion-threshold", "0.95", "--calibration", "none", "--fake-fusion-models", "2"]) == 0
    fusion = json.loads(out.read_text(encoding="utf-8"))["sets"]["zh"]["fusion"]
    assert fusion["models"] == 3 and len(fusion["cer_other_models_beam_lm"]) == 2
    assert fusion["vote_weights"] == "raw"
    readings = [fusion["cer_beam_lm_before"]] + fusion["cer_other_models_beam_lm"]
    assert fusion["cer_voted_beam_lm"] < min(readings)
