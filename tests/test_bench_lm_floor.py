"""benchmarks/bench_lm_floor.py scores each floor on the same posteriors and splits uniform-GB2312 lines out."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_sweep_reports_each_floor_and_the_rare_split():
    import bench_lm_floor as bench
    from ocrforge.postprocess.lm import BuildConfig, build_lm
    from ocrforge.postprocess.synthetic import spell_posteriors
    from ocrforge.recognition.charset import load_charset

    cs = load_charset()
    corpus = ["我已经到了公司", "他已经完成了", "自己的事情自己做", "有限公司", "科技有限公司", "TOTAL 120.50"] * 5
    lm = build_lm(corpus, BuildConfig(order=4, vocab_floor=7040))
    texts = ["王巳", "有限公司", "我已经到了"]
    kinds = ["zh_rare", "zh_bill", "zh_news"]
    probs = [spell_posteriors("王巳", cs, {1: ("已", 0.2)}), spell_posteriors("有限公司", cs, {2: ("工", 0.6)}),
             spell_posteriors("我已经到了", cs)]
    row = bench.sweep("synth", texts, probs, [None, -5.0], lm, cs, kinds)
    assert row["lines"] == 3 and row["greedy"] > 0  # greedy reads 工
    plain, floored = row["auto floor=None"], row["auto floor=-5.0"]
    assert floored["zh_rare"] == 0.0 < plain["zh_rare"]  # the floor keeps the sure rare character
    assert floored["rest"] == plain["rest"] == 0.0  # and the LM still fixes 工 -> 司
    with pytest.raises(SystemExit):
        bench.main(["--sets", "nowhere"])
