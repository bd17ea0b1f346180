"""Greedy CTC decoding (numpy): the default decoder and the reference the beam decoders are judged against."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np


@dataclass
class DecodeResult:
    text: str
    confidence: float  # in [0, 1]
    char_frames: List[int] = field(default_factory=list)  # frame index where each output char peaks
    char_scores: List[float] = field(default_factory=list)
    # Which decoder read this line, where a composite one (auto) chose per line: its confidence is
    # that decoder's score and is calibrated with that decoder's map. None: the decoder called.
    decoder: Optional[str] = None


def greedy_decode(probs: np.ndarray, charset) -> DecodeResult:
    """Best path: argmax per frame, merge repeats, drop blanks.

    Confidence is the geometric mean of the kept characters' peak probabilities times the mean
    max probability of blank frames between them: a line of crisp characters separated by
    confident blanks scores high, a smeared one does not. An empty line scores the mean
    blank probability (how sure the model is that there is nothing).
    """
    if probs.ndim != 2 or probs.shape[0] == 0:
        return DecodeResult("", 0.0)
    best = probs.argmax(1)
    peak = probs[np.arange(len(best)), best]
    keep = best != 0
    keep[1:] &= best[1:] != best[:-1]
    # For a run of the same char, report its best frame, not its first.
    frames, scores, chars = [], [], []
    t, n = 0, len(best)
    while t < n:
        c = best[t]
        end = t
        while end + 1 < n and best[end + 1] == c:
            end += 1
        if c != 0:
            seg = peak[t : end + 1]
            k = int(seg.argmax())
            frames.append(t + k)
            scores.append(float(seg[k]))
            chars.append(int(c))
        t = end + 1
    blank_conf = float(peak[best == 0].mean()) if (best == 0).any() else 1.0
    if not chars:
        return DecodeResult("", blank_conf)
    conf = float(np.exp(np.mean(np.log(np.maximum(scores, 1e-9)))))
    return DecodeResult(charset.decode(chars), conf * blank_conf, frames, scores)


def decode_lines(decoder, probs_list) -> list:
    """Each line's result: the whole batch at once where the decoder can (``decode_batch``: the beam
    decoders search a batch's lines together), else line by line."""
    batch = getattr(decoder, "decode_batch", None)
    return batch(list(probs_list)) if batch is not None else [decoder.decode(p) for p in probs_list]


class GreedyDecoder:
    kind = "greedy"  # which calibration applies to its confidences (postprocess.calibration)

    def __init__(self, charset):
        self.charset = charset

    def decode(self, probs: np.ndarray) -> DecodeResult:
        return greedy_decode(probs, self.charset)
