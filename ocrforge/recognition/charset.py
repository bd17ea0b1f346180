"""The recognizer's alphabet: GB2312 hanzi + printable ASCII + full-width forms + bill symbols.

The charset is one versioned text file (``charset_v1.txt``), one character per line, in index
order. ``latin_v1`` (printable ASCII) is a documented subset for Latin-only models. Index 0 is the CTC blank and is not in the file; a space is stored as the escape ``<space>``.
``build_charset_v1()`` regenerates the file from the codecs, so its content is reproducible and a
test checks the file against it. A model records its charset version; loading a model with a
different charset fails loudly instead of decoding garbage.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Sequence

CHARSET_DIR = Path(__file__).resolve().parent
DEFAULT_VERSION = "v1"
SPACE_TOKEN = "<space>"

# Symbols printed on Chinese bills and receipts that are neither ASCII nor full-width forms.
BILL_SYMBOLS = (
    "¥￥℃℉№×÷·—–…‰§°±√∞≈≠≤≥←→↑↓■□●○◆◇★☆※"
    "、。〃〈〉《》「」『』【】〔〕〖〗〝〞"
    "‘’“”•″′€£¢©®™"
    "ⅠⅡⅢⅣⅤⅥⅦⅧⅨⅩ①②③④⑤⑥⑦⑧⑨⑩"
)


def _gb2312_hanzi() -> List[str]:
    """The 6,763 hanzi of GB2312 (rows 16-87), in code order."""
    out = []
    for hi in range(0xB0, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                ch = bytes([hi, lo]).decode("gb2312")
            except UnicodeDecodeError:
                continue
            if unicodedata.category(ch) == "Lo":
                out.append(ch)
    return out


def build_charset_v1() -> List[str]:
    """Characters of charset v1, without the blank, in index order."""
    chars: List[str] = [chr(c) for c in range(0x20, 0x7F)]  # printable ASCII, space first
    chars += [chr(c) for c in range(0xFF01, 0xFF5F)]  # full-width forms ！..～
    chars += list(BILL_SYMBOLS)
    chars += _gb2312_hanzi()
    seen, ordered = set(), []
    for ch in chars:
        if ch not in seen:
            seen.add(ch)
            ordered.append(ch)
    return ordered


@dataclass(frozen=True)
class Charset:
    """Index <-> character mapping with the CTC blank at 0."""

    version: str
    chars: Sequence[str]  # without the blank
    index: Dict[str, int] = field(repr=False, compare=False, default_factory=dict)

    BLANK = 0

    @property
    def num_classes(self) -> int:
        return len(self.chars) + 1

    def __contains__(self, ch: str) -> bool:
        return ch in self.index

    def normalize(self, text: str) -> str:
        """Map characters outside the charset to an equivalent inside it where one exists."""
        out = []
        for ch in text:
            if ch in self.index:
                out.append(ch)
                continue
            alt = unicodedata.normalize("NFKC", ch)
            out.append(alt if alt and all(a in self.index for a in alt) else ch)
        return "".join(out)

    def encode(self, text: str) -> List[int]:
        """Label indices for ``text``; characters outside the charset are dropped."""
        return [self.index[ch] for ch in self.normalize(text) if ch in self.index]

    def decode(self, indices: Iterable[int]) -> str:
        return "".join(self.chars[i - 1] for i in indices if i > 0)

    def covers(self, text: str) -> bool:
        return all(ch in self.index for ch in self.normalize(text))


def charset_path(version: str = DEFAULT_VERSION) -> Path:
    return CHARSET_DIR / f"charset_{version}.txt"


def build_charset_latin_v1() -> List[str]:
    """Printable ASCII only: for Latin-script receipts and documents (a small, fast-to-train head)."""
    return [chr(c) for c in range(0x20, 0x7F)]


BUILDERS = {"v1": build_charset_v1, "latin_v1": build_charset_latin_v1}


def write_charset(version: str = DEFAULT_VERSION) -> Path:
    if version not in BUILDERS:
        raise ValueError(f"no builder for charset {version!r}")
    path = charset_path(version)
    lines = [SPACE_TOKEN if ch == " " else ch for ch in BUILDERS[version]()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@lru_cache(maxsize=8)
def load_charset(version: str = DEFAULT_VERSION) -> Charset:
    path = charset_path(version)
    if not path.exists():
        raise FileNotFoundError(f"charset {version!r} not found at {path}")
    chars = [" " if ln == SPACE_TOKEN else ln for ln in path.read_text(encoding="utf-8").split("\n") if ln]
    return Charset(version=version, chars=tuple(chars), index={ch: i + 1 for i, ch in enumerate(chars)})


if __name__ == "__main__":
    for v in BUILDERS:
        print(write_charset(v), load_charset(v).num_classes)
