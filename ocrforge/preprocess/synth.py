"""Synthetic pages whose geometry is known, for testing and benchmarking the preprocessing steps.

A rendered page is upright, unskewed and flat by construction, so any rotation, skew, warp,
noise or contrast loss applied afterwards is the ground truth a step has to undo. Used by
tests/test_preprocess*.py and by ``python -m ocrforge.preprocess.bench``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

LATIN_FONTS: Tuple[str, ...] = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationMono-Regular.ttf",
)
CJK_FONTS: Tuple[str, ...] = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
)

_WORDS = (
    "invoice total amount date number customer address payment cash change tax item quantity price "
    "the of and to in is for on with as by at from this that be are was receipt order service thank you "
    "please keep your copy for reference document page section report table summary account balance "
    "subtotal discount delivery phone email street city company limited store branch member card"
).split()
_CJK = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说"
    "产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点"
    "从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原"
    "又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革"
    "发票金额合计日期单价数量税号名称地址电话开户银行账号收款人复核备注商品服务小写大写"
)
_CJK_PUNCT = "，。、；："


def available_fonts(paths: Sequence[str]) -> List[str]:
    return [p for p in paths if os.path.exists(p)]


@dataclass
class SynthPage:
    image: np.ndarray  # uint8 BGR, upright, white paper
    line_boxes: List[Tuple[int, int, int, int]]  # x0, y0, x1, y1 of each rendered line


def _latin_line(rng: np.random.Generator, n_chars: int) -> str:
    words: List[str] = []
    while sum(len(w) + 1 for w in words) < n_chars:
        w = str(rng.choice(_WORDS))
        r = rng.random()
        if r < 0.15:
            w = w.capitalize()
        elif r < 0.2:
            w = w.upper()
        elif r < 0.27:
            w = f"{rng.integers(1, 9999)}.{rng.integers(0, 99):02d}"
        words.append(w)
    return " ".join(words)


def _cjk_line(rng: np.random.Generator, n_chars: int) -> str:
    chars = [str(rng.choice(list(_CJK))) for _ in range(n_chars)]
    for i in range(6, n_chars, int(rng.integers(6, 14))):
        chars[i] = str(rng.choice(list(_CJK_PUNCT)))
    return "".join(chars)


def render_page(
    seed: int = 0,
    size: Tuple[int, int] = (1000, 1400),
    script: str = "mixed",
    font_px: Optional[int] = None,
) -> SynthPage:
    """Render an upright page of paragraphs (``script``: "latin", "cjk" or "mixed").

    Paragraphs are left aligned with ragged right edges and short last lines, like real prose;
    mixed pages alternate Latin and CJK paragraphs.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    latin_fonts = available_fonts(LATIN_FONTS)
    cjk_fonts = available_fonts(CJK_FONTS)
    if not latin_fonts or not cjk_fonts:
        raise FileNotFoundError("synthetic pages need DejaVu/Liberation and Noto CJK fonts installed")
    px = int(font_px or rng.integers(18, 34))
    latin_font = ImageFont.truetype(str(rng.choice(latin_fonts)), px)
    cjk_font = ImageFont.truetype(str(rng.choice(cjk_fonts)), px)

    page = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(page)
    margin_x = int(rng.integers(60, 120))
    y = int(rng.integers(60, 120))
    spacing = int(px * rng.uniform(1.35, 1.9))
    boxes: List[Tuple[int, int, int, int]] = []
    paragraph = 0
    while y + spacing < height - 80:
        cjk = script == "cjk" or (script == "mixed" and paragraph % 2 == 1)
        font = cjk_font if cjk else latin_font
        n_lines = int(rng.integers(2, 7))
        for i in range(n_lines):
            if y + spacing >= height - 80:
                break
            avail = width - 2 * margin_x
            # Characters per full line: CJK glyphs are ~1 em wide, Latin ~0.5 em.
            per_line = int(avail / (px * (1.0 if cjk else 0.55)))
            frac = rng.uniform(0.3, 0.75) if i == n_lines - 1 else rng.uniform(0.85, 1.0)
            n = max(3, int(per_line * frac))
            text = _cjk_line(rng, n) if cjk else _latin_line(rng, n)
            # Trim to fit so no line runs off the page.
            while len(text) > 1 and draw.textlength(text, font=font) > avail:
                text = text[:-1]
            draw.text((margin_x, y), text, fill=(20, 20, 20), font=font)
            x0, y0, x1, y1 = draw.textbbox((margin_x, y), text, font=font)
            boxes.append((x0, y0, x1, y1))
            y += spacing
        y += int(spacing * rng.uniform(0.5, 1.2))
        paragraph += 1
    image = cv2.cvtColor(np.asarray(page), cv2.COLOR_RGB2BGR)
    return SynthPage(image=image, line_boxes=boxes)


def rotate_page(image: np.ndarray, angle_deg: float, fill=(255, 255, 255)) -> np.ndarray:
    """Rotate counter-clockwise (as seen on screen) by ``angle_deg``, growing the canvas to keep every pixel."""
    h, w = image.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle_deg, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    new_w, new_h = int(np.ceil(w * cos + h * sin)), int(np.ceil(w * sin + h * cos))
    m[0, 2] += new_w / 2.0 - w / 2.0
    m[1, 2] += new_h / 2.0 - h / 2.0
    return cv2.warpAffine(image, m, (new_w, new_h), flags=cv2.INTER_LINEAR, borderValue=fill)


def rotate_quarter(image: np.ndarray, angle_ccw: int) -> np.ndarray:
    """Rotate by a multiple of 90 degrees counter-clockwise, exactly (no resampling)."""
    codes = {0: None, 90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_CLOCKWISE}
    code = codes[angle_ccw % 360]
    return image.copy() if code is None else cv2.rotate(image, code)


def photograph_page(
    page: np.ndarray,
    corners: np.ndarray,
    canvas: Tuple[int, int],
    background=(40, 45, 50),
    seed: int = 0,
) -> Tuple[np.ndarray, np.ndarray]:
    """Warp ``page`` so its corners land on ``corners`` (TL, TR, BR, BL) of a dark textured canvas.

    Returns (photo, H) where H maps page pixel coords to photo pixel coords.
    """
    rng = np.random.default_rng(seed)
    h, w = page.shape[:2]
    src = np.float32([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]])
    H = cv2.getPerspectiveTransform(src, np.float32(corners))
    cw, ch = canvas
    bg = np.empty((ch, cw, 3), np.uint8)
    bg[:] = background
    texture = rng.normal(0, 6, (ch, cw, 1))
    bg = np.clip(bg.astype(np.float32) + texture, 0, 255).astype(np.uint8)
    warped = cv2.warpPerspective(page, H, (cw, ch), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
    mask = cv2.warpPerspective(np.full((h, w), 255, np.uint8), H, (cw, ch), flags=cv2.INTER_LINEAR)
    alpha = (mask.astype(np.float32) / 255.0)[..., None]
    photo = (warped.astype(np.float32) * alpha + bg.astype(np.float32) * (1 - alpha)).astype(np.uint8)
    return photo, H


def add_gaussian_noise(image: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noisy = image.astype(np.float32) + rng.normal(0, sigma, image.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def add_salt_pepper(image: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = image.copy()
    hit = rng.random(image.shape[:2]) < fraction
    salt = rng.random(image.shape[:2]) < 0.5
    out[hit & salt] = 255
    out[hit & ~salt] = 0
    return out


def reduce_contrast(image: np.ndarray, low: int, high: int, shading: float = 0.0) -> np.ndarray:
    """Map [0, 255] to [low, high] and optionally add a left-to-right illumination gradient of ``shading`` levels."""
    out = low + image.astype(np.float32) * ((high - low) / 255.0)
    if shading:
        ramp = np.linspace(-shading / 2, shading / 2, image.shape[1], dtype=np.float32)
        out = out + (ramp[None, :, None] if out.ndim == 3 else ramp[None, :])
    return np.clip(out, 0, 255).astype(np.uint8)
