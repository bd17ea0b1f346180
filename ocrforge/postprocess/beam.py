"""CTC prefix beam search with shallow fusion of a character n-gram LM (numpy, no torch).

Why hand-written rather than a library:
- pyctcdecode scores its KenLM model at word boundaries (spaces) and is built for word-level
  models (its maintainers say so, kensho-technologies/pyctcdecode#64); Chinese lines have no
  spaces, so the LM would only act at the end of a line.
- parlance/ctcdecode and torchaudio's ``ctc_decoder`` need PyTorch (forbidden on the reading
  path) and compiled extensions; KenLM has no wheels and a word-oriented query API.
- None of them restricts the beam with a field pattern (constrained decoding, below).
So the search is written here, vectorized over (beams x candidates) per frame, and in
``decode_batch`` over the lines of a batch too (``_BatchSearch``: the same results; on SROIE
lines in batches of 32, 3x faster than line by line, where numpy's per-call cost dominated):
- candidates per frame: the ``top_k`` classes above ``min_prob`` (one ``argpartition`` over all
  frames up front), after masking classes a constraint forbids;
- frames whose blank probability exceeds ``blank_skip`` (most frames of an OCR line) only merge
  the blank into every beam: no candidates, no LM query;
- the LM is queried once per frame for the whole (beams x candidates) matrix;
- identical prefixes are merged through a 64-bit prefix hash.

Score of a prefix y: ``log P_ctc(y) + alpha * log P_lm(y) + beta * |y|`` (plus ``alpha * log P_lm(</s>|y)``
at the end). Confidence without an LM: geometric mean of each character's peak probability, times the
share of the best prefix in the CTC probability of all final beams (ambiguity between beams lowers
it). With an LM: the best prefix's share of the fused score over the final beams, i.e. the
posterior of the reading among the beams under CTC + LM. The peak-based score punishes exactly the
characters the LM put right (their peaks are low), so it barely told right from wrong LM readings:
ROC AUC on calibration fit data (2,000 synthetic Chinese lines / 4,000 SROIE lines of ids % 5 in 1-3)
0.54 / 0.80 for the peak-based score, 0.93 / 0.89 for the fused share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from ..errors import ConfigError, InputError
from .constraints import DEAD, Constraint, make_constraint
from .ctc import DecodeResult, GreedyDecoder, decode_lines
from .lm import (BOS, TOKEN_OFFSET, EOS, HASH_MUL, CharNgramLM, extend_keys, FlooredLM, InterpolatedLM, LMHistory, load_lm,
                 word_list_lm)

LanguageModel = Union[CharNgramLM, InterpolatedLM]


@dataclass
class BeamConfig:
    beam_width: int = 8
    alpha: float = 0.3  # LM weight (natural-log units, like the CTC score); tuned on synthetic confusions of SROIE mod:5:1
    beta: float = 2.0  # bonus per emitted character; balances the LM's cost of each character
    top_k: int = 6  # candidate classes per frame
    min_prob: float = 1e-3  # candidates below this probability are never considered
    blank_skip: float = 0.999  # frames with a blank this sure only merge into the blank
    use_eos: bool = True  # score the end of line with the LM
    # Lowest log P_lm of a character (lm.FlooredLM; None: no floor). -9 chosen on training-side sets
    # (synthetic lines in the training faces, SROIE ids % 5 == 1, fit-seed bill lines, real clauses past
    # the evaluation ones): uniform-GB2312 lines 32.6 -> 25.9 % CER, the rest unchanged (BENCHMARKS.md).
    lm_floor: Optional[float] = -9.0

    def validate(self) -> "BeamConfig":
        if self.beam_width < 1 or self.top_k < 1:
            raise ConfigError("beam_width and top_k must be >= 1")
        if not 0.0 <= self.min_prob < 1.0 or not 0.0 < self.blank_skip <= 1.0:
            raise ConfigError("min_prob must be in [0, 1) and blank_skip in (0, 1]")
        if self.lm_floor is not None and not self.lm_floor < 0:
            raise ConfigError("lm_floor is a log-probability: it must be < 0")
        return self


class BeamSearchDecoder:
    """``.decode(probs (T, C) softmax) -> DecodeResult``; plug into ``TextRecognizer.recognize(decoder=...)``."""

    def __init__(self, charset, lm: Optional[LanguageModel] = None, config: Optional[BeamConfig] = None,
                 constraint: Optional[Constraint] = None):
        self.charset = charset
        self.config = (config or BeamConfig()).validate()
        self.lm = FlooredLM(lm, self.config.lm_floor) if lm is not None and self.config.lm_floor is not None else lm
        self.constraint = constraint
        codes = [ord(ch) + TOKEN_OFFSET if len(ch) == 1 else 0 for ch in charset.chars]
        self._tokens = np.array([0] + codes, np.uint64)  # class -> LM token (hash input too)
        self._chars = [""] + list(charset.chars)
        self._mask = constraint.class_mask(charset) if constraint is not None else None

    @property
    def kind(self) -> str:
        """Which calibration applies to its confidences (postprocess.calibration): with or without LM."""
        return "beam" if self.lm is None else "beam_lm"

    # ------------------------------------------------------------------------------------------
    def decode_batch(self, probs_list: Sequence[np.ndarray]) -> List[DecodeResult]:
        """The lines of a batch searched together, frame step by frame step: the same result as
        ``decode`` line by line, with numpy's per-call cost shared by every line of the batch."""
        probs_list = [np.asarray(p) for p in probs_list]
        for p in probs_list:
            if p.ndim != 2 or p.shape[1] != len(self._tokens):
                raise InputError(f"posteriors must be (T, {len(self._tokens)}), got {p.shape}")
        if self.constraint is not None or len(probs_list) < 2:
            # a field pattern's automaton steps character by character in Python anyway
            return [self.decode(p) for p in probs_list]
        return _BatchSearch(self, probs_list).run()

    def decode(self, probs: np.ndarray) -> DecodeResult:
        probs = np.asarray(probs)
        if probs.ndim != 2 or probs.shape[1] != len(self._tokens):
            raise InputError(f"posteriors must be (T, {len(self._tokens)}), got {probs.shape}")
        if probs.shape[0] == 0:
            return DecodeResult("", 0.0)
        cfg = self.config
        n_frames = probs.shape[0]
        blank, active, starts, ends, cand_all, p_all, cum_log_blank = self._candidates(probs)

        automaton = self.constraint.automaton if self.constraint is not None else None
        lm = self.lm
        alpha, beta = cfg.alpha, cfg.beta

        # beam state (arrays of B rows)
        pb = np.array([1.0])
        pnb = np.array([0.0])
        last = np.array([0], np.int64)
        length = np.array([0], np.int64)
        lm_score = np.array([0.0])
        phash = np.array([0], np.uint64)
        node = np.array([-1], np.int64)
        astate = np.array([automaton.start() if automaton else 0], np.int64)
        hist = LMHistory.start(1, lm.history_width) if lm is not None else None
        # prefix tree: parent node, class, frame of first emission
        parents: List[int] = []
        classes: List[int] = []
        frames: List[int] = []

        prev = 0
        for a_i in range(len(active) + 1):
            t = int(active[a_i]) if a_i < len(active) else n_frames
            if t > prev:
                # a run of blank frames: everything ends in the blank; a character can only
                # continue itself. (Exact up to the pnb*p_last*blank cross terms, each < 1e-3.)
                pb = (pb + pnb) * np.exp(cum_log_blank[t] - cum_log_blank[prev])
                pnb = pnb * np.prod(probs[prev:t, last], axis=0) * (last > 0)
            if t == n_frames:
                break
            prev = t + 1
            cand = cand_all[starts[a_i]:ends[a_i]]
            cp = p_all[starts[a_i]:ends[a_i]]
            p_last = probs[t, last] * (last > 0)
            stay_pb, stay_pnb = (pb + pnb) * blank[t], pnb * p_last
            same = cand[None, :] == last[:, None]  # (B, K)
            ext = np.where(same, pb[:, None], (pb + pnb)[:, None]) * cp[None, :]
            ext_hash = phash[:, None] * HASH_MUL + self._tokens[cand][None, :]
            nxt = None
            if automaton is not None:
                nxt = np.array([[automaton.step(int(s), self._chars[c]) for c in cand] for s in astate], np.int64)
                ext = np.where(nxt == DEAD, 0.0, ext)
            # an extension equal to an existing prefix (beam "a"+"b" vs beam "ab") merges into it
            srt = np.argsort(phash)
            pos = np.minimum(np.searchsorted(phash[srt], ext_hash), len(srt) - 1)
            match = (phash[srt][pos] == ext_hash) & (ext > 0)
            if match.any():
                np.add.at(stay_pnb, srt[pos[match]], ext[match])
                ext = np.where(match, 0.0, ext)
            # rank stays and new extensions together
            with np.errstate(divide="ignore"):
                stay_score = np.log(stay_pb + stay_pnb) + alpha * lm_score + beta * length
                if lm is not None:
                    ext_lm = lm_score[:, None] + self._lm_scores(lm, hist, cand, ext > 0)
                else:
                    ext_lm = np.repeat(lm_score[:, None], len(cand), axis=1)
                ext_score = np.log(ext) + alpha * ext_lm + beta * (length[:, None] + 1)
            all_score = np.concatenate([stay_score, ext_score.ravel()])
            n_keep = min(cfg.beam_width, int(np.isfinite(all_score).sum()))
            if n_keep == 0:
                return DecodeResult("", 0.0)
            best = np.argpartition(-all_score, n_keep - 1)[:n_keep] if n_keep < len(all_score) else np.arange(len(all_score))
            n_stay = len(stay_score)
            is_ext = best >= n_stay
            s_idx = best[~is_ext]
            e_b, e_k = np.divmod(best[is_ext] - n_stay, len(cand))
            e_cls = cand[e_k]
            new_nodes = np.arange(len(parents), len(parents) + len(e_b))
            parents.extend(node[e_b].tolist())
            classes.extend(e_cls.tolist())
            frames.extend([t] * len(e_b))
            pb = np.concatenate([stay_pb[s_idx], np.zeros(len(e_b))])
            pnb = np.concatenate([stay_pnb[s_idx], ext[e_b, e_k]])
            last = np.concatenate([last[s_idx], e_cls])
            length = np.concatenate([length[s_idx], length[e_b] + 1])
            lm_score = np.concatenate([lm_score[s_idx], ext_lm[e_b, e_k]])
            phash = np.concatenate([phash[s_idx], ext_hash[e_b, e_k]])
            node = np.concatenate([node[s_idx], new_nodes])
            astate = np.concatenate([astate[s_idx], nxt[e_b, e_k]]) if nxt is not None else np.zeros(len(pb), np.int64)
            if hist is not None:
                h_ext = hist.take(e_b).extend(self._tokens[e_cls])
                hist = LMHistory(np.concatenate([hist.keys[s_idx], h_ext.keys]),
                                 np.concatenate([hist.length[s_idx], h_ext.length]))
            scale = float((pb + pnb).max())  # keep the best beam near 1: no underflow on long lines
            if scale <= 0.0:
                return DecodeResult("", 0.0)
            pb, pnb = pb / scale, pnb / scale

        total = pb + pnb
        if not (total > 0).any():
            return DecodeResult("", 0.0)
        with np.errstate(divide="ignore"):
            final = np.log(total) + alpha * lm_score + beta * length
            if lm is not None and cfg.use_eos:
                final = final + alpha * lm.logprob(hist, np.full((len(total), 1), EOS, np.uint64))[:, 0]
        if automaton is not None:
            ok = np.array([automaton.accepts(int(s)) for s in astate])
            if not ok.any():
                return DecodeResult("", 0.0)  # nothing on this line matches the field pattern
            final = np.where(ok, final, -np.inf)
        b = int(np.argmax(final))
        if lm is not None:
            fused_share = float(np.exp(final[b] - np.logaddexp.reduce(final[np.isfinite(final)])))
            return self._result(int(node[b]), parents, classes, frames, probs, fused_share, with_peaks=False)
        share = float(total[b] / total.sum())
        return self._result(int(node[b]), parents, classes, frames, probs, share)

    def _candidates(self, probs: np.ndarray):
        """Active frames (blank not certain, some allowed character above ``min_prob``) and their
        candidates, found at once: threshold, then sort the few survivors (far cheaper than an
        argpartition over all classes). Every other frame only merges into the blank."""
        cfg = self.config
        blank = probs[:, 0].astype(np.float64)
        maybe = np.flatnonzero(blank < cfg.blank_skip)
        chars_p = probs[maybe, 1:]
        if self._mask is not None:
            chars_p = np.where(self._mask[None, 1:], chars_p, 0.0)
        # (flatnonzero + divmod: 2-D nonzero is several times slower)
        rows, cols = np.divmod(np.flatnonzero(chars_p >= max(cfg.min_prob, 1e-12)), chars_p.shape[1])
        vals = chars_p[rows, cols].astype(np.float64)
        order = np.lexsort((-vals, rows))
        rows, cand_all, p_all = rows[order], cols[order] + 1, vals[order]
        starts = np.searchsorted(rows, np.arange(len(maybe)), "left")
        ends = np.minimum(np.searchsorted(rows, np.arange(len(maybe)), "right"), starts + cfg.top_k)
        has = ends > starts
        with np.errstate(divide="ignore"):
            cum_log_blank = np.concatenate([[0.0], np.cumsum(np.log(blank))])
        return blank, maybe[has], starts[has], ends[has], cand_all, p_all, cum_log_blank

    def _lm_scores(self, lm, hist: LMHistory, cand: np.ndarray, live: np.ndarray) -> np.ndarray:
        """log P_lm(candidate | beam) for the (beams x candidates) extensions that are alive. One
        call for the whole matrix: a per-line cache of extended prefixes hit 9 % of queries on
        SROIE and cost more in Python than it saved."""
        if live.all():
            return lm.logprob(hist, np.broadcast_to(self._tokens[cand], live.shape))
        out = np.zeros(live.shape)
        b, k = np.nonzero(live)
        if len(b):
            out[b, k] = lm.logprob(hist.take(b), self._tokens[cand[k]][:, None])[:, 0]
        return out

    def _result(self, leaf: int, parents, classes, frames, probs: np.ndarray, share: float,
                with_peaks: bool = True) -> DecodeResult:
        chars, starts = [], []
        while leaf >= 0:
            chars.append(classes[leaf])
            starts.append(frames[leaf])
            leaf = parents[leaf]
        chars.reverse()
        starts.reverse()
        if not chars:
            blank_conf = float(probs[:, 0].mean()) if with_peaks else 1.0
            return DecodeResult("", blank_conf * share)
        # each character peaks somewhere between its first emission and the next character's
        peaks, scores = [], []
        for i, (c, f) in enumerate(zip(chars, starts)):
            end = starts[i + 1] if i + 1 < len(starts) else probs.shape[0]
            seg = probs[f:max(end, f + 1), c]
            j = int(seg.argmax())
            peaks.append(f + j)
            scores.append(float(seg[j]))
        conf = float(np.exp(np.mean(np.log(np.maximum(scores, 1e-9))))) * share if with_peaks else share
        return DecodeResult(self.charset.decode(chars), conf, peaks, scores)


# ----------------------------------------------------------------------------------------------
# The same search over a batch of lines at once


_DEAD_HASH = np.uint64(0xFFFFFFFFFFFFFF00)  # + slot: never an extension's hash (a 1e-17 chance)


class _BatchSearch:
    """``BeamSearchDecoder.decode`` for many lines in lock step (no constraint).

    Line l's i-th step is its i-th active frame; lines are ordered by their number of active frames
    so the lines still searching at step i are a prefix of the batch. Every line has
    ``beam_width`` slots; a slot the line's own search would not have (fewer hypotheses than the
    width) is dead: zero probability, a score of -inf and a hash no prefix has. Probabilities of
    the blank runs between active frames are precomputed per line for the classes a beam can end
    in (its candidates), the same products ``decode`` takes.
    """

    # Elements of the (lines x active frames x classes) tables one search holds (16 MB each in
    # float32): long, noisy lines are searched in smaller groups rather than in one big table.
    max_table = 1 << 22

    def __init__(self, dec: BeamSearchDecoder, probs_list: List[np.ndarray]):
        self.dec = dec
        self.probs_list = probs_list

    def run(self) -> List[DecodeResult]:
        results: List[Optional[DecodeResult]] = [None] * len(self.probs_list)
        lines = []
        for j, probs in enumerate(self.probs_list):
            if probs.shape[0] == 0:
                results[j] = DecodeResult("", 0.0)
                continue
            blank, active, starts, ends, cand_all, p_all, cum_log_blank = self.dec._candidates(probs)
            classes = np.unique(np.concatenate([[0], cand_all]))  # a beam ends in one of these (blank first)
            lines.append((j, probs, blank, active, starts, ends, cand_all, p_all, cum_log_blank, classes))
        lines.sort(key=lambda ln: -len(ln[3]))
        group: list = []
        for ln in lines:  # the first line of a group has its most active frames
            width = max([len(ln[9])] + [len(g[9]) for g in group])
            if group and (len(group) + 1) * (len(group[0][3]) + 1) * width > self.max_table:
                self._search(group, results)
                group = []
            group.append(ln)
        if group:
            self._search(group, results)
        return results  # type: ignore[return-value]

    def _search(self, lines: list, results: List[Optional[DecodeResult]]) -> None:
        dec, cfg, lm = self.dec, self.dec.config, self.dec.lm
        alpha, beta, width, top_k = cfg.alpha, cfg.beta, cfg.beam_width, cfg.top_k
        L, A, K, B = len(lines), len(lines[0][3]), top_k, width

        # Per line: classes a beam can end in (blank first), their probabilities at the active
        # frames, the blank runs before each active frame (and before the end) as products (float32
        # like the posteriors they come from, so the values are the ones ``decode`` multiplies by).
        n_act = np.array([len(ln[3]) for ln in lines])
        frame = np.zeros((L, A), np.int64)
        cand = np.zeros((L, A, K), np.int64)
        cand_u = np.zeros((L, A, K), np.int64)
        cand_p = np.zeros((L, A, K))
        blank_at = np.zeros((L, A))
        classes_per_line = [ln[9] for ln in lines]
        U = max(len(u) for u in classes_per_line)
        p_at = np.zeros((L, A, U), np.float32)
        gap = np.ones((L, A + 1, U), np.float32)
        gap_blank = np.ones((L, A + 1))
        has_gap = np.zeros((L, A + 1), bool)
        for l, (_, probs, blank, active, starts, ends, cand_all, p_all, clb, _) in enumerate(lines):
            u = classes_per_line[l]
            n = len(active)
            frame[l, :n] = active
            blank_at[l, :n] = blank[active]
            p_at[l, :n, : len(u)] = probs[active][:, u]
            for i in range(n):
                k = ends[i] - starts[i]
                cand[l, i, :k] = cand_all[starts[i]:ends[i]]
                cand_p[l, i, :k] = p_all[starts[i]:ends[i]]
            cand_u[l, :n] = np.searchsorted(u, cand[l, :n])
            bounds = np.concatenate([[0], active + 1])
            stops = np.concatenate([active, [probs.shape[0]]])
            for i in range(n + 1):
                a, b = bounds[i], stops[i]
                if b > a:
                    has_gap[l, i] = True
                    gap[l, i, : len(u)] = np.prod(probs[a:b][:, u], axis=0)
                    gap_blank[l, i] = np.exp(clb[b] - clb[a])

        # Beam state, (L, B) per field; slot 0 of each line starts as the empty prefix.
        slots = np.arange(B, dtype=np.uint64)
        pb = np.zeros((L, B))
        pb[:, 0] = 1.0
        pnb = np.zeros((L, B))
        last = np.zeros((L, B), np.int64)
        last_u = np.zeros((L, B), np.int64)
        length = np.zeros((L, B), np.int64)
        lm_score = np.zeros((L, B))
        phash = np.tile(_DEAD_HASH + slots, (L, 1))
        phash[:, 0] = 0
        node = np.full((L, B), -1, np.int64)
        H = lm.history_width if lm is not None else 1
        hist_keys = np.zeros((L, B, H), np.uint64)
        hist_keys[:, :, 0] = BOS
        hist_len = np.ones((L, B), np.int64)
        failed = np.zeros(L, bool)
        parents: List[int] = []
        classes: List[int] = []
        frames: List[int] = []

        for i in range(A):
            n = int((n_act > i).sum())  # lines still searching: a prefix
            r = np.arange(n)[:, None]
            sl = slice(0, n)
            # the blank run before this frame: everything ends in the blank; a character can
            # only continue itself
            g = has_gap[sl, i][:, None]
            tot = pb[sl] + pnb[sl]
            run_last = np.take_along_axis(gap[sl, i], last_u[sl], 1)
            pb[sl] = np.where(g, tot * gap_blank[sl, i][:, None], pb[sl])
            pnb[sl] = np.where(g, pnb[sl] * run_last * (last[sl] > 0), pnb[sl])

            c, cu, cp = cand[sl, i], cand_u[sl, i], cand_p[sl, i]  # (n, K)
            p_last = np.take_along_axis(p_at[sl, i], last_u[sl], 1) * (last[sl] > 0)
            stay_pb = (pb[sl] + pnb[sl]) * blank_at[sl, i][:, None]
            stay_pnb = pnb[sl] * p_last
            same = c[:, None, :] == last[sl][:, :, None]  # (n, B, K)
            ext = np.where(same, pb[sl][:, :, None], (pb[sl] + pnb[sl])[:, :, None]) * cp[:, None, :]
            tok = dec._tokens[c]  # (n, K)
            ext_hash = phash[sl][:, :, None] * HASH_MUL + tok[:, None, :]
            # an extension equal to an existing prefix of its line merges into it
            eq = (ext_hash[:, :, :, None] == phash[sl][:, None, None, :]) & (ext > 0)[..., None]
            match = eq.any(-1)
            if match.any():
                li, bi, ki = np.nonzero(match)
                np.add.at(stay_pnb, (li, eq[li, bi, ki].argmax(-1)), ext[li, bi, ki])
                ext = np.where(match, 0.0, ext)
            with np.errstate(divide="ignore"):
                stay_score = np.log(stay_pb + stay_pnb) + alpha * lm_score[sl] + beta * length[sl]
                if lm is not None:
                    live = ext > 0
                    lp = np.zeros(ext.shape)
                    bl, bb, bk = np.nonzero(live)
                    if len(bl):
                        h = LMHistory(hist_keys[bl, bb], hist_len[bl, bb])
                        lp[bl, bb, bk] = lm.logprob(h, tok[bl, bk][:, None])[:, 0]
                    ext_lm = lm_score[sl][:, :, None] + lp
                else:
                    ext_lm = np.repeat(lm_score[sl][:, :, None], K, axis=2)
                ext_score = np.log(ext) + alpha * ext_lm + beta * (length[sl][:, :, None] + 1)
            all_score = np.concatenate([stay_score, ext_score.reshape(n, B * K)], axis=1)
            best = np.argpartition(-all_score, B - 1, axis=1)[:, :B]
            kept = np.isfinite(np.take_along_axis(all_score, best, 1))
            failed[sl] |= ~kept.any(1)
            is_ext = best >= B
            s_idx = np.where(is_ext, 0, best)
            e_b, e_k = np.divmod(np.where(is_ext, best - B, 0), K)
            src = np.where(is_ext, e_b, s_idx)  # the beam each kept hypothesis came from
            new_pb = np.where(is_ext, 0.0, stay_pb[r, s_idx])
            new_pnb = np.where(is_ext, ext[r, e_b, e_k], stay_pnb[r, s_idx])
            new_last = np.where(is_ext, c[r, e_k], last[sl][r, s_idx])
            new_last_u = np.where(is_ext, cu[r, e_k], last_u[sl][r, s_idx])
            new_length = length[sl][r, src] + is_ext
            new_lm = np.where(is_ext, ext_lm[r, e_b, e_k], lm_score[sl][r, s_idx])
            new_hash = np.where(is_ext, ext_hash[r, e_b, e_k], phash[sl][r, s_idx])
            new_node = node[sl][r, src].copy()
            el, eb = np.nonzero(is_ext & kept)
            if len(el):
                new_node[el, eb] = np.arange(len(parents), len(parents) + len(el))
                parents.extend(node[el, src[el, eb]].tolist())
                classes.extend(c[el, e_k[el, eb]].tolist())
                frames.extend(frame[el, i].tolist())
            hk = hist_keys[sl][r, src]
            hl = hist_len[sl][r, src]
            if lm is not None and len(el):
                t_new = dec._tokens[c[el, e_k[el, eb]]]
                old = hk[el, eb]
                ext_keys = np.empty_like(old)
                ext_keys[:, 0] = t_new
                if H > 1:
                    ext_keys[:, 1:] = extend_keys(old[:, :-1], t_new[:, None])
                hk[el, eb] = ext_keys
                hl[el, eb] = np.minimum(hl[el, eb] + 1, H)
            # hypotheses the line's own search would not keep: dead slots
            new_pb[~kept] = 0.0
            new_pnb[~kept] = 0.0
            new_hash = np.where(kept, new_hash, _DEAD_HASH + slots[None, :])
            scale = (new_pb + new_pnb).max(1)
            failed[sl] |= scale <= 0.0
            scale = np.where(scale > 0.0, scale, 1.0)[:, None]  # keep the best beam near 1
            pb[sl], pnb[sl] = new_pb / scale, new_pnb / scale
            last[sl], last_u[sl], length[sl], lm_score[sl] = new_last, new_last_u, new_length, new_lm
            phash[sl], node[sl], hist_keys[sl], hist_len[sl] = new_hash, new_node, hk, hl

        # the blank run after each line's last active frame
        r = np.arange(L)[:, None]
        g = has_gap[r[:, 0], n_act][:, None]
        run_last = gap[r[:, 0], n_act][r, last_u]
        tot = pb + pnb
        pb = np.where(g, tot * gap_blank[r[:, 0], n_act][:, None], pb)
        pnb = np.where(g, pnb * run_last * (last > 0), pnb)
        total = pb + pnb
        with np.errstate(divide="ignore"):
            final = np.log(total) + alpha * lm_score + beta * length
            if lm is not None and cfg.use_eos:
                h = LMHistory(hist_keys.reshape(L * B, H), hist_len.reshape(L * B))
                final = final + alpha * lm.logprob(h, np.full((L * B, 1), EOS, np.uint64))[:, 0].reshape(L, B)
        for l, ln in enumerate(lines):
            j, probs = ln[0], ln[1]
            if failed[l] or not (total[l] > 0).any():
                results[j] = DecodeResult("", 0.0)
                continue
            b = int(np.argmax(np.where(total[l] > 0, final[l], -np.inf)))
            if lm is not None:
                fin = final[l][(total[l] > 0) & np.isfinite(final[l])]
                share = float(np.exp(final[l, b] - np.logaddexp.reduce(fin)))
                results[j] = dec._result(int(node[l, b]), parents, classes, frames, probs, share, with_peaks=False)
            else:
                share = float(total[l, b] / total[l].sum())
                results[j] = dec._result(int(node[l, b]), parents, classes, frames, probs, share)


# ----------------------------------------------------------------------------------------------
# Construction from user-facing options (API, CLI, YAML)


@dataclass
class DecoderOptions:
    kind: str = "beam_lm"  # a DECODER_FACTORIES key
    lm_path: Optional[str] = None  # None: the shipped zh+en model
    extra_lm_paths: Sequence[str] = ()  # user models, interpolated with the main one
    extra_lm_weight: float = 0.3
    words: Sequence[str] = ()  # user word list (e.g. product names), as a small interpolated model
    words_weight: float = 0.2
    beam: BeamConfig = field(default_factory=BeamConfig)
    allow: Optional[str] = None
    deny: str = ""
    pattern: Optional[str] = None  # a FIELD_PATTERNS name or a pattern


def _greedy(charset, opts: DecoderOptions, constraint: Optional[Constraint]):
    if constraint is not None:
        # a constraint needs the beam: greedy cannot fall back to an allowed look-alike
        return BeamSearchDecoder(charset, None, opts.beam, constraint)
    return GreedyDecoder(charset)


def _beam(charset, opts: DecoderOptions, constraint: Optional[Constraint]):
    return BeamSearchDecoder(charset, None, opts.beam, constraint)


def _beam_lm(charset, opts: DecoderOptions, constraint: Optional[Constraint]):
    models, weights = [load_lm(opts.lm_path)], [1.0]
    for p in opts.extra_lm_paths:
        models.append(load_lm(p))
        weights.append(opts.extra_lm_weight)
    if opts.words:
        models.append(word_list_lm(opts.words))
        weights.append(opts.words_weight)
    lm = models[0] if len(models) == 1 else InterpolatedLM(models, weights)
    return BeamSearchDecoder(charset, lm, opts.beam, constraint)


class SelectiveLMDecoder:
    """Greedy everywhere; beam + LM only on lines where it pays. Measured with the shipped
    recognizer (BENCHMARKS.md, decoding): beam + LM cuts Chinese line CER by 37-68 % and SROIE's by
    21 %, but costs ~1.4 ms a line against greedy's 0.1, so only lines whose greedy text has a CJK
    character or whose confidence is under `low_confidence` are decoded again with the LM (SROIE:
    19 % of the lines, 8 % less CER at 1.14x the time)."""

    # Each line keeps the kind of the decoder that read it (DecodeResult.decoder) and is calibrated
    # with that decoder's map: greedy and beam + LM scores mean different things, and one "auto" map
    # over their mix mis-read both (Chinese bill lines: line ECE 0.053 against beam + LM's 0.030).
    kind = "auto"

    def __init__(self, greedy, with_lm, low_confidence: float = 0.8):
        self.greedy = greedy
        self.with_lm = with_lm
        self.low_confidence = low_confidence

    @staticmethod
    def _has_cjk(text: str) -> bool:
        return any(ord(ch) >= 0x2E80 for ch in text)

    def _needs_lm(self, first) -> bool:
        return self._has_cjk(first.text) or first.confidence < self.low_confidence

    @staticmethod
    def _tagged(result, decoder):
        result.decoder = getattr(decoder, "kind", None)
        return result

    def decode(self, probs: np.ndarray):
        first = self.greedy.decode(probs)
        if self._needs_lm(first):
            return self._tagged(self.with_lm.decode(probs), self.with_lm)
        return self._tagged(first, self.greedy)

    def decode_batch(self, probs_list: Sequence[np.ndarray]) -> list:
        out = [self._tagged(self.greedy.decode(p), self.greedy) for p in probs_list]
        again = [i for i, r in enumerate(out) if self._needs_lm(r)]
        if again:
            for i, r in zip(again, decode_lines(self.with_lm, [probs_list[i] for i in again])):
                out[i] = self._tagged(r, self.with_lm)
        return out


def _auto(charset, opts: DecoderOptions, constraint: Optional[Constraint]):
    return SelectiveLMDecoder(_greedy(charset, opts, constraint), _beam_lm(charset, opts, constraint))


DECODER_FACTORIES: Dict[str, Callable] = {"greedy": _greedy, "beam": _beam, "beam_lm": _beam_lm, "auto": _auto}


def make_decoder(charset, options: Optional[DecoderOptions] = None):
    """A decoder for ``TextRecognizer.recognize(decoder=...)`` from options."""
    opts = options or DecoderOptions()
    factory = DECODER_FACTORIES.get(opts.kind)
    if factory is None:
        raise ConfigError(f"unknown decoder {opts.kind!r}; choose from {sorted(DECODER_FACTORIES)}")
    return factory(charset, opts, make_constraint(opts.allow, opts.deny, opts.pattern))
