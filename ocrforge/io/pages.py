"""What the loaders produce (one ``PageImage`` per page) and how users pick pages ("1-3,5")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Union

import numpy as np

from ..errors import ConfigError, InputError

PageSpec = Union[None, str, int, Iterable[int]]


@dataclass
class PageImage:
    """One page of an input, decoded to the colour layout every later stage expects.

    ``image`` is always HxWx3 uint8 BGR (OpenCV's order), whatever the file held: grayscale,
    palette, alpha (composited on white), 16-bit or float data are converted on load, and EXIF
    orientation is already applied, so pixel coordinates are those of the page as a person sees it.
    """

    image: np.ndarray
    source: str  # path as given, or "<bytes>", "<array>", "<PIL image>"
    index: int  # 0-based index of this page within its source
    page_count: int = 1  # pages in the source (before any page selection)
    dpi: Optional[float] = None  # known resolution (PDF render dpi, image metadata), else None
    kind: str = "image"  # "image" or "pdf"
    metadata: dict = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


_RANGE = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


def parse_page_spec(spec: PageSpec, page_count: int, source: str = "input") -> List[int]:
    """1-based page selection -> sorted-as-given 0-based indices.

    ``None``/"all" selects every page; "1-3,5" pages 1, 2, 3 and 5; "4-" page 4 to the end;
    "-2" the first two. A page past the end is an ``InputError`` (the input is shorter than the
    user believes), a malformed spec a ``ConfigError``. Duplicates are dropped, order is kept.
    """
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "all")):
        return list(range(page_count))
    wanted: List[int] = []
    if isinstance(spec, int):
        wanted = [spec]
    elif isinstance(spec, str):
        for part in spec.split(","):
            part = part.strip()
            if not part:
                raise ConfigError(f"bad page range {spec!r}: empty item")
            m = _RANGE.match(part)
            if m:
                lo = int(m.group(1)) if m.group(1) else 1
                hi = int(m.group(2)) if m.group(2) else page_count
                if not m.group(1) and not m.group(2):
                    raise ConfigError(f"bad page range {spec!r}: '-' needs a page number")
                if m.group(2) and lo > hi:
                    raise ConfigError(f"bad page range {spec!r}: {lo} > {hi}")
                if not m.group(2):
                    hi = max(hi, lo)  # "9-" on a 5-page file is reported as page 9 missing
                wanted.extend(range(lo, hi + 1))
            elif part.isdigit():
                wanted.append(int(part))
            else:
                raise ConfigError(f"bad page range {spec!r}: expected e.g. '1-3,5'")
    else:
        try:
            wanted = [int(p) for p in spec]
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad page selection {spec!r}: expected page numbers") from exc
    out: List[int] = []
    seen = set()
    for p in wanted:
        if p < 1:
            raise ConfigError(f"bad page number {p}: pages are numbered from 1")
        if p > page_count:
            raise InputError(f"{source}: page {p} requested but it has {page_count} page(s)")
        if p not in seen:
            seen.add(p)
            out.append(p - 1)
    return out
