"""Font catalogue for the synthetic engines: Debian font packages, by style, with held-out faces.

Fonts come from Debian packages installed by `scripts/install_system_deps.sh`; nothing is
downloaded. Faces in HELD_OUT are never used to make training data: the validation and benchmark
lines are rendered with them, so "held-out-font CER" measures generalisation to unseen type.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import FrozenSet, List, Optional, Sequence

# (path, face index in .ttc, style, scripts, held_out)
_CATALOGUE = (
    # Chinese — Song/Ming (serif)
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2, "song", "zh", False),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc", 2, "song", "zh", False),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0, "song", "zh", False),
    ("/usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf", 0, "song", "zh", True),
    # Chinese — Hei (sans)
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2, "hei", "zh", False),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2, "hei", "zh", False),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0, "hei", "zh", False),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, "hei", "zh", True),
    # Chinese — Kai (brush)
    ("/usr/share/fonts/truetype/arphic/ukai.ttc", 0, "kai", "zh", False),
    ("/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Regular.ttf", 0, "kai", "zh", False),
    ("/usr/share/fonts/truetype/arphic-gkai00mp/gkai00mp.ttf", 0, "kai", "zh", True),
    # Chinese — handwriting-like
    ("/usr/share/fonts/truetype/seto/setofont.ttf", 0, "hand", "zh", False),
    # Chinese — monospace (receipt printers)
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 7, "mono", "zh", False),
    ("/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKaiMono-Regular.ttf", 0, "mono", "zh", True),
    # Latin
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 0, "sans", "latin", False),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 0, "sans", "latin", False),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf", 0, "sans", "latin", False),
    ("/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf", 0, "sans", "latin", False),
    ("/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf", 0, "sans", "latin", False),
    ("/usr/share/fonts/opentype/urw-base35/NimbusSans-Regular.otf", 0, "sans", "latin", False),
    ("/usr/share/fonts/opentype/urw-base35/NimbusSansNarrow-Regular.otf", 0, "sans", "latin", False),
    ("/usr/share/fonts/opentype/urw-base35/URWGothic-Book.otf", 0, "sans", "latin", False),
    ("/usr/share/fonts/truetype/freefont/FreeSans.ttf", 0, "sans", "latin", True),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", 0, "serif", "latin", False),
    ("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf", 0, "serif", "latin", False),
    ("/usr/share/fonts/opentype/urw-base35/NimbusRoman-Regular.otf", 0, "serif", "latin", False),
    ("/usr/share/fonts/opentype/urw-base35/P052-Roman.otf", 0, "serif", "latin", False),
    ("/usr/share/fonts/opentype/urw-base35/C059-Roman.otf", 0, "serif", "latin", False),
    ("/usr/share/fonts/truetype/freefont/FreeSerif.ttf", 0, "serif", "latin", True),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", 0, "mono", "latin", False),
    ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf", 0, "mono", "latin", False),
    ("/usr/share/fonts/truetype/liberation2/LiberationMono-Regular.ttf", 0, "mono", "latin", False),
    ("/usr/share/fonts/opentype/urw-base35/NimbusMonoPS-Regular.otf", 0, "mono", "latin", False),
    ("/usr/share/fonts/opentype/urw-base35/NimbusMonoPS-Bold.otf", 0, "mono", "latin", False),
    ("/usr/share/fonts/truetype/freefont/FreeMono.ttf", 0, "mono", "latin", True),
)


@dataclass(frozen=True)
class FontFace:
    path: str
    index: int
    style: str  # song | hei | kai | hand | mono | sans | serif
    script: str  # "zh" faces also carry Latin glyphs; "latin" faces carry no CJK
    held_out: bool

    @property
    def name(self) -> str:
        return f"{Path(self.path).stem}#{self.index}"

    def covers(self, text: str) -> bool:
        cmap = _cmap(self.path, self.index)
        return all(ord(ch) in cmap or ch == " " for ch in text)


@lru_cache(maxsize=64)
def _cmap(path: str, index: int) -> FrozenSet[int]:
    from fontTools.ttLib import TTFont  # training-side dependency

    font = TTFont(path, fontNumber=index, lazy=True)
    return frozenset(font.getBestCmap().keys())


def available_fonts(held_out: Optional[bool] = False, scripts: Sequence[str] = ("zh", "latin")) -> List[FontFace]:
    """Installed faces. held_out=False: training faces; True: evaluation faces; None: all."""
    faces = [FontFace(*row) for row in _CATALOGUE]
    return [
        f for f in faces
        if Path(f.path).exists() and f.script in scripts and (held_out is None or f.held_out == held_out)
    ]


def require_fonts(held_out: Optional[bool] = False) -> List[FontFace]:
    faces = available_fonts(held_out)
    if not any(f.script == "zh" for f in faces):
        raise RuntimeError("no Chinese fonts installed: run scripts/install_system_deps.sh (Debian font packages)")
    return faces
