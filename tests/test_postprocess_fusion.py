"""Fusion: averaging posteriors of models that err differently recovers the text; aligned voting
picks the majority reading per character; only low-confidence lines pay for the extra models."""

import numpy as np
import pytest

from ocrforge.errors import ConfigError
from ocrforge.postprocess.ctc import greedy_decode
from ocrforge.postprocess.fusion import FusionConfig, FusionRecognizer, average_posteriors, vote_texts
from ocrforge.postprocess.synthetic import spell_posteriors
from ocrforge.recognition.charset import load_charset


@pytest.fixture(scope="module")
def cs():
    return load_charset()


def test_average_posteriors_fixes_disjoint_errors(cs):
    text = "TOTAL 120.50"
    a = spell_posteriors(text, cs, {1: ("0", 0.55)})  # model A confuses O, sure of the digits
    b = spell_posteriors(text, cs, {8: ("O", 0.55)})  # model B confuses 0
    assert greedy_decode(a, cs).text != text and greedy_decode(b, cs).text != text
    fused = average_posteriors([a, b])
    assert fused.shape == a.shape and np.allclose(fused.sum(1), 1, atol=1e-4)
    assert greedy_decode(fused, cs).text == text


def test_average_posteriors_checks_shapes(cs):
    a = spell_posteriors("AB", cs)
    with pytest.raises(ConfigError):
        average_posteriors([a, a[:, :100]])
    with pytest.raises(ConfigError):
        average_posteriors([a, a[:2]])
    with pytest.raises(ConfigError):
        average_posteriors([a, a], weights=[0, 0])
    longer = spell_posteriors("AB", cs, frames_per_char=4)
    resampled = average_posteriors([longer, np.concatenate([longer, longer[-1:]])])
    assert greedy_decode(resampled, cs).text == "AB"


@pytest.mark.parametrize("cands,expected", [
    ([("TOTAL", 0.9), ("T0TAL", 0.5), ("TOTAL", 0.4)], "TOTAL"),
    ([("T0TAL 12", 0.6), ("TOTAL 12", 0.5), ("TOTAL 12", 0.5)], "TOTAL 12"),  # weighted majority beats the best single
    ([("我已经", 0.5), ("我己经", 0.4), ("我已经了", 0.3)], "我已经"),  # a lone insertion is outvoted
    ([("CASH", 0.5), ("CAS", 0.4), ("CASH", 0.4)], "CASH"),
    ([("12.50", 0.3), ("12.5", 0.6), ("12.50", 0.5)], "12.50"),  # deletion in the backbone is repaired
])
def test_vote_texts(cands, expected):
    text, agreement = vote_texts(cands)
    assert text == expected
    assert 0 < agreement <= 1


def test_vote_empty():
    assert vote_texts([]) == ("", 0.0)


class FakeModel:
    def __init__(self, cs, confusions):
        self.cs, self.confusions, self.calls = cs, confusions, []

    def predict_probs(self, crops):
        self.calls.append(len(crops))
        return [spell_posteriors(c, self.cs, self.confusions.get(c)) for c in crops]  # a "crop" is its text


@pytest.mark.parametrize("mode", ["posterior", "vote"])
def test_fusion_runs_others_only_on_low_confidence(cs, mode):
    lines = ["TOTAL 12.50", "CASH 20.00", "CHANGE 7.50"]
    a = FakeModel(cs, {"TOTAL 12.50": {1: ("0", 0.52)}})
    b = FakeModel(cs, {"CASH 20.00": {6: ("O", 0.6)}})
    c = FakeModel(cs, {})
    fr = FusionRecognizer([a, b, c], cs, FusionConfig(threshold=0.95, mode=mode))
    out = fr.recognize(lines)
    assert [r.text for r in out] == lines
    assert a.calls == [3] and b.calls == [1] and c.calls == [1]
    assert fr.stats.fused == 1 and fr.stats.lines == 3


def test_fusion_bad_mode(cs):
    with pytest.raises(ConfigError):
        FusionRecognizer([FakeModel(cs, {})], cs, FusionConfig(mode="max"))
