"""The decoding benchmark runs end to end on synthetic posteriors (the real run needs the shipped
recognizer) and reports what BENCHMARKS.md needs: CER per decoder, times, fusion, calibration."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from ocrforge.postprocess.lm import BuildConfig, build_lm

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_decoding.py"


def _load():
    spec = importlib.util.spec_from_file_location("bench_decoding", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_decoding"] = mod  # dataclasses look their module up while the class is made
    spec.loader.exec_module(mod)
    return mod


def test_bench_on_fakes(tmp_path):
    bench = _load()
    zh = bench.zh_texts(60)
    lm = build_lm(zh * 3 + ["TOTAL 12.50", "CASH 20.00"] * 20, BuildConfig(order=4)).save(tmp_path / "lm.bin")
    out = tmp_path / "r.json"
    rc = bench.main(["--fake", "--sroie", str(tmp_path / "none"), "--zh-lines", "60", "--lm", str(lm),
                     "--out", str(out), "--fusion-threshold", "0.95"])
    assert rc == 0
    rep = json.loads(out.read_text(encoding="utf-8"))
    zh_set = rep["sets"]["zh"]
    assert zh_set["lines"] > 40
    assert zh_set["greedy"]["cer"] > 0.01
    assert zh_set["beam_lm"]["cer"] < zh_set["greedy"]["cer"]
    assert "fusion" in zh_set and zh_set["fusion"]["low_conf_lines"] > 0
    assert {"ece_before", "ece_after", "thresholds"} <= set(zh_set["greedy"]["calibration"])


def test_bench_split_and_no_samples(tmp_path):
    bench = _load()
    assert bench.parse_split("mod:5:4") == (5, 4)
    with pytest.raises(SystemExit):
        bench.parse_split("half")
    assert bench.main(["--fake", "--sroie", str(tmp_path), "--zh-lines", "0"]) == 2


def test_sroie_reader(tmp_path):
    bench = _load()
    from ocrforge.recognition.charset import load_charset

    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "004.csv").write_text("1,1,50,1,50,20,1,20,TOTAL: 12.50\r\n1,30,50,30,50,50,1,50,RM 3,00\r\n")
    (tmp_path / "box" / "005.csv").write_text("1,1,50,1,50,20,1,20,NOT IN SPLIT\r\n")
    got = bench.sroie_samples(tmp_path, (5, 4), 10, load_charset(), load_images=False)
    assert [s.text for s in got] == ["TOTAL: 12.50", "RM 3,00"]
