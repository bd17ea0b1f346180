"""Orientation: line tensors, quad crops, page angle from line boxes, line-net ONNX parity."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ocrforge.detection.orientation import (LINE_H, LINE_W, DetectedLines, crop_quad, is_upside_down, line_tensor,
                                           page_orientation, quarter_turn)


class FakeLineClassifier:
    """Says 'upside down' when a crop's ink sits in its top half (the test lines put it low)."""

    def __init__(self):
        self.seen = []

    def upside_down_probs(self, crops):
        self.seen.extend(crops)
        out = []
        for c in crops:
            g = c if c.ndim == 2 else c.mean(2)
            ink = (g < 128).astype(float)
            top, bottom = ink[: len(ink) // 2].sum(), ink[len(ink) // 2:].sum()
            out.append(0.9 if top > bottom else 0.1)
        return np.array(out)


def _page(angle_ccw: int):
    """White page with 5 'lines' whose ink sits in the lower half of each box, then turned."""
    img = np.full((400, 300, 3), 255, np.uint8)
    polys = []
    for i in range(5):
        y = 40 + 60 * i
        img[y + 12:y + 20, 30:270] = 0  # ink low in the box, like a baseline-heavy line
        polys.append(np.array([[30, y], [270, y], [270, y + 20], [30, y + 20]], np.float32))
    k = angle_ccw // 90
    h, w = img.shape[:2]
    turned = np.ascontiguousarray(np.rot90(img, k))
    out = []
    for p in polys:
        x, y = p[:, 0], p[:, 1]
        q = {0: (x, y), 1: (y, w - x), 2: (w - x, h - y), 3: (h - y, x)}[k]
        out.append(np.stack(q, 1).astype(np.float32))
    return turned, out


def _lines(image):
    """A fake detector + cropper: dark runs of the page as boxes, crops turned like the pipeline's."""
    ink = (image.min(2) < 128).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(ink)
    quads, crops, vertical = [], [], []
    for x, y, w, h, _ in stats[1:]:
        pad = 10  # a box around the ink, with its margin on the ink's "upper" side, like _page
        x0, y0, x1, y1 = max(x - pad, 0), max(y - pad, 0), x + w + pad, y + h + pad
        quads.append(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32))
        crops.append(np.ascontiguousarray(image[y0:y1, x0:x1]))
        vertical.append(False)
    return DetectedLines(quads, crops, vertical)


def _ink_low(crop) -> bool:
    g = crop if crop.ndim == 2 else crop.mean(2)
    rows = (g < 128).sum(1)
    return rows[len(rows) // 2:].sum() > rows[: len(rows) // 2].sum()


def _upright_confidence(crops):
    """A fake recognizer: sure of horizontal crops whose ink sits low, unsure of anything else."""
    return float(np.mean([0.95 if c.shape[1] > c.shape[0] and _ink_low(c) else 0.3 for c in crops]))


def _page_with_low_ink(angle_ccw: int):
    """White page of 6 long bars, each drawn in the lower part of its own band, turned by angle."""
    img = np.full((400, 300, 3), 255, np.uint8)
    for i in range(6):
        y = 40 + 55 * i
        img[y + 14:y + 20, 30:270] = 0
        img[y + 6:y + 14, 30:40] = 0  # a short ascender at the left: the ink is not symmetric
    return np.ascontiguousarray(np.rot90(img, angle_ccw // 90)), img


@pytest.mark.parametrize("angle", [0, 90, 180, 270])
def test_page_orientation_turns_pages_upright(angle):
    turned, upright = _page_with_low_ink(angle)
    clf, calls = FakeLineClassifier(), []

    def find(im):
        calls.append(im.shape)
        return _lines(im)

    res = page_orientation(turned, find, clf.upside_down_probs, _upright_confidence)
    assert res.angle == angle and (res.turn + angle) % 360 == 0
    assert np.array_equal(res.image, upright)
    assert len(res.lines.quads) == 6
    # detected once, and once more after the one turn that sets it upright (the recognizer picks
    # the right quarter turn, so no 180° correction follows)
    assert len(calls) == (1 if angle == 0 else 2)


def test_quarter_turn_needs_a_sure_reading():
    turned, _ = _page_with_low_ink(90)
    lines = _lines(turned)
    assert quarter_turn(lines, _upright_confidence) in (90, 270)
    assert quarter_turn(lines, lambda crops: 0.5) == 0  # vertical columns: neither reading is sure


def test_quarter_turn_is_decided_by_the_longest_boxes_not_by_fragments():
    """A sideways receipt (SROIE 064 turned): its longest boxes are tall lines, but the detector
    also leaves many short wide fragments; those must not outvote the lines."""
    def box(w, h):
        return np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)

    quads = [box(40, 150 - i) for i in range(10)] + [box(70, 20) for _ in range(20)]
    crops = [np.zeros((int(q[2, 1]), int(q[2, 0]), 3), np.uint8) for q in quads]
    lines = DetectedLines(quads, crops, [False] * len(quads))
    calls = []

    def sure_when_turned_ccw(batch):
        calls.append(batch)
        return 0.95 if len(calls) == 1 else 0.2  # first call: the crops turned counter-clockwise

    assert quarter_turn(lines, sure_when_turned_ccw) == 90
    assert all(c.shape[1] > c.shape[0] for c in calls[0])  # the tall lines, turned to read across


def test_upside_down_falls_back_to_the_recognizer_when_the_classifier_is_unsure():
    turned, _ = _page_with_low_ink(180)
    lines = _lines(turned)
    unsure = lambda crops: np.full(len(crops), 0.5)  # noqa: E731
    assert is_upside_down(lines, unsure, _upright_confidence)
    assert not is_upside_down(_lines(_page_with_low_ink(0)[0]), unsure, _upright_confidence)


def test_page_orientation_without_lines():
    empty = np.full((10, 10, 3), 255, np.uint8)
    res = page_orientation(empty, _lines, FakeLineClassifier().upside_down_probs, _upright_confidence)
    assert res.turn == 0 and res.angle == 0 and res.lines.quads == []


def test_line_tensor_keeps_aspect_and_pads():
    crop = np.full((20, 40), 0, np.uint8)
    crop[:, -1] = 255
    crop[:, 0] = 255
    t = line_tensor(crop)
    assert t.shape == (1, LINE_H, LINE_W) and t.dtype == np.float32
    assert t[0, :, 96:].min() == pytest.approx(1.0)  # 40 px at height 48 -> 96 px, then border-coloured padding
    assert t[0, 10, 50] == pytest.approx(-1.0)


def test_crop_quad_rectifies_rotated_box():
    img = np.zeros((100, 100), np.uint8)
    img[40:50, 20:80] = 255
    quad = np.array([[20, 40], [80, 40], [80, 50], [20, 50]], np.float32)
    c = crop_quad(img, quad)
    assert c.shape == (10, 60) and c.mean() > 200


def test_line_net_onnx_round_trip(tmp_path):
    torch = pytest.importorskip("torch")
    import onnxruntime as ort

    from ocrforge.detection.orientation_train import build_net

    torch.manual_seed(0)
    net = build_net().eval()
    path = tmp_path / "o.onnx"
    torch.onnx.export(net, torch.zeros(1, 1, 48, 192), str(path), input_names=["images"], output_names=["probs"],
                      opset_version=17, dynamic_axes={"images": {0: "batch"}, "probs": {0: "batch"}}, dynamo=False)
    x = torch.randn(3, 1, 48, 192)
    with torch.no_grad():
        ref = net(x).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["probs"], {"images": x.numpy()})[0]
    np.testing.assert_allclose(got, ref, atol=1e-5)
    np.testing.assert_allclose(got.sum(1), 1.0, atol=1e-5)
