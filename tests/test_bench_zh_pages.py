"""benchmarks/make_zh_pages.py writes Chinese document pages that ocrbench can read: SROIE layout,
one quad + text per line, text from the real clauses no decoding set or calibration fit uses."""

import csv
import json
from pathlib import Path

import cv2
import pytest

NOTO = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")


@pytest.mark.skipif(not NOTO.exists(), reason="fonts-noto-cjk not installed")
def test_pages_are_sroie_layout_with_held_out_text(tmp_path, load_bench):
    pages = load_bench("make_zh_pages")
    decoding = load_bench("bench_decoding")
    assert pages.main(["--out", str(tmp_path), "--count", "2"]) == 0
    tags = json.loads((tmp_path / "tags.json").read_text(encoding="utf-8"))
    assert set(tags) == {"001", "002"}
    used = set(decoding.zh_real_texts(1000)) | set(decoding.zh_real_texts(200, skip=decoding.REAL_EVAL_TEXTS))
    for sid, tag in tags.items():
        img = cv2.imread(str(tmp_path / "img" / f"{sid}.png"))
        rows = list(csv.reader((tmp_path / "box" / f"{sid}.csv").open(encoding="utf-8")))
        assert len(rows) == tag["lines"] >= 5
        for row in rows:
            xs, ys = [float(v) for v in row[0:8:2]], [float(v) for v in row[1:8:2]]
            assert 0 <= min(xs) < max(xs) <= img.shape[1] and 0 <= min(ys) < max(ys) <= img.shape[0]
            text = ",".join(row[8:])
            assert any("\u4e00" <= ch <= "\u9fff" for ch in text)
        # mostly clauses no decoding set or calibration fit holds (near-duplicate reviews may repeat one)
        texts = [",".join(r[8:]) for r in rows]
        assert sum(t in used for t in texts) <= 0.2 * len(texts)
    with pytest.raises(SystemExit):
        pages.page_texts(100)


@pytest.mark.skipif(not NOTO.exists(), reason="fonts-noto-cjk not installed")
def test_photographed_pages_keep_their_text_and_quads_follow_the_page(tmp_path, load_bench):
    pages = load_bench("make_zh_pages")
    assert pages.main(["--out", str(tmp_path / "flat"), "--count", "1"]) == 0
    assert pages.main(["--out", str(tmp_path / "photo"), "--count", "1", "--photo"]) == 0
    flat = list(csv.reader((tmp_path / "flat" / "box" / "001.csv").open(encoding="utf-8")))
    photo = list(csv.reader((tmp_path / "photo" / "box" / "001.csv").open(encoding="utf-8")))
    assert [r[8:] for r in photo] == [r[8:] for r in flat]  # the same page, photographed
    img = cv2.imread(str(tmp_path / "photo" / "img" / "001.jpg"))
    assert max(img.shape[:2]) == 1280
    for row in photo:
        quad = [float(v) for v in row[:8]]
        assert 0 <= min(quad[0::2]) and max(quad[0::2]) <= img.shape[1] and max(quad[1::2]) <= img.shape[0]
        # each quad lies on text: dark ink and bright paper inside it
        xs, ys = [int(v) for v in quad[0::2]], [int(v) for v in quad[1::2]]
        patch = img[min(ys):max(ys), min(xs):max(xs)]
        assert patch.size and patch.min() < 90 and patch.max() > 150
