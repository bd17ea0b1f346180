"""Character n-gram language models for CTC beam search (numpy only).

Why hand-written: KenLM gives excellent word models but must be compiled (no wheel) and its
Python API scores whole space-separated sentences, one string at a time; the beam needs
``log P(c | last n-1 chars)`` for a (beams x candidates) matrix of characters at every frame, for
Chinese, where a "word" is one character. So the model here is a character model queried in
batches with ``np.searchsorted`` over sorted hashed n-gram keys.

Model: interpolated modified Kneser-Ney (Chen & Goodman 1998) with three discounts per order,
count-pruned above the unigrams, with backoff weights recomputed after pruning so each context's
distribution still sums to one (as SRILM does). It is stored in backoff form: for every kept
n-gram ``h w`` its interpolated ``log p(w|h)``, and for every context ``h`` its ``log bow(h)``, so
``log p(w|h) = log p(w|h) if h w is stored else log bow(h) + log p(w|h[1:])``.

Keys: a character is its code point + ``TOKEN_OFFSET`` (``BOS``/``EOS`` below that), an n-gram is
the polynomial hash ``((x0*M + x1)*M + x2)...`` mod 2**64, so the key of ``h w`` is
``key(h)*M + w``: a beam carries the keys of its last 1..n-1 characters and extends them in O(n).
On disk the keys of order >= 2 are folded to 32 bits (half the size); a false hit on an unseen
n-gram then has a chance of about (stored keys / 2**32), which changes one score slightly and is
cheaper than storing the n-grams. The file is a numpy ``.npz`` archive (any extension).
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import ConfigError, ModelError

FORMAT = "ocrforge-char-ngram"
FORMAT_VERSION = 1
BOS = 1
EOS = 2
TOKEN_OFFSET = 16
HASH_MUL = np.uint64(0x9E3779B97F4A7C15)
_FOLD_MUL = np.uint64(0xD6E8FEB86659FD93)
_LOG_FLOOR = -99.0

ProgressFn = Callable[[str, float], None]


def text_to_tokens(text: str) -> np.ndarray:
    """Code points + TOKEN_OFFSET, as uint64 (the hash arithmetic wraps in uint64)."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64) + np.uint64(TOKEN_OFFSET)


# uint64 array arithmetic wraps silently (only numpy scalars warn), which is the hash we want;
# np.asarray(..., ndmin=1) keeps scalars out.
def fold_keys(keys: np.ndarray) -> np.ndarray:
    """64-bit n-gram hashes -> 32-bit storage keys (multiplicative mixing, high half)."""
    k = np.asarray(keys, dtype=np.uint64)
    k = k.reshape(1) if k.ndim == 0 else k
    return ((k * _FOLD_MUL) >> np.uint64(32)).astype(np.uint32)


def extend_keys(keys: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    k = np.asarray(keys, dtype=np.uint64)
    k = k.reshape(1) if k.ndim == 0 else k
    return k * HASH_MUL + np.asarray(tokens, dtype=np.uint64)


# ----------------------------------------------------------------------------------------------
# The model


@dataclass
class _OrderTable:
    keys: np.ndarray  # sorted; uint32 (order 1: token ids, exact; higher: folded hashes)
    logp: np.ndarray  # float32 natural log
    bow: Optional[np.ndarray]  # float32 natural log; None for the highest order

    def lookup(self, keys: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """(found mask, index) for query keys already in this table's key space."""
        if len(self.keys) == 0:
            return np.zeros(keys.shape, bool), np.zeros(keys.shape, np.int64)
        idx = np.searchsorted(self.keys, keys)
        np.minimum(idx, len(self.keys) - 1, out=idx)
        return self.keys[idx] == keys, idx


class LMHistory:
    """Histories of a batch of hypotheses: keys of their last 1..n-1 tokens (column j = last j+1)."""

    __slots__ = ("keys", "length")

    def __init__(self, keys: np.ndarray, length: np.ndarray):
        self.keys = keys  # (B, H) uint64
        self.length = length  # (B,) int: how many trailing tokens are known, capped at H

    @classmethod
    def start(cls, batch: int, width: int) -> "LMHistory":
        keys = np.zeros((batch, max(width, 1)), np.uint64)
        keys[:, 0] = BOS
        return cls(keys, np.ones(batch, np.int64))

    def take(self, rows: np.ndarray) -> "LMHistory":
        return LMHistory(self.keys[rows], self.length[rows])

    def extend(self, tokens: np.ndarray) -> "LMHistory":
        """History of each row after appending ``tokens[row]``."""
        new = np.empty_like(self.keys)
        new[:, 0] = tokens
        if self.keys.shape[1] > 1:
            new[:, 1:] = extend_keys(self.keys[:, :-1], tokens[:, None])
        return LMHistory(new, np.minimum(self.length + 1, self.keys.shape[1]))


class CharNgramLM:
    """A backoff character n-gram model; ``logprob`` scores (beams x candidates) in one call."""

    def __init__(self, order: int, tables: List[_OrderTable], unk_logp: float, meta: Optional[dict] = None):
        if order < 1 or len(tables) != order:
            raise ModelError(f"n-gram model: order {order} with {len(tables)} tables")
        self.order = order
        self.tables = tables
        self.unk_logp = float(unk_logp)
        self.meta = dict(meta or {})
        self._build_index()

    @property
    def history_width(self) -> int:
        return max(self.order - 1, 1)

    @property
    def num_ngrams(self) -> List[int]:
        return [len(t.keys) for t in self.tables]

    # -- scoring ---------------------------------------------------------------------------
    def _build_index(self) -> None:
        """All orders in one sorted uint64 array, key = order << 32 | stored key, so one
        ``searchsorted`` answers every order of every query at once."""
        keys = [(np.uint64(n) << np.uint64(32)) | t.keys.astype(np.uint64) for n, t in enumerate(self.tables, 1)]
        logp = [t.logp for t in self.tables]
        bow = [t.bow if t.bow is not None else np.zeros(len(t.keys), np.float32) for t in self.tables]
        allk = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
        srt = np.argsort(allk, kind="stable")
        self._keys = allk[srt]
        self._logp = np.concatenate(logp)[srt].astype(np.float64)
        self._bow = np.concatenate(bow)[srt].astype(np.float64)
        self._shift = (np.arange(1, self.order + 1, dtype=np.uint64) << np.uint64(32))

    def _lookup(self, q: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        idx = np.searchsorted(self._keys, q)
        np.minimum(idx, len(self._keys) - 1, out=idx)
        return self._keys[idx] == q, idx

    def _query_keys(self, ctx: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Merged-index keys of ``ctx``-extended tokens: ctx (..., N-1) keys of the last 1..N-1
        tokens, tokens (...); result (..., N), column n-1 = the n-gram of order n."""
        grams = np.empty(tokens.shape + (self.order,), np.uint64)
        grams[..., 0] = tokens
        if self.order > 1:
            grams[..., 1:] = extend_keys(ctx, tokens[..., None])
        folded = fold_keys(grams).astype(np.uint64)
        folded[..., 0] = tokens.astype(np.uint32)  # unigrams are stored exactly
        return folded | self._shift

    def logprob(self, hist: LMHistory, tokens: np.ndarray) -> np.ndarray:
        """Natural-log P(token | history) for ``tokens`` (B, K) given ``hist`` of B rows."""
        tokens = np.asarray(tokens, dtype=np.uint64)
        squeeze = tokens.ndim == 1
        if squeeze:
            tokens = tokens[:, None]
        b = tokens.shape[0]
        n = self.order
        width = min(n - 1, hist.keys.shape[1])
        ctx = np.zeros((b, n - 1), np.uint64)
        ctx[:, :width] = hist.keys[:, :width]
        # usable[:, j]: the n-gram of order j+1 needs j history tokens
        usable = np.arange(n)[None, :] <= np.minimum(hist.length, width)[:, None]
        found, idx = self._lookup(self._query_keys(ctx[:, None, :], tokens))  # (B, K, N)
        found &= usable[:, None, :]
        # backoff weights of the contexts of length 1..N-1, where the row can use them
        if n > 1:
            cq = fold_keys(ctx).astype(np.uint64)
            cq[:, 0] = ctx[:, 0].astype(np.uint32)
            cfound, cidx = self._lookup(cq | self._shift[None, : n - 1])
            bows = np.where(cfound & usable[:, 1:], self._bow[cidx], 0.0)  # (B, N-1)
            # cum[:, j] = bows of contexts of length >= j (those paid when the answer has order j)
            cum = np.zeros((b, n + 1))
            cum[:, 1:n] = np.cumsum(bows[:, ::-1], axis=1)[:, ::-1]
        else:
            cum = np.zeros((b, 2))
        top = n - 1 - np.argmax(found[..., ::-1], axis=-1)  # highest order found, 0-based
        hit = found.any(-1)
        lp = np.where(hit, np.take_along_axis(self._logp[idx], top[..., None], -1)[..., 0], self.unk_logp)
        order_paid = np.where(hit, top + 1, 1)  # unknown characters pay every backoff weight
        out = lp + np.take_along_axis(cum, order_paid, axis=1)
        return out[:, 0] if squeeze else out

    def score_text(self, text: str, eos: bool = True) -> float:
        """Natural-log probability of a whole line (with its end, unless ``eos`` is False)."""
        toks = text_to_tokens(text)
        hist = LMHistory.start(1, self.history_width)
        total = 0.0
        for t in list(toks) + ([np.uint64(EOS)] if eos else []):
            arr = np.array([t], np.uint64)
            total += float(self.logprob(hist, arr[:, None])[0, 0])
            hist = hist.extend(arr)
        return total

    def perplexity(self, lines: Iterable[str]) -> float:
        lp, n = 0.0, 0
        for line in lines:
            lp += self.score_text(line)
            n += len(line) + 1
        return math.exp(-lp / max(n, 1))

    # -- storage ---------------------------------------------------------------------------
    def save(self, path: Union[str, Path]) -> Path:
        path = Path(path)
        arrays = {}
        for n, t in enumerate(self.tables, start=1):
            arrays[f"keys{n}"] = t.keys
            arrays[f"logp{n}"] = t.logp.astype(np.float16)
            if t.bow is not None:
                arrays[f"bow{n}"] = t.bow.astype(np.float16)
        header = {"format": FORMAT, "version": FORMAT_VERSION, "order": self.order, "unk_logp": self.unk_logp,
                  "meta": self.meta}
        arrays["header"] = np.frombuffer(json.dumps(header, ensure_ascii=False).encode("utf-8"), np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(buf.getvalue())
        return path

    @classmethod
    def load(cls, path: Union[str, Path]) -> "CharNgramLM":
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"language model not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(bytes(z["header"]).decode("utf-8"))
                if header.get("format") != FORMAT or header.get("version") != FORMAT_VERSION:
                    raise ModelError(f"{path}: not an {FORMAT} v{FORMAT_VERSION} file")
                order = int(header["order"])
                tables = []
                for n in range(1, order + 1):
                    bow = z[f"bow{n}"].astype(np.float32) if f"bow{n}" in z.files else None
                    tables.append(_OrderTable(z[f"keys{n}"], z[f"logp{n}"].astype(np.float32), bow))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise ModelError(f"{path}: unreadable language model ({exc})") from None
        return cls(order, tables, header["unk_logp"], header.get("meta"))


class InterpolatedLM:
    """Linear interpolation of several character models, e.g. the shipped one and a user's."""

    def __init__(self, models: Sequence[CharNgramLM], weights: Sequence[float]):
        if not models or len(models) != len(weights) or min(weights) < 0 or sum(weights) <= 0:
            raise ConfigError("interpolation needs one non-negative weight per model, summing to > 0")
        self.models = list(models)
        total = float(sum(weights))
        self.log_weights = [math.log(w / total) if w > 0 else -np.inf for w in weights]
        self.order = max(m.order for m in models)

    @property
    def history_width(self) -> int:
        return max(m.history_width for m in self.models)

    def logprob(self, hist: LMHistory, tokens: np.ndarray) -> np.ndarray:
        parts = [lw + m.logprob(hist, tokens) for m, lw in zip(self.models, self.log_weights)]
        return np.logaddexp.reduce(np.stack(parts), axis=0)


class FlooredLM:
    """A model whose per-character log-probability never falls below ``floor``. Shallow fusion lets the
    LM outvote the recognizer by up to ``alpha * (log P(common) - log P(rare))``; for a character the
    corpus almost never holds (names, addresses, uniform GB2312 text) that is enough to turn a sure
    reading into a common look-alike. The floor caps how far the LM may push against the image."""

    def __init__(self, inner, floor: float):
        self.inner, self.floor = inner, float(floor)
        self.order = inner.order

    @property
    def history_width(self) -> int:
        return self.inner.history_width

    def logprob(self, hist: LMHistory, tokens: np.ndarray) -> np.ndarray:
        return np.maximum(self.inner.logprob(hist, tokens), self.floor)


# ----------------------------------------------------------------------------------------------
# Building


@dataclass
class BuildConfig:
    order: int = 5
    # minimum raw count to keep an n-gram, per order starting at 2 (last value repeats)
    prune: Sequence[int] = field(default_factory=lambda: (1,))
    vocab_floor: int = 7040  # unigram smoothing spreads over at least this many characters
    max_ngrams: Optional[int] = None  # raise the pruning thresholds until the model is this small


def lines_to_stream(lines: Iterable[str]) -> Tuple[np.ndarray, np.ndarray]:
    """Token stream ``BOS line EOS BOS line EOS ...`` and the line id of each token."""
    text = "\n".join(ln.replace("\r", "") for ln in lines if ln.strip()) + "\n"
    codes = text_to_tokens(text)
    nl = np.uint64(ord("\n") + TOKEN_OFFSET)
    ends = np.flatnonzero(codes == nl)
    stream = np.insert(codes, np.concatenate([[0], ends[:-1] + 1]), np.uint64(BOS))
    stream[stream == nl] = EOS
    line_id = np.cumsum(stream == BOS) - 1
    return stream, line_id


def _discounts(counts: np.ndarray) -> np.ndarray:
    """Modified-KN discounts D1, D2, D3+ from counts of counts (Chen & Goodman eq. 26)."""
    n = [int((counts == i).sum()) for i in (1, 2, 3, 4)]
    if n[0] == 0 or n[1] == 0 or n[2] == 0:
        return np.array([0.5, 0.75, 0.9])  # tiny corpora: fixed, still < the counts they discount
    y = n[0] / (n[0] + 2 * n[1])
    d = np.array([1 - 2 * y * n[1] / n[0], 2 - 3 * y * n[2] / n[1], 3 - 4 * y * n[3] / n[2]])
    return np.clip(d, 0.05, np.array([0.95, 1.9, 2.9]))


def _group_sums(inv: np.ndarray, size: int, values: np.ndarray) -> np.ndarray:
    return np.bincount(inv, weights=values, minlength=size)


def build_lm(
    lines: Iterable[str],
    config: BuildConfig = BuildConfig(),
    progress: Optional[ProgressFn] = None,
    meta: Optional[dict] = None,
) -> CharNgramLM:
    """Estimate an interpolated modified-KN character model from text lines."""
    order = int(config.order)
    if order < 1 or order > 9:
        raise ConfigError(f"n-gram order must be 1..9, got {order}")
    report = progress or (lambda stage, frac: None)
    stream, line_id = lines_to_stream(lines)
    if len(stream) < 3:
        raise ConfigError("the corpus is empty")
    report("counting", 0.0)

    # --- count every order: unique keys, raw counts, first position --------------------------
    keys_k = stream.copy()
    grams = []  # per order: dict(keys, raw, pos)
    for n in range(1, order + 1):
        if n > 1:
            keys_k = extend_keys(keys_k[:-1], stream[n - 1 :])
        valid = line_id[: len(keys_k)] == line_id[n - 1 :]  # n-grams never span two lines
        uk, first, raw = np.unique(keys_k[valid], return_index=True, return_counts=True)
        pos = np.flatnonzero(valid)[first]
        grams.append({"keys": uk, "raw": raw.astype(np.int64), "pos": pos})
        report("counting", n / order)

    def full_keys(n: int, positions: np.ndarray) -> np.ndarray:
        k = stream[positions]
        for j in range(1, n):
            k = extend_keys(k, stream[positions + j])
        return k

    # --- modified counts: continuation counts below the top order, raw for <s>-initial ---------
    for n in range(1, order + 1):
        g = grams[n - 1]
        first_tok = stream[g["pos"]]
        cnt = g["raw"].copy()
        if n < order:
            up = grams[n]
            suffix = full_keys(n, up["pos"] + 1)
            su, sc = np.unique(suffix, return_counts=True)
            i = np.searchsorted(g["keys"], su)
            cont = np.zeros(len(g["keys"]), np.int64)
            cont[i] = sc
            cnt = np.where(first_tok == BOS, g["raw"], cont)
        g["count"] = cnt
        g["first"] = first_tok

    # --- probabilities bottom-up --------------------------------------------------------------
    uni = grams[0]
    predict = uni["first"] != BOS
    c = uni["count"].astype(np.float64)
    d = _discounts(uni["count"][predict])
    disc = d[np.minimum(uni["count"], 3) - 1]
    total = c[predict].sum()
    n_types = int(predict.sum())
    gamma0 = float(np.sum(disc[predict]) / total)
    vocab = max(n_types + 1, config.vocab_floor)
    uni["p"] = np.where(predict, (c - disc) / total + gamma0 / vocab, 0.0)
    unk_logp = math.log(gamma0 / vocab)
    report("estimating", 1 / order)

    for n in range(2, order + 1):
        g, lo = grams[n - 1], grams[n - 2]
        prefix = full_keys(n - 1, g["pos"])
        suffix = full_keys(n - 1, g["pos"] + 1)
        ctx, inv = np.unique(prefix, return_inverse=True)
        cnt = g["count"].astype(np.float64)
        d = _discounts(g["count"])
        disc = d[np.minimum(g["count"], 3) - 1]
        s_ctx = _group_sums(inv, len(ctx), cnt)
        gamma = _group_sums(inv, len(ctx), disc) / s_ctx
        p_lower = lo["p"][np.searchsorted(lo["keys"], suffix)]
        g["p"] = (cnt - disc) / s_ctx[inv] + gamma[inv] * p_lower
        g["ctx_inv"], g["ctx_keys"], g["suffix_idx"] = inv, ctx, np.searchsorted(lo["keys"], suffix)
        report("estimating", n / order)

    # --- pruning (raise thresholds if a size cap is set), then backoff weights -------------------
    thresholds = _thresholds(config.prune, order)
    while True:
        keep = [np.ones(len(grams[0]["keys"]), bool)]
        for n in range(2, order + 1):
            keep.append(grams[n - 1]["raw"] >= thresholds[n - 2])
        size = sum(int(k.sum()) for k in keep)
        if config.max_ngrams is None or size <= config.max_ngrams or thresholds[-1] > 1_000_000:
            break
        thresholds = _thresholds([max(t + 1, int(math.ceil(t * 1.3))) for t in thresholds], order)

    bows = [np.zeros(len(g["keys"])) for g in grams]
    for n in range(2, order + 1):
        g, lo = grams[n - 1], grams[n - 2]
        kept = keep[n - 1]
        num = 1.0 - _group_sums(g["ctx_inv"][kept], len(g["ctx_keys"]), g["p"][kept])
        den = 1.0 - _group_sums(g["ctx_inv"][kept], len(g["ctx_keys"]), lo["p"][g["suffix_idx"][kept]])
        bow = np.maximum(num, 1e-12) / np.maximum(den, 1e-12)
        ci = np.searchsorted(lo["keys"], g["ctx_keys"])
        bows[n - 2][ci] = np.log(bow)
    report("pruning", 1.0)

    tables = []
    for n in range(1, order + 1):
        g, kept = grams[n - 1], keep[n - 1]
        keys64, p, bw = g["keys"][kept], g["p"][kept], bows[n - 1][kept]
        keys = keys64.astype(np.uint32) if n == 1 else fold_keys(keys64)
        logp = np.where(p > 0, np.log(np.maximum(p, 1e-300)), _LOG_FLOOR)
        srt = np.argsort(keys, kind="stable")
        keys, logp, bw = keys[srt], logp[srt], bw[srt]
        dup = np.zeros(len(keys), bool)
        dup[1:] = keys[1:] == keys[:-1]  # 32-bit fold collisions: keep one entry
        keys, logp, bw = keys[~dup], logp[~dup], bw[~dup]
        tables.append(_OrderTable(keys, logp.astype(np.float32), bw.astype(np.float32) if n < order else None))
    info = dict(meta or {})
    info.update({"smoothing": "interpolated modified Kneser-Ney", "prune_min_counts": thresholds,
                 "tokens": int(len(stream)), "lines": int(line_id[-1] + 1)})
    lm = CharNgramLM(order, tables, unk_logp, info)
    lm.meta["ngrams"] = lm.num_ngrams
    return lm


def _thresholds(prune: Sequence[int], order: int) -> List[int]:
    vals = [int(v) for v in (prune or (1,))]
    if min(vals) < 1:
        raise ConfigError("pruning thresholds are minimum counts, >= 1")
    out = [vals[min(i, len(vals) - 1)] for i in range(order - 1)]
    # keeping "a b c" requires keeping "a b": non-decreasing thresholds guarantee it
    for i in range(1, len(out)):
        out[i] = max(out[i], out[i - 1])
    return out


def read_corpus_lines(paths: Sequence[Union[str, Path]]) -> Iterable[str]:
    for p in paths:
        p = Path(p)
        if not p.is_file():
            raise ConfigError(f"corpus file not found: {p}")
        with p.open("r", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                line = line.rstrip("\n")
                if line.strip():
                    yield line


def word_list_lm(words: Iterable[str], order: int = 4, repeat: int = 3) -> CharNgramLM:
    """A small model of a user's word list (product names, shop names), for interpolation.

    Each word is one line, repeated so that its n-grams are not all singletons (which modified
    KN would discount almost to nothing).
    """
    items = [w.strip() for w in words if w and w.strip()]
    if not items:
        raise ConfigError("the word list is empty")
    return build_lm([w for w in items for _ in range(repeat)], BuildConfig(order=order, vocab_floor=7040),
                    meta={"source": "word list", "words": len(items)})


LM_LOADERS: Dict[str, Callable[[Path], CharNgramLM]] = {".bin": CharNgramLM.load, ".npz": CharNgramLM.load}


def default_lm_path() -> Path:
    return Path(__file__).resolve().parent.parent / "models" / "lm_zh_en.bin"


def load_lm(path: Optional[Union[str, Path]] = None) -> CharNgramLM:
    """The shipped zh+en model, or the one at ``path``."""
    p = Path(path) if path is not None else default_lm_path()
    loader = LM_LOADERS.get(p.suffix.lower(), CharNgramLM.load)
    return loader(p)
