"""Synthetic CTC posteriors that spell a text with look-alike confusions (tests and benchmarks).

``spell_posteriors("我已经", cs, {1: ("己", 0.6)})`` gives a (T, C) softmax where each character
occupies ``frames_per_char`` frames (blank, character, blank...) and character 1 is more likely
read as 己 than 已, so greedy decoding is wrong and a language model can put it right.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

# Pairs printed OCR confuses; each maps to look-alikes in the charset.
LOOKALIKES: Dict[str, str] = {
    "0": "OD", "O": "0D", "1": "lI", "l": "1I", "I": "1l", "5": "S", "S": "5", "8": "B", "B": "8",
    "2": "Z", "Z": "2", "6": "G", "G": "6", "已": "己巳", "己": "已巳", "末": "未", "未": "末", "日": "曰",
    "土": "士", "士": "土", "人": "入", "入": "人", "千": "干", "干": "千", "天": "夫", "夫": "天",
    "贝": "见", "见": "贝", "折": "拆", "拆": "折", "大": "太", "太": "大", "王": "玉", "玉": "王",
    "白": "自", "自": "白", "今": "令", "令": "今", "元": "无", "无": "元", "问": "间", "间": "问",
}


def spell_posteriors(text: str, charset, confusions: Optional[Dict[int, Tuple[str, float]]] = None,
                     frames_per_char: int = 4, peak: float = 0.98, noise: float = 0.0,
                     rng: Optional[np.random.Generator] = None) -> np.ndarray:
    """(T, C) float32 posteriors spelling ``text``; ``confusions[i] = (wrong_char, p_wrong)``."""
    confusions = confusions or {}
    rng = rng or np.random.default_rng(0)
    c = charset.num_classes
    f = max(frames_per_char, 2)
    rows = []
    floor = 1e-7
    for i, ch in enumerate(text):
        for j in range(f):
            r = np.full(c, floor)
            if j == 1:  # the character's frame; repeated characters need the blank frames between them
                if i in confusions:
                    wrong, pw = confusions[i]
                    r[charset.index[wrong]] = pw
                    r[charset.index[ch]] = max(peak - pw, 0.01)
                else:
                    r[charset.index[ch]] = peak
                r[0] = 1.0 - r.sum() + r[0]
            else:
                r[0] = 1.0
            if noise > 0:
                r = r + rng.random(c) * noise / c
            rows.append(r / r.sum())
    return np.asarray(rows, np.float32).reshape(-1, c)


def confuse(text: str, charset, rate: float, rng: np.random.Generator, p_wrong: Tuple[float, float] = (0.5, 0.7)
            ) -> Dict[int, Tuple[str, float]]:
    """Pick look-alike confusions for about ``rate`` of the characters that have one."""
    out = {}
    for i, ch in enumerate(text):
        alts = [a for a in LOOKALIKES.get(ch, "") if a in charset]
        if alts and rng.random() < rate:
            out[i] = (alts[int(rng.integers(len(alts)))], float(rng.uniform(*p_wrong)))
    return out


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Character error rate: total edit distance / total reference length."""
    from rapidfuzz.distance import Levenshtein

    dist = sum(Levenshtein.distance(r, h) for r, h in zip(refs, hyps))
    return dist / max(1, sum(len(r) for r in refs))


def one_weak_character_readings(n: int, seed: int = 0, lengths: Tuple[int, int] = (2, 31), crisp: float = 0.995,
                                blank: float = 0.98) -> Tuple[list, List[str]]:
    """(greedy-like ``DecodeResult``s, references) where a line's fate hangs on one character: each of
    ``lengths`` (low, high exclusive) characters scores ``crisp``, but on half of the lines one scores
    p ~ U(0.3, 0.95) and that line is right with probability p (the others: ``crisp``). An average of the
    scores hides the one weak character of a long line; its minimum does not (calibration tests)."""
    from .ctc import DecodeResult

    rng = np.random.default_rng(seed)
    readings, refs = [], []
    for _ in range(n):
        k = int(rng.integers(*lengths))
        scores = [crisp] * k
        p_right = crisp
        if rng.random() < 0.5:
            p_right = float(rng.uniform(0.3, 0.95))
            scores[int(rng.integers(k))] = p_right
        text = "x" * k
        confidence = float(np.exp(np.mean(np.log(scores)))) * blank  # greedy's score: geometric mean x blank
        readings.append(DecodeResult(text, confidence, list(range(k)), scores))
        refs.append(text if rng.random() < p_right else "y" * k)
    return readings, refs
