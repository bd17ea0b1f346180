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
