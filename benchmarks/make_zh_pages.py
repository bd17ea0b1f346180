"""Write Chinese document pages as an SROIE-layout folder, so ocrbench reads them end to end with
every engine (ours, RapidOCR, Tesseract with chi_sim) exactly as it reads SROIE receipts.

    python benchmarks/make_zh_pages.py --out ~/.cache/ocrforge/bench/zh_pages --count 24
    python benchmarks/make_zh_pages.py --out ~/.cache/ocrforge/bench/zh_photos --count 24 --photo

Each page is a paragraph block of 14-22 lines of real Chinese running text: clause runs of the
sentences the shipped LM's corpus holds out (``lm_corpus.held_out_real_text``: People's Daily 1998
and product reviews), past the first 1,000 that ``bench_decoding --zh-real-lines`` uses. Faces cycle
through Song, Hei and Kai in their Simplified Chinese forms, half of them faces no training data
uses (``ocrforge/data/fonts.py``, held out), at 22-36 px on white paper; every other round of the
faces is "scanned" (slight rotation, blur, noise, JPEG). ``--photo`` then photographs every page (perspective,
a table around it, a shadow, JPEG at 1280 px). ``box/NNN.csv`` holds each line's quad and text,
``tags.json`` each page's face and whether it was scanned. Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# (path, face index, style, held out of training)
FACES = [
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2, "song", False),
    ("/usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf", 0, "song", True),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2, "hei", False),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, "hei", True),
    ("/usr/share/fonts/truetype/arphic/ukai.ttc", 0, "kai", False),
    ("/usr/share/fonts/truetype/arphic-gkai00mp/gkai00mp.ttf", 0, "kai", True),
]


TEXTS_PER_PAGE = 30  # clauses drawn per page (22 used at most, some too short or long)


def page_texts(count: int) -> list:
    """Clauses 1,000 .. 1,000 + 30 x count of bench_decoding's real-text order: after the decoding sets,
    before the clauses a calibration may be fitted on (REAL_EVAL_TEXTS)."""
    from bench_decoding import REAL_EVAL_TEXTS, zh_real_texts

    if 1000 + count * TEXTS_PER_PAGE > REAL_EVAL_TEXTS:
        raise SystemExit(f"make_zh_pages: at most {(REAL_EVAL_TEXTS - 1000) // TEXTS_PER_PAGE} pages "
                         "(more would reach the clauses calibration is fitted on)")
    texts = zh_real_texts(count * TEXTS_PER_PAGE, skip=1000)
    return [t for t in texts if 6 <= len(t) <= 28]


def render_page(lines, face, size: int, rng: random.Random):
    from PIL import Image, ImageDraw, ImageFont

    path, index, _, _ = face
    font = ImageFont.truetype(path, size, index=index)
    pitch = int(size * rng.uniform(1.5, 1.9))
    margin = int(size * 2)
    width = max(int(font.getbbox(t)[2]) for t in lines) + 2 * margin
    height = len(lines) * pitch + 2 * margin
    im = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(im)
    boxes = []
    for i, text in enumerate(lines):
        x, y = margin, margin + i * pitch
        draw.text((x, y), text, font=font, fill=0)
        left, top, right, bottom = draw.textbbox((x, y), text, font=font)
        boxes.append((left, top, right, bottom, text))
    return np.asarray(im), boxes


def scan(img: np.ndarray, boxes, rng: random.Random, np_rng: np.random.Generator):
    """A flatbed scan: a small turn, blur, noise and JPEG; the quads turn with the page."""
    h, w = img.shape
    angle = rng.uniform(-1.5, 1.5)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    out = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
    out = cv2.GaussianBlur(out, (3, 3), rng.uniform(0.3, 0.9))
    out = np.clip(out.astype(np.float32) + np_rng.normal(0, rng.uniform(3, 8), out.shape), 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(60, 85)])
    out = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    quads = []
    for left, top, right, bottom, text in boxes:
        pts = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float64)
        pts = np.hstack([pts, np.ones((4, 1))]) @ m.T
        quads.append((pts, text))
    return out, quads


def photograph(img: np.ndarray, quads, rng: random.Random, np_rng: np.random.Generator, long_side: int = 1280):
    """The page photographed: corners pulled in by 4-10 % (perspective), on a dark textured table, a soft
    shadow across, downscaled to ``long_side`` and JPEG-compressed; the quads follow the page."""
    h, w = img.shape[:2]
    pad = int(0.15 * max(h, w))
    big_w, big_h = w + 2 * pad, h + 2 * pad
    table = np.full((big_h, big_w), rng.randint(40, 110), np.int16) + np_rng.integers(-15, 15, (big_h, big_w))
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])

    def pull(size, k=1.0):
        return k * rng.uniform(0.04, 0.10) * size

    moved = np.float32([[pad + pull(w), pad + pull(h)], [pad + w - pull(w), pad + pull(h, 0.5)],
                        [pad + w - pull(w, 0.5), pad + h - pull(h)], [pad + pull(w, 0.5), pad + h - pull(h, 0.7)]])
    m = cv2.getPerspectiveTransform(corners, moved)
    page = cv2.warpPerspective(img, m, (big_w, big_h), flags=cv2.INTER_LINEAR, borderValue=0)
    inside = cv2.warpPerspective(np.full((h, w), 255, np.uint8), m, (big_w, big_h)) > 0
    photo = np.where(inside, page, np.clip(table, 0, 255)).astype(np.float64)
    yy, xx = np.mgrid[0:big_h, 0:big_w]
    photo *= 1.0 - 0.35 * np.clip(xx / big_w + yy / big_h - 0.6, 0, 1)
    scale = long_side / max(big_w, big_h)
    photo = cv2.resize(np.clip(photo, 0, 255).astype(np.uint8), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 80])
    photo = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    moved_quads = [(cv2.perspectiveTransform(q.reshape(4, 1, 2), m).reshape(4, 2) * scale, t) for q, t in quads]
    return photo, moved_quads


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="~/.cache/ocrforge/bench/zh_pages")
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--seed", type=int, default=4242)
    ap.add_argument("--photo", action="store_true", help="photograph every page (perspective, table, shadow, JPEG)")
    args = ap.parse_args(argv)
    out = Path(args.out).expanduser()
    (out / "img").mkdir(parents=True, exist_ok=True)
    (out / "box").mkdir(parents=True, exist_ok=True)
    faces = [f for f in FACES if Path(f[0]).exists()]
    if not faces:
        print("make_zh_pages: no Chinese fonts installed (scripts/install_system_deps.sh)", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    np_rng = np.random.default_rng(args.seed)
    photo_rng, photo_np_rng = random.Random(args.seed + 1), np.random.default_rng(args.seed + 1)
    texts = page_texts(args.count)  # --seed varies the faces' sizes and the scans, not the text
    tags = {}
    pos = 0
    for n in range(args.count):
        k = rng.randint(14, 22)
        lines, pos = texts[pos:pos + k], pos + k
        if len(lines) < 5:
            break
        face = faces[n % len(faces)]
        img, boxes = render_page(lines, face, rng.randint(22, 36), rng)
        scanned = (n // len(faces)) % 2 == 1  # each face both clean and scanned
        if scanned:
            img, quads = scan(img, boxes, rng, np_rng)
        else:
            quads = [(np.array([[a, b], [c, b], [c, d], [a, d]], np.float64), t) for a, b, c, d, t in boxes]
        if args.photo:  # its own random stream: the same pages as without --photo, photographed
            img, quads = photograph(img, quads, photo_rng, photo_np_rng)
        sid = f"{n + 1:03d}"
        cv2.imwrite(str(out / "img" / f"{sid}.{'jpg' if args.photo else 'png'}"), img)
        rows = [",".join(str(int(round(v))) for v in q.reshape(-1)) + "," + t for q, t in quads]
        (out / "box" / f"{sid}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
        tags[sid] = {"face": Path(face[0]).stem, "style": face[2], "held_out_face": face[3], "scanned": scanned,
                     "photo": args.photo, "lines": len(lines)}
    (out / "tags.json").write_text(json.dumps(tags, ensure_ascii=False, indent=0), encoding="utf-8")
    print(json.dumps({"pages": len(tags), "lines": sum(t["lines"] for t in tags.values()), "out": str(out)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
