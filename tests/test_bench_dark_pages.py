"""benchmarks/make_dark_pages.py: the same pages inverted, boxes and texts unchanged, ids selected
as ocrbench's ``mod:K:R`` split selects them."""

import cv2
import numpy as np


def _source(root):
    (root / "img").mkdir(parents=True)
    (root / "box").mkdir()
    for i in range(1, 11):
        img = np.full((40, 60, 3), 250, np.uint8)
        cv2.putText(img, str(i), (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (10, 10, 10), 2)
        cv2.imwrite(str(root / "img" / f"{i:03d}.jpg"), img)
        (root / "box" / f"{i:03d}.csv").write_text(f"1,1,50,1,50,35,1,35,{i}\n", encoding="utf-8")
    (root / "box" / "009.csv").unlink()  # a page without its boxes is skipped, not written half


def test_dark_pages_are_the_inverted_sources(tmp_path, load_bench, capsys):
    dark = load_bench("make_dark_pages")
    src, out = tmp_path / "src", tmp_path / "out"
    _source(src)
    assert dark.main(["--src", str(src), "--out", str(out), "--ids-mod", "5:4"]) == 0
    assert sorted(p.name for p in (out / "img").iterdir()) == ["004.png"]  # 9 % 5 == 4 too, but no box file
    assert "skipped 009.jpg" in capsys.readouterr().err
    got = cv2.imread(str(out / "img" / "004.png"))
    np.testing.assert_array_equal(got, 255 - cv2.imread(str(src / "img" / "004.jpg")))
    assert (out / "box" / "004.csv").read_text(encoding="utf-8") == "1,1,50,1,50,35,1,35,4\n"
    assert dark.main(["--src", str(src), "--out", str(tmp_path / "all"), "--limit", "3"]) == 0
    assert sorted(p.stem for p in (tmp_path / "all" / "img").iterdir()) == ["001", "002", "003"]
    assert dark.main(["--src", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2
