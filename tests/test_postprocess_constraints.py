"""Constrained decoding: the pattern automaton agrees with Python's re on full matches, and field
patterns / allow / deny lists steer the beam to a valid reading."""

import re

import numpy as np
import pytest

from ocrforge.errors import ConfigError
from ocrforge.postprocess.beam import BeamConfig, BeamSearchDecoder, DecoderOptions, make_decoder
from ocrforge.postprocess.constraints import FIELD_PATTERNS, Constraint, Pattern, make_constraint
from ocrforge.postprocess.ctc import greedy_decode
from ocrforge.postprocess.synthetic import spell_posteriors
from ocrforge.recognition.charset import load_charset

SAMPLES = ["12.50", "1,234.56", "RM 12.50", "RM12.5", "¥8.00", "12.5O", "2019-03-12", "12/03/2019", "2019年3月12日",
           "12 MAR 2019", "12:45", "09:05:33", "9:05 PM", "25:6", "INV-00123", "A1", "03-7865 4321", "+86 138 0013 8000",
           "(03) 1234 5678", "abc", "", "0", "123", "-12.00", "12..00", "2019-3-1x", "1234567"]


@pytest.mark.parametrize("name", sorted(FIELD_PATTERNS))
def test_pattern_agrees_with_re(name):
    pat, auto = re.compile(FIELD_PATTERNS[name]), Pattern(FIELD_PATTERNS[name])
    for s in SAMPLES:
        assert auto.fullmatch(s) == bool(pat.fullmatch(s)), (name, s)


@pytest.mark.parametrize("rx", [r"a(b|cd)*e?", r"[^0-9]{2,3}x", r"(?:ab)+|c{2}", r"\w+\s\W", r"[a-c\d]-[x-z]{1,}"])
def test_generic_syntax_agrees_with_re(rx):
    rng = np.random.default_rng(0)
    alphabet = list("abcdexyz0129 -!")
    auto, pat = Pattern(rx), re.compile(rx)
    for _ in range(400):
        s = "".join(rng.choice(alphabet, int(rng.integers(0, 7))))
        assert auto.fullmatch(s) == bool(pat.fullmatch(s)), (rx, s)


@pytest.mark.parametrize("bad", ["(ab", "ab)", "*a", "[a-", "a{3,1}", "^a", "[z-a]"])
def test_bad_patterns_raise(bad):
    with pytest.raises(ConfigError):
        Pattern(bad)


@pytest.fixture(scope="module")
def cs():
    return load_charset()


def test_amount_pattern_fixes_letter_for_digit(cs):
    text = "12.50"
    p = spell_posteriors(text, cs, {3: ("S", 0.6), 4: ("O", 0.7)})
    assert greedy_decode(p, cs).text == "12.SO"
    dec = BeamSearchDecoder(cs, None, BeamConfig(alpha=0.0, beta=0.0), Constraint(pattern="amount"))
    r = dec.decode(p)
    assert r.text == text and len(r.char_frames) == len(text)


def test_date_pattern_and_no_match(cs):
    p = spell_posteriors("2019-03-12", cs, {2: ("l", 0.6), 5: ("O", 0.6)})
    assert make_decoder(cs, DecoderOptions(kind="beam", pattern="date")).decode(p).text == "2019-03-12"
    words = spell_posteriors("HELLO", cs)
    r = make_decoder(cs, DecoderOptions(kind="beam", pattern="date")).decode(words)
    assert r.text == "" and r.confidence == 0.0


def test_allow_and_deny_lists(cs):
    p = spell_posteriors("A0B1", cs, {1: ("O", 0.6), 3: ("l", 0.6)})
    assert greedy_decode(p, cs).text == "AOBl"
    assert make_decoder(cs, DecoderOptions(kind="greedy", deny="Ol")).decode(p).text == "A0B1"
    assert make_decoder(cs, DecoderOptions(kind="beam", allow="AB0123456789")).decode(p).text == "A0B1"
    c = make_constraint(allow="0123456789")
    mask = c.class_mask(cs)
    assert mask[0] and mask.sum() == 11
    assert make_constraint() is None
    assert c.check("123") and not c.check("12a")
