"""Orientation: line tensors, quad crops, page angle from line boxes, line-net ONNX parity."""

from __future__ import annotations

import numpy as np
import pytest

from ocrforge.detection.orientation import LINE_H, LINE_W, crop_quad, line_tensor, page_orientation


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


@pytest.mark.parametrize("angle", [0, 90, 180, 270])
def test_page_orientation_from_lines(angle):
    img, polys = _page(angle)
    clf = FakeLineClassifier()
    res = page_orientation(img, polys, clf)
    assert res.angle == angle and res.lines_used == 5 and res.confidence > 0.5
    assert all(c.shape[1] > c.shape[0] for c in clf.seen)  # crops handed over as horizontal lines


@pytest.mark.parametrize("angle", [90, 270])
def test_page_orientation_redetects_turned_pages(angle):
    img, polys = _page(angle)
    back_img, back_polys = _page(angle - 90)  # what turning the page 90° clockwise gives
    calls = []

    def detect(im):
        calls.append(im)
        return back_polys

    res = page_orientation(img, polys, FakeLineClassifier(), detect=detect)
    assert len(calls) == 1 and np.array_equal(calls[0], back_img)  # re-detected once, turned back
    assert res.angle == angle


def test_page_orientation_without_lines():
    assert page_orientation(np.zeros((10, 10, 3), np.uint8), [], FakeLineClassifier()).angle == 0


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
