"""benchmarks/make_page_variants.py: the same pages in each condition, texts unchanged, boxes scaled
with the image, ids selected as ocrbench's ``mod:K:R`` split selects them."""

import cv2
import numpy as np
import pytest


def _source(root):
    (root / "img").mkdir(parents=True)
    (root / "box").mkdir()
    for i in range(1, 11):
        img = np.full((60, 90, 3), 250, np.uint8)
        cv2.putText(img, str(i), (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (10, 10, 10), 2)
        cv2.imwrite(str(root / "img" / f"{i:03d}.png"), img)
        (root / "box" / f"{i:03d}.csv").write_text(f"3,3,60,3,60,51,3,51,{i}\n", encoding="utf-8")
    (root / "box" / "009.csv").unlink()  # a page without its boxes is skipped, not written half


def test_dark_pages_are_the_inverted_sources(tmp_path, load_bench, capsys):
    variants = load_bench("make_page_variants")
    src, out = tmp_path / "src", tmp_path / "out"
    _source(src)
    assert variants.main(["--variant", "dark", "--src", str(src), "--out", str(out), "--ids-mod", "5:4"]) == 0
    assert sorted(p.name for p in (out / "img").iterdir()) == ["004.png"]  # 9 % 5 == 4 too, but no box file
    assert "skipped 009.png" in capsys.readouterr().err
    np.testing.assert_array_equal(cv2.imread(str(out / "img" / "004.png")), 255 - cv2.imread(str(src / "img" / "004.png")))
    assert (out / "box" / "004.csv").read_text(encoding="utf-8") == "3,3,60,3,60,51,3,51,4\n"
    assert variants.main(["--variant", "dark", "--src", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2


@pytest.mark.parametrize("variant", ["shadow", "small", "noise", "lowlight"])
def test_every_variant_keeps_texts_and_scales_boxes(tmp_path, load_bench, variant):
    variants = load_bench("make_page_variants")
    src = tmp_path / "src"
    _source(src)
    runs = [tmp_path / "a", tmp_path / "b"]
    for out in runs:
        assert variants.main(["--variant", variant, "--src", str(src), "--out", str(out), "--limit", "3"]) == 0
    a = cv2.imread(str(runs[0] / "img" / "002.png"))
    np.testing.assert_array_equal(a, cv2.imread(str(runs[1] / "img" / "002.png")))  # deterministic
    assert not np.array_equal(a, cv2.imread(str(src / "img" / "002.png")))
    row = (runs[0] / "box" / "002.csv").read_text(encoding="utf-8").strip().split(",")
    assert row[8] == "2"
    if variant == "small":
        assert a.shape[:2] == (20, 30) and row[:8] == ["1", "1", "20", "1", "20", "17", "1", "17"]
    else:
        assert a.shape[:2] == (60, 90) and row[:8] == ["3", "3", "60", "3", "60", "51", "3", "51"]


def test_bench_reads_each_variant_with_ocrforge(tmp_path, load_bench):
    """One receipt as it is and shrunk, read end to end through ocrbench (the peers need their own
    virtualenv and are left out here); unknown variants are refused."""
    bench = load_bench("bench_page_variants")
    if not (bench.SROIE / "img").is_dir():
        pytest.skip("../shared/data/sroie not present")
    out = tmp_path / "out"
    assert bench.main(["--variants", "as_is,small", "--engines", "ocrforge", "--limit", "1", "--threads", "1",
                       "--out", str(out), "--data-root", str(tmp_path / "data")]) == 0
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"as_is", "small"}
    for row in summary.values():
        assert 0 < row["ocrforge"]["token_f1_ci"] <= 100 and 0 < row["ocrforge"]["det_f1"] <= 100
    assert len(list((tmp_path / "data" / "sroie_small_1" / "img").iterdir())) == 1
    # a second run under another name adds to the summary instead of replacing it
    assert bench.main(["--variants", "small", "--engines", "ocrforge", "--name", "again", "--limit", "1", "--threads", "1",
                       "--out", str(out), "--data-root", str(tmp_path / "data")]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["small"]) == {"ocrforge", "again"} and set(summary["as_is"]) == {"ocrforge"}
    assert bench.main(["--variants", "sepia", "--out", str(out)]) == 2
