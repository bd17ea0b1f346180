"""Character n-gram LM: estimation is normalized, pruning keeps it normalized, storage round-trips,
the CLI builds a model, the corpus builder is deterministic, and the shipped model knows zh + en."""

import math

import numpy as np
import pytest

from ocrforge.errors import ConfigError, ModelError
from ocrforge.postprocess.lm import (EOS, TOKEN_OFFSET, BuildConfig, CharNgramLM, InterpolatedLM, LMHistory,
                                     build_lm, default_lm_path, load_lm, word_list_lm)

LINES = ["我已经到了", "已经完成了", "自己的事情", "我自己来", "TOTAL 12.50", "Total 3.00", "SUBTOTAL 9.90",
         "已经", "hello world", "有限公司", "科技有限公司"] * 4 + ["abc", "zzz", "RM 5.00"]


def _hist(text, width):
    h = LMHistory.start(1, width)
    for ch in text:
        h = h.extend(np.array([ord(ch) + TOKEN_OFFSET], np.uint64))
    return h


@pytest.fixture(scope="module")
def small_lm():
    return build_lm(LINES, BuildConfig(order=4, vocab_floor=200))


@pytest.mark.parametrize("prune", [(1,), (2,), (2, 3, 4)])
@pytest.mark.parametrize("context", ["", "我", "我已", "自己的", "TOT", "xyz", "有限公"])
def test_distribution_sums_to_one(prune, context):
    lm = build_lm(LINES, BuildConfig(order=4, vocab_floor=200, prune=prune))
    seen = sorted(set("".join(LINES)))
    toks = [ord(c) + TOKEN_OFFSET for c in seen] + [EOS]
    toks += [0xE000 + TOKEN_OFFSET + i for i in range(200 - len(toks))]  # unseen characters
    lp = lm.logprob(_hist(context, 3), np.array([toks], np.uint64))[0]
    assert np.exp(lp).sum() == pytest.approx(1.0, abs=2e-3)


def test_prefers_seen_words(small_lm):
    assert small_lm.score_text("我已经到了") > small_lm.score_text("我己经到了") + 2
    assert small_lm.score_text("TOTAL 12.50") > small_lm.score_text("T0TAL 12.50") + 2
    assert small_lm.perplexity(["已经完成了"]) < small_lm.perplexity(["了成完经已"])


def test_pruning_shrinks_model():
    full = build_lm(LINES, BuildConfig(order=4))
    pruned = build_lm(LINES, BuildConfig(order=4, prune=(5,)))
    capped = build_lm(LINES, BuildConfig(order=4, max_ngrams=120))
    assert sum(pruned.num_ngrams) < sum(full.num_ngrams)
    assert sum(capped.num_ngrams) <= 120
    assert pruned.num_ngrams[0] == full.num_ngrams[0]  # unigrams are never pruned


def test_save_load_roundtrip(tmp_path, small_lm):
    path = small_lm.save(tmp_path / "m.bin")
    again = CharNgramLM.load(path)
    assert again.order == small_lm.order and again.num_ngrams == small_lm.num_ngrams
    for s in ["我已经", "TOTAL", "zzz?"]:
        assert again.score_text(s) == pytest.approx(small_lm.score_text(s), abs=0.05)  # float16 storage


def test_load_errors(tmp_path):
    with pytest.raises(ModelError):
        CharNgramLM.load(tmp_path / "missing.bin")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError):
        CharNgramLM.load(bad)


def test_bad_build_config():
    with pytest.raises(ConfigError):
        build_lm(LINES, BuildConfig(order=0))
    with pytest.raises(ConfigError):
        build_lm([], BuildConfig(order=3))
    with pytest.raises(ConfigError):
        build_lm(LINES, BuildConfig(order=3, prune=(0,)))


def test_word_list_interpolation_raises_product_names(small_lm):
    words = word_list_lm(["巧克力蛋糕", "MILO DINOSAUR"])
    mixed = InterpolatedLM([small_lm, words], [1.0, 0.3])
    h = _hist("巧克力蛋", mixed.history_width)
    tok = np.array([[ord("糕") + TOKEN_OFFSET]], np.uint64)
    assert mixed.logprob(h, tok)[0, 0] > small_lm.logprob(h, tok)[0, 0] + 1.0
    with pytest.raises(ConfigError):
        word_list_lm(["", "  "])
    with pytest.raises(ConfigError):
        InterpolatedLM([small_lm], [0.0])


def test_cli_build_and_errors(tmp_path, capsys):
    from ocrforge.postprocess.lm_cli import main

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(LINES), encoding="utf-8")
    out = tmp_path / "lm.bin"
    assert main(["lm", "build", "--corpus", str(corpus), "--order", "3", "--out", str(out)]) == 0
    lm = CharNgramLM.load(out)
    assert lm.order == 3 and lm.meta["corpus"] == ["c.txt"]
    assert main(["lm", "info", str(out)]) == 0
    assert "order 3" in capsys.readouterr().out
    rc = main(["lm", "build", "--corpus", str(tmp_path / "nope.txt"), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and len(err.splitlines()) == 1 and "nope.txt" in err


def test_corpus_is_deterministic_and_in_charset():
    from ocrforge.data.lm_corpus import CorpusConfig, generate
    from ocrforge.recognition.charset import load_charset

    cfg = CorpusConfig(seed=3, scale=0.0005)
    a, b = list(generate(cfg)), list(generate(cfg))
    assert a == b and len(a) > 300
    cs = load_charset()
    assert all(ch in cs for line in a for ch in line)
    text = "".join(a)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text) and any(ch.isascii() and ch.isalpha() for ch in text)


shipped = pytest.mark.skipif(not default_lm_path().exists(), reason="shipped LM not built yet")


@shipped
def test_shipped_model_knows_zh_and_en():
    lm = load_lm()
    assert default_lm_path().stat().st_size <= 10 * 1024 * 1024
    assert lm.order >= 3
    for good, bad in [("我已经到了", "我己经到了"), ("自己的", "自已的"), ("有限公司", "有限工司"),
                      ("TOTAL", "T0TAL"), ("CHANGE 0.00", "CHANGE O.OO"), ("未来", "末来")]:
        assert lm.score_text(good) > lm.score_text(bad), (good, bad)
    assert math.isfinite(lm.unk_logp)
