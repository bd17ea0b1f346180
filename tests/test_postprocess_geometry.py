"""Geometric validation: text that cannot fit its box, outlier heights, noise, skewed boxes."""

import numpy as np
import pytest

from ocrforge.postprocess.geometry import (check_block_heights, check_line, check_rectified_quad, expected_width,
                                           should_drop, validate_lines)


def rect(x, y, w, h):
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32)


def codes(flags):
    return {f.code for f in flags}


@pytest.mark.parametrize("text,w,h", [("有限公司", 120, 30), ("TOTAL 12.50", 170, 30), ("2019-03-12", 150, 28),
                                      ("合计：¥128.00", 230, 32)])
def test_plausible_lines_pass(text, w, h):
    assert check_line(text, 0.9, rect(0, 0, w, h)) == []


def test_cjk_is_wider_than_latin():
    assert expected_width("有限公司", 30) > 1.6 * expected_width("abcd", 30)


@pytest.mark.parametrize("text,w,h,code", [("有限公司科技发展有限公司", 60, 30, "text_too_long"),
                                           ("OK", 400, 30, "text_too_short"),
                                           ("", 100, 30, "empty"), ("-.-", 100, 30, "no_characters"),
                                           ("A", 4, 3, "tiny_box")])
def test_implausible_lines_flagged(text, w, h, code):
    flags = check_line(text, 0.9, rect(0, 0, w, h))
    assert code in codes(flags) and all(f.reason for f in flags)


def test_low_confidence_and_drop_policy():
    flags = check_line("TOTAL", 0.05, rect(0, 0, 80, 30))
    assert "very_low_confidence" in codes(flags) and should_drop(flags)
    assert not should_drop(check_line("OK", 0.9, rect(0, 0, 400, 30)))  # implausible, kept for review


def test_vertical_cjk_column():
    assert check_line("有限公司", 0.9, rect(0, 0, 30, 120)) == []


def test_block_height_outlier():
    polys = [rect(0, 40 * i, 200, 30) for i in range(5)] + [rect(0, 300, 200, 80)]
    flags = check_block_heights(polys)
    assert [bool(f) for f in flags] == [False] * 5 + [True]
    assert check_block_heights(polys[:2] + polys[-1:]) != [[], [], []]
    assert check_block_heights(polys[:2]) == [[], []]  # two lines cannot outvote each other


def test_rectified_quads():
    assert check_rectified_quad(rect(0, 0, 200, 30)) == []
    skew = np.array([[0, 0], [200, 0], [230, 30], [30, 30]], np.float32)  # a parallelogram
    assert "not_rectangular" in codes(check_rectified_quad(skew))
    trap = np.array([[0, 0], [200, 0], [150, 30], [50, 30]], np.float32)
    assert "uneven_sides" in codes(check_rectified_quad(trap))


def test_validate_lines_groups_by_block():
    texts = ["TOTAL 12.50", "CASH 20.00", "CHANGE 7.50", "X", ""]
    confs = [0.9, 0.9, 0.9, 0.9, 0.0]
    polys = [rect(0, 0, 170, 30), rect(0, 40, 150, 30), rect(0, 80, 170, 30), rect(0, 120, 20, 90), rect(0, 300, 3, 3)]
    checks = validate_lines(texts, confs, polys, blocks=[0, 0, 0, 0, 1], rectified=True)
    assert [c.ok for c in checks[:3]] == [True, True, True]
    assert "height_outlier" in codes(checks[3].flags)
    assert checks[4].drop
    with pytest.raises(ValueError):
        validate_lines(["a"], [], [])
