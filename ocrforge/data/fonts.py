"""Font catalogue for the synthetic engines: Debian font packages, by style, with held-out faces.

Fonts come from Debian packages installed by `scripts/install_system_deps.sh`; nothing is
downloaded. A font pack (`ocrforge synth fonts --out DIR`, then OCRFORGE_FONT_PACK=DIR) carries the
catalogue's faces subset to the charset, a few MB each, to a machine without the packages (a GPU
box, a container); faces are then read from the pack and keep their catalogue names. Faces in HELD_OUT are never used to make training data: the validation and benchmark
lines are rendered with them, so "held-out-font CER" measures generalisation to unseen type.
"""

from __future__ import annotations

import os
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
    # Light and Black weights (fonts-noto-cjk-extra): print runs from hairline to heavy; with only Regular
    # and Bold in training, stroke weight was one of the things held-out faces differed in.
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Light.ttc", 2, "song", "zh", False),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Black.ttc", 2, "song", "zh", False),
    # Chinese — Hei (sans)
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2, "hei", "zh", False),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2, "hei", "zh", False),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0, "hei", "zh", False),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, "hei", "zh", True),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Light.ttc", 2, "hei", "zh", False),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Black.ttc", 2, "hei", "zh", False),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0, "hei", "zh", False),
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
    origin: str = ""  # catalogue name of a face read from a font pack

    @property
    def name(self) -> str:
        return self.origin or f"{Path(self.path).stem}#{self.index}"

    def covers(self, text: str) -> bool:
        cmap = _cmap(self.path, self.index)
        return all(ord(ch) in cmap or ch == " " for ch in text)


@lru_cache(maxsize=64)
def _cmap(path: str, index: int) -> FrozenSet[int]:
    from fontTools.ttLib import TTFont  # training-side dependency

    font = TTFont(path, fontNumber=index, lazy=True)
    return frozenset(font.getBestCmap().keys())


FONT_PACK_ENV = "OCRFORGE_FONT_PACK"


def _pack_file(pack: Path, face: FontFace) -> Optional[Path]:
    for ext in (".otf", ".ttf"):
        p = pack / f"{Path(face.path).stem}-{face.index}{ext}"
        if p.exists():
            return p
    return None


def available_fonts(held_out: Optional[bool] = False, scripts: Sequence[str] = ("zh", "latin")) -> List[FontFace]:
    """Installed faces (or, with $OCRFORGE_FONT_PACK set, the pack's faces).
    held_out=False: training faces; True: evaluation faces; None: all."""
    faces = [FontFace(*row) for row in _CATALOGUE]
    faces = [f for f in faces if f.script in scripts and (held_out is None or f.held_out == held_out)]
    pack = os.environ.get(FONT_PACK_ENV)
    if not pack:
        return [f for f in faces if Path(f.path).exists()]
    packed = []
    for f in faces:
        p = _pack_file(Path(pack), f)
        if p is not None:
            packed.append(FontFace(str(p), 0, f.style, f.script, f.held_out, origin=f.name))
    return packed


def write_font_pack(out_dir: Path, chars: str, held_out: Optional[bool] = False,
                    scripts: Sequence[str] = ("zh", "latin")) -> List[Path]:
    """Subset each installed catalogue face to `chars` (the charset) into `out_dir`.

    fontTools' subsetter rather than shipping whole fonts: a CJK face drops from 15-27 MB to 1.5-4.5 MB
    once only the charset's 7,038 characters are kept, which is what lets a pack travel."""
    from fontTools import subset

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    text = "".join(sorted(set(chars) | {" "}))
    for face in available_fonts(held_out, scripts):
        opts = subset.Options()
        opts.font_number = face.index
        opts.layout_features = []
        opts.name_IDs = ["*"]
        opts.hinting = False
        opts.notdef_outline = True
        font = subset.load_font(face.path, opts)
        subsetter = subset.Subsetter(opts)
        subsetter.populate(text=text)
        subsetter.subset(font)
        ext = ".otf" if "CFF " in font else ".ttf"
        out = out_dir / f"{Path(face.path).stem}-{face.index}{ext}"
        subset.save_font(font, str(out), opts)
        written.append(out)
    return written


def require_fonts(held_out: Optional[bool] = False) -> List[FontFace]:
    faces = available_fonts(held_out)
    if not any(f.script == "zh" for f in faces):
        where = f"in the font pack {os.environ[FONT_PACK_ENV]}" if os.environ.get(FONT_PACK_ENV) else "installed"
        raise RuntimeError(f"no Chinese fonts {where}: run scripts/install_system_deps.sh (Debian font packages)")
    return faces
