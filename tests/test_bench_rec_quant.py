"""benchmarks/bench_rec_quant.py (FP32 vs INT8 recognizer on rendered Chinese lines: parity, CER, speed),
bench_zh_faces.py (real text in every Chinese face) and bench_calibration_groups.py, run small."""

import json
from pathlib import Path

import pytest

NOTO = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


@pytest.mark.skipif(not NOTO.exists(), reason="fonts-noto-cjk not installed")
def test_parity_report_on_chinese_sets(tmp_path, load_bench):
    from ocrforge.recognition.predictor import DEFAULT_MODEL, FP32_MODEL

    bench = load_bench("bench_rec_quant")
    out = tmp_path / "quant.json"
    assert bench.main(["--fp32", str(FP32_MODEL), "--int8", str(DEFAULT_MODEL), "--limit", "0", "--zh-lines", "8",
                       "--repeats", "1", "--threads", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report) == {"zh_bills", "zh_real"}
    for row in report.values():
        assert 5 <= row["lines"] <= 8  # texts the charset covers
        assert 0.0 <= row["same_text"] <= 1.0
        assert row["fp32"]["cer"] < 0.2 and row["int8"]["cer"] < 0.2  # the shipped pair reads these lines
        assert row["fp32"]["lines_per_s"] > 0 and row["int8"]["lines_per_s"] > 0
    # the same model twice agrees with itself on every line
    assert bench.main(["--fp32", str(FP32_MODEL), "--int8", str(FP32_MODEL), "--limit", "0", "--zh-lines", "4",
                       "--repeats", "1", "--threads", "1", "--out", str(out)]) == 0
    assert all(row["same_text"] == 1.0 for row in json.loads(out.read_text()).values())


@pytest.mark.skipif(not NOTO.exists(), reason="fonts-noto-cjk not installed")
def test_faces_report_reads_real_text_in_training_and_held_out_faces(tmp_path, load_bench):
    bench = load_bench("bench_zh_faces")
    out = tmp_path / "faces.json"
    assert bench.main(["--lines", "6", "--threads", "1", "--faces", "NotoSansCJK-Regular", "wqy-microhei",
                       "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert {r["held_out"] for r in rows} == {True, False}  # both kinds of face were read
    for r in rows:
        assert 4 <= r["lines"] <= 6 and 0.0 <= r["cer"] < 0.3
    assert bench.main(["--lines", "2", "--faces", "no-such-face"]) == 1  # nothing read is a failure


@pytest.mark.skipif(not NOTO.exists(), reason="fonts-noto-cjk not installed")
def test_calibration_groups_report(tmp_path, load_bench):
    bench = load_bench("bench_calibration_groups")
    out = tmp_path / "groups.json"
    assert bench.main(["--fit-lines", "40", "--eval-lines", "20", "--cuts", "8", "--threads", "1", "--out", str(out)]) == 0
    r = json.loads(out.read_text())
    assert r["fit_lines"] >= 60 and set(r["eval_lines"]) == {"bills", "real"}
    for key in ("pooled", "split_8"):
        assert set(r[key]) == {"bills", "real"} and all(0.0 <= v <= 1.0 for v in r[key].values())
    assert set(r["shipped_grouping"]) == {"cjk", "cjk_split_8"}
    assert r["bills_without_chinese"]["lines"] >= 0
