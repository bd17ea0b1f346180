"""CTC prefix beam search: agrees with greedy on clean input, the LM fixes look-alike confusions
that greedy gets wrong, and the decoder registry builds every kind."""

import numpy as np
import pytest

from ocrforge.errors import ConfigError, InputError
from ocrforge.postprocess.beam import (DECODER_FACTORIES, BeamConfig, BeamSearchDecoder, DecoderOptions,
                                       make_decoder)
from ocrforge.postprocess.ctc import greedy_decode
from ocrforge.postprocess.lm import BuildConfig, build_lm
from ocrforge.postprocess.synthetic import cer, confuse, spell_posteriors
from ocrforge.recognition.charset import load_charset

CORPUS = ["我已经到了公司", "他已经完成了", "自己的事情自己做", "有限公司", "科技有限公司", "未来的日子",
          "TOTAL 120.50", "SUBTOTAL 12.00", "CASH 50.00", "CHANGE 0.50", "TOTAL 8.80", "GST 0.60"] * 5


@pytest.fixture(scope="module")
def cs():
    return load_charset()


@pytest.fixture(scope="module")
def lm():
    return build_lm(CORPUS, BuildConfig(order=4, vocab_floor=7040))


@pytest.mark.parametrize("text", ["TOTAL 120.50", "1100", "我已经到了", "aa  bb", "x"])
def test_beam_without_lm_matches_greedy_on_clean_input(cs, text):
    p = spell_posteriors(text, cs)
    r = BeamSearchDecoder(cs, None, BeamConfig(alpha=0.0, beta=0.0)).decode(p)
    g = greedy_decode(p, cs)
    assert r.text == g.text == text
    assert len(r.char_frames) == len(text)
    assert all(0 <= f < len(p) for f in r.char_frames) and r.char_frames == sorted(r.char_frames)
    assert 0.5 < r.confidence <= 1.0


CASES = [("我已经到了公司", {1: ("己", 0.6)}), ("自己的事情自己做", {1: ("已", 0.6), 6: ("巳", 0.55)}),
         ("有限公司", {2: ("工", 0.6)}), ("未来的日子", {0: ("末", 0.6)}),
         ("TOTAL 120.50", {1: ("0", 0.6), 7: ("Z", 0.6)}), ("CHANGE 0.50", {7: ("O", 0.6)})]


@pytest.mark.parametrize("text,conf", CASES)
def test_lm_fixes_lookalikes_greedy_gets_wrong(cs, lm, text, conf):
    p = spell_posteriors(text, cs, conf)
    assert greedy_decode(p, cs).text != text
    assert BeamSearchDecoder(cs, None, BeamConfig(alpha=0.0, beta=0.0)).decode(p).text != text
    fixed = BeamSearchDecoder(cs, lm, BeamConfig(alpha=0.6, beta=1.0)).decode(p)
    assert fixed.text == text
    assert len(fixed.char_frames) == len(text)


def test_lm_lowers_cer_on_random_confusions(cs, lm):
    rng = np.random.default_rng(1)
    texts = [CORPUS[i] for i in rng.integers(0, 12, 30)]
    posts = [spell_posteriors(t, cs, confuse(t, cs, 0.3, rng), noise=0.01, rng=rng) for t in texts]
    greedy = cer(texts, [greedy_decode(p, cs).text for p in posts])
    beam = cer(texts, [r.text for r in BeamSearchDecoder(cs, lm).decode_batch(posts)])
    assert greedy > 0.05
    assert beam < 0.5 * greedy


def test_blank_skip_does_not_change_result(cs, lm):
    p = spell_posteriors("自己的事情", cs, {1: ("已", 0.6)}, noise=0.001)
    a = BeamSearchDecoder(cs, lm, BeamConfig(blank_skip=0.999)).decode(p)
    b = BeamSearchDecoder(cs, lm, BeamConfig(blank_skip=1.0)).decode(p)
    assert a.text == b.text and a.char_frames == b.char_frames


def test_confidence_drops_when_ambiguous(cs):
    dec = BeamSearchDecoder(cs, None, BeamConfig(alpha=0.0, beta=0.0))
    clean = dec.decode(spell_posteriors("TOTAL", cs))
    vague = dec.decode(spell_posteriors("TOTAL", cs, {1: ("0", 0.45)}))
    assert vague.confidence < clean.confidence - 0.2


def test_lm_confidence_is_the_fused_posterior(cs, lm):
    """With an LM the confidence is the reading's share of the fused score among the final beams: a
    character the LM put right (low peak) does not sink it, an ambiguity the LM cannot settle does."""
    fixed = BeamSearchDecoder(cs, lm).decode(spell_posteriors("自己的事情", cs, {1: ("已", 0.6)}))
    assert fixed.text == "自己的事情" and fixed.confidence > 0.9
    assert len(fixed.char_scores) == 5 and fixed.char_scores[1] < 0.5  # the peaks stay, for word scores
    clear = BeamSearchDecoder(cs, lm).decode(spell_posteriors("王白天", cs))
    torn = BeamSearchDecoder(cs, lm).decode(spell_posteriors("王白天", cs, {0: ("玉", 0.49)}))  # unseen by the LM
    assert torn.confidence < 0.6 < clear.confidence


def test_empty_and_bad_input(cs):
    dec = BeamSearchDecoder(cs)
    blank = np.zeros((10, cs.num_classes), np.float32)
    blank[:, 0] = 1.0
    r = dec.decode(blank)
    assert r.text == "" and r.confidence > 0.9
    assert dec.decode(np.zeros((0, cs.num_classes), np.float32)).text == ""
    with pytest.raises(InputError):
        dec.decode(np.zeros((5, 10), np.float32))
    with pytest.raises(ConfigError):
        BeamSearchDecoder(cs, None, BeamConfig(beam_width=0))


@pytest.mark.parametrize("kind", sorted(DECODER_FACTORIES))
def test_registry_builds_every_decoder(cs, lm, tmp_path, kind):
    path = lm.save(tmp_path / "lm.bin")
    dec = make_decoder(cs, DecoderOptions(kind=kind, lm_path=str(path)))
    p = spell_posteriors("TOTAL 8.80", cs)
    assert dec.decode(p).text == "TOTAL 8.80"


def test_unknown_decoder_and_word_list(cs, lm, tmp_path):
    with pytest.raises(ConfigError):
        make_decoder(cs, DecoderOptions(kind="viterbi"))
    path = lm.save(tmp_path / "lm.bin")
    # "王" printed, read as 玉 more often: only the user's product list knows the shop's name
    text = "王记烧腊"
    p = spell_posteriors(text, cs, {0: ("玉", 0.6)})
    plain = make_decoder(cs, DecoderOptions(lm_path=str(path)))
    boosted = make_decoder(cs, DecoderOptions(lm_path=str(path), words=["王记烧腊", "叉烧饭"], words_weight=0.5))
    assert plain.decode(p).text != text
    assert boosted.decode(p).text == text


def _random_lines(cs, rng, n=40):
    """Posteriors like a recognizer's: characters smeared over adjacent frames, runs of sure
    blanks, rivals in the same frame, repeats; plus spelled lines with look-alike confusions,
    a zero-frame and an all-blank line."""
    alphabet = [cs.index[ch] for ch in sorted(set("".join(CORPUS)))]
    posts = []
    for _ in range(n):
        p = np.full((int(rng.integers(1, 40)), cs.num_classes), 1e-7)
        for row in p:
            kind = rng.random()
            if kind < 0.3:
                row[0] = 1.0  # a sure blank: skipped by the search
            elif kind < 0.4:
                row[int(rng.choice(alphabet))] = 1.0  # a sure character
            else:
                picks = [0] + [int(c) for c in rng.choice(alphabet, int(rng.integers(1, 4)))]
                row[picks] += rng.dirichlet(np.ones(len(picks)) * 0.7)
        posts.append((p / p.sum(1, keepdims=True)).astype(np.float32))
    texts = [CORPUS[i] for i in rng.integers(0, len(CORPUS), n // 4)] + ["aa  bb", "1100"]
    posts += [spell_posteriors(t, cs, confuse(t, cs, 0.3, rng), noise=0.01, rng=rng) for t in texts]
    posts.append(np.zeros((0, cs.num_classes), np.float32))
    posts.append(np.tile(np.eye(cs.num_classes, dtype=np.float32)[0], (9, 1)))  # blank only
    return posts


@pytest.mark.parametrize("with_lm", [False, True])
def test_batched_search_gives_exactly_the_line_by_line_result(cs, lm, with_lm):
    rng = np.random.default_rng(7)
    posts = _random_lines(cs, rng)
    dec = BeamSearchDecoder(cs, lm if with_lm else None, BeamConfig(beam_width=5, top_k=4))
    one_by_one = [dec.decode(p) for p in posts]
    batched = dec.decode_batch(posts)
    assert len(batched) == len(posts)
    for a, b in zip(one_by_one, batched):
        assert (a.text, a.char_frames, a.char_scores) == (b.text, b.char_frames, b.char_scores)
        assert abs(a.confidence - b.confidence) < 1e-9
    assert sum(r.text != "" for r in batched) > 30


def test_auto_decoder_batches_only_the_lines_it_redecodes(cs, lm, tmp_path):
    path = tmp_path / "lm.bin"
    lm.save(path)
    auto = make_decoder(cs, DecoderOptions(kind="auto", lm_path=str(path)))
    posts = _random_lines(cs, np.random.default_rng(3), n=20)
    calls = []
    inner = auto.with_lm.decode_batch
    auto.with_lm.decode_batch = lambda ps: calls.append(len(ps)) or inner(ps)
    batched = auto.decode_batch(posts)
    assert [(r.text, round(r.confidence, 9)) for r in batched] == \
        [(r.text, round(r.confidence, 9)) for r in (auto.decode(p) for p in posts)]
    assert len(calls) == 1 and 0 < calls[0] < len(posts)


def test_batched_search_splits_big_tables_into_groups_with_the_same_result(cs, lm, monkeypatch):
    from ocrforge.postprocess import beam

    posts = _random_lines(cs, np.random.default_rng(11), n=24)
    dec = BeamSearchDecoder(cs, lm, BeamConfig(beam_width=4, top_k=3))
    whole = dec.decode_batch(posts)
    groups = []
    search = beam._BatchSearch._search
    monkeypatch.setattr(beam._BatchSearch, "max_table", 400)  # a few short lines per group
    monkeypatch.setattr(beam._BatchSearch, "_search", lambda self, lines, results: groups.append(len(lines))
                        or search(self, lines, results))
    split = dec.decode_batch(posts)
    assert len(groups) > 3 and sum(groups) == len(posts) - 1  # the zero-frame line needs no search
    assert [(r.text, r.char_frames, round(r.confidence, 12)) for r in split] == \
        [(r.text, r.char_frames, round(r.confidence, 12)) for r in whole]


def test_lm_floor_keeps_a_sure_rare_character_and_still_fixes_lookalikes(cs, lm):
    # 巳 never occurs in the corpus: without a floor the LM drops a 90 %-sure 巳 (or swaps in 已, which the
    # corpus knows); a floor caps the LM's cost of the character, so the image wins.
    for text, conf in [("巳 TOTAL", {0: ("已", 0.1)}), ("王巳", {1: ("已", 0.1)})]:
        sure_rare = spell_posteriors(text, cs, conf)
        assert BeamSearchDecoder(cs, lm, BeamConfig(alpha=0.6, beta=1.0)).decode(sure_rare).text != text
        assert BeamSearchDecoder(cs, lm, BeamConfig(alpha=0.6, beta=1.0, lm_floor=-5.0)).decode(sure_rare).text == text
    for text, conf in CASES:  # an unsure look-alike is still put right
        p = spell_posteriors(text, cs, conf)
        assert BeamSearchDecoder(cs, lm, BeamConfig(alpha=0.6, beta=1.0, lm_floor=-5.0)).decode(p).text == text
    with pytest.raises(ConfigError):
        BeamConfig(lm_floor=0.5).validate()
