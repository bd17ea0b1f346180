"""Render the shipped sample receipt (PNG) and a two-page PDF, with their exact text.

    python examples/make_sample.py          # rewrites examples/receipt_sample.{png,txt} and .pdf

The text is drawn with Debian's Noto Sans CJK SC (fonts-noto-cjk); the face is picked from the
.ttc collection by name, so a different collection order does not change the output.
Each printed row is one line of the .txt, the parts of a row (item ... price) joined by one space.
A detector may find "Coffee Latte x2" and "32.00" as two lines, so compare OCR output with this
text ignoring line breaks and runs of spaces (as tests/test_pipeline_e2e.py does).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Sequence, Tuple

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
FONT_FILES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
)
FACE = "Noto Sans CJK SC"
WIDTH = 720
MARGIN = 48

# (left text, right text, style): style "title" is large and centred, "center" centred.
Row = Tuple[str, str, str]

PAGE1: List[Row] = [
    ("FORGE MART 锻造超市", "", "title"),
    ("No. 18 Riverside Road, Hangzhou", "", "center"),
    ("Tel: 0571-8888 6666", "", "center"),
    ("日期 Date: 2024-03-15", "14:32", "row"),
    ("Receipt No: 000123", "Cashier: 07", "row"),
    ("Coffee Latte x2", "32.00", "row"),
    ("Bagel", "8.50", "row"),
    ("矿泉水 Water x3", "6.00", "row"),
    ("苹果 Apples 1.2kg", "11.76", "row"),
    ("Subtotal", "58.26", "row"),
    ("Discount", "-3.00", "row"),
    ("合计 TOTAL", "55.26", "bold"),
    ("现金 Cash", "60.00", "row"),
    ("找零 Change", "4.74", "row"),
    ("谢谢惠顾 Thank you!", "", "center"),
]

PAGE2: List[Row] = [
    ("INVOICE 发票", "", "title"),
    ("Customer: Li Wei", "", "row"),
    ("Green Tea 绿茶", "15.00", "row"),
    ("Notebook A5", "12.80", "row"),
    ("总计 Total", "27.80", "bold"),
]

# Extra space before these rows, to make receipt sections.
GAP_BEFORE = {"Receipt No: 000123": 0, "Coffee Latte x2": 28, "Subtotal": 28, "谢谢惠顾 Thank you!": 36,
              "日期 Date: 2024-03-15": 28, "Green Tea 绿茶": 24, "总计 Total": 20}


def load_face(bold: bool, size: int) -> ImageFont.FreeTypeFont:
    path = FONT_FILES[1 if bold else 0]
    for index in range(16):
        try:
            font = ImageFont.truetype(path, size=size, index=index)
        except OSError:
            break
        if font.getname()[0] == FACE:
            return font
    raise SystemExit(f"{FACE} not found in {path}: install fonts-noto-cjk")


def render(rows: Sequence[Row]) -> Image.Image:
    body = load_face(False, 26)
    bold = load_face(True, 28)
    title = load_face(True, 38)
    line_h = 44
    height = MARGIN * 2 + sum(line_h + (24 if r[2] == "title" else 0) + GAP_BEFORE.get(r[0], 0) for r in rows)
    img = Image.new("L", (WIDTH, height), 255)
    draw = ImageDraw.Draw(img)
    y = MARGIN
    for left, right, style in rows:
        y += GAP_BEFORE.get(left, 0)
        font = {"title": title, "bold": bold}.get(style, body)
        if style in ("title", "center"):
            w = draw.textlength(left, font=font)
            draw.text(((WIDTH - w) / 2, y), left, font=font, fill=0)
        else:
            draw.text((MARGIN, y), left, font=font, fill=0)
            if right:
                w = draw.textlength(right, font=font)
                draw.text((WIDTH - MARGIN - w, y), right, font=font, fill=0)
        y += line_h + (24 if style == "title" else 0)
    return img


def text_of(rows: Sequence[Row]) -> str:
    return "\n".join(" ".join(p for p in (left, right) if p) for left, right, _ in rows) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    page1, page2 = render(PAGE1), render(PAGE2)
    page1.save(args.out / "receipt_sample.png", optimize=True)
    (args.out / "receipt_sample.txt").write_text(text_of(PAGE1), encoding="utf-8")
    # 300 "dpi" so that the PDF rendered at ocrforge's default 300 dpi gives back the same pixels.
    page1.save(args.out / "receipt_sample.pdf", save_all=True, append_images=[page2], resolution=300.0,
               quality=90)
    (args.out / "receipt_sample_page2.txt").write_text(text_of(PAGE2), encoding="utf-8")


if __name__ == "__main__":
    main()
