"""Detection: model registry, ONNX parity, DB labels, post-processing, predictor, loaders, resume."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ocrforge.data.det_datasets import (  # noqa: E402
    load_icdar15, load_paddle_label, load_sroie, paddle_label_line, parse_quad_line, sroie_ids,
)
from ocrforge.detection.labels import make_db_targets  # noqa: E402
from ocrforge.detection.model import MODEL_REGISTRY, build_model  # noqa: E402
from ocrforge.detection.postprocess import PostprocessConfig, boxes_from_prob, order_clockwise  # noqa: E402
from ocrforge.errors import InputError, ModelError  # noqa: E402


def _iou_axis(a: np.ndarray, b: np.ndarray) -> float:
    ax0, ay0, ax1, ay1 = *a.min(0), *a.max(0)
    bx0, by0, bx1, by1 = *b.min(0), *b.max(0)
    iw, ih = max(0, min(ax1, bx1) - max(ax0, bx0)), max(0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    return inter / ((ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


# --- model -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(MODEL_REGISTRY))
def test_registered_model_shapes(name):
    torch.manual_seed(0)
    model = build_model(name)
    model.train()
    out = model(torch.randn(2, 3, 64, 96))
    assert set(out) == {"prob", "thresh", "binary"}
    for v in out.values():
        assert v.shape == (2, 1, 64, 96)
        assert float(v.min()) >= 0 and float(v.max()) <= 1
    model.eval()
    with torch.no_grad():
        prob = model(torch.randn(1, 3, 96, 64))
    assert prob.shape == (1, 1, 96, 64)


@pytest.mark.parametrize("name", sorted(MODEL_REGISTRY))
def test_onnx_round_trip(name, tmp_path):
    import onnxruntime as ort

    from ocrforge.detection.export import export_onnx

    torch.manual_seed(0)
    model = build_model(name).eval()
    path = export_onnx(model, tmp_path / f"{name}.onnx", PostprocessConfig(unclip_ratio=1.7))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta["ocrforge_task"] == "detection" and float(meta["unclip_ratio"]) == 1.7
    for h, w in ((64, 96), (128, 64)):  # dynamic height/width and batch
        x = torch.randn(2, 3, h, w)
        with torch.no_grad():
            ref = model(x).numpy()
        got = sess.run(["prob"], {"images": x.numpy()})[0]
        assert got.shape == (2, 1, h, w)
        np.testing.assert_allclose(got, ref, atol=1e-4)


# --- labels ----------------------------------------------------------------------------------

def test_db_targets_shrink_and_border():
    poly = np.array([[10, 10], [110, 10], [110, 40], [10, 40]], np.float32)
    t = make_db_targets((64, 128), [poly], [False])
    # D = A (1 - 0.4^2) / L = 3000 * 0.84 / 260 ~= 9.7 px on every side
    ys, xs = np.nonzero(t["shrink_map"])
    assert 18 <= xs.min() <= 21 and 99 <= xs.max() <= 102
    assert 18 <= ys.min() <= 21 and 29 <= ys.max() <= 32
    assert t["shrink_mask"].min() == 1.0
    # threshold map peaks (0.7) on the border, falls to 0.3 far away and at the kernel centre
    assert t["thresh_map"][10, 60] == pytest.approx(0.7, abs=0.02)
    assert t["thresh_map"][25, 60] == pytest.approx(0.3, abs=0.01)
    assert t["thresh_map"][60, 5] == pytest.approx(0.3)
    assert t["thresh_mask"][10, 60] == 1 and t["thresh_mask"][60, 125] == 0


def test_db_targets_ignore_masks_out():
    poly = np.array([[10, 10], [60, 10], [60, 30], [10, 30]], np.float32)
    tiny = np.array([[80, 10], [90, 10], [90, 13], [80, 13]], np.float32)  # 3 px: too small
    t = make_db_targets((64, 128), [poly, tiny], [True, False])
    assert t["shrink_map"].sum() == 0
    assert t["shrink_mask"][20, 30] == 0 and t["shrink_mask"][11, 85] == 0
    assert t["shrink_mask"][50, 30] == 1


# --- post-processing ---------------------------------------------------------------------------

def test_postprocess_recovers_text_boxes_from_kernels():
    # Text rectangles -> DB training kernels (shrunk by r = 0.4) -> post-processing must grow
    # them back to about the original boxes: a long line stays one box, and two neighbours
    # 6 px apart stay two boxes.
    rects = [(20, 20, 280, 44), (20, 80, 120, 104), (20, 110, 120, 134)]
    polys = [np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32) for x0, y0, x1, y1 in rects]
    prob = make_db_targets((200, 300), polys, [False] * 3)["shrink_map"] * 0.9
    # A label kernel is only ~0.16 h + 1 px tall for a long line; ratio 3 grows such a kernel
    # back to the box. (Trained maps thresholded at 0.3 are fatter, so shipped ratios are smaller.)
    dets = boxes_from_prob(prob, (2.0, 2.0), (600, 400), PostprocessConfig(unclip_ratio=3.0))
    assert len(dets) == 3
    for d, poly in zip(dets, polys):
        assert d.polygon.shape == (4, 2) and d.score == pytest.approx(0.9, abs=1e-3)
        assert _iou_axis(d.polygon, poly * 2) > 0.75  # in image px (map scale 2)
        np.testing.assert_allclose(d.polygon.mean(0), poly.mean(0) * 2, atol=3)
        tl = d.polygon[0]
        assert tl[0] <= d.polygon[1][0] and tl[1] <= d.polygon[3][1]  # clockwise from top-left
    smaller = boxes_from_prob(prob, (2.0, 2.0), (600, 400), PostprocessConfig(unclip_ratio=1.5))
    assert all(np.ptp(a.polygon[:, 1]) < np.ptp(b.polygon[:, 1]) for a, b in zip(smaller, dets))


def test_postprocess_polygon_mode():
    prob = np.zeros((100, 200), np.float32)
    prob[40:50, 20:180] = 0.8
    (d,) = boxes_from_prob(prob, (1.0, 1.0), (200, 100), PostprocessConfig(polygon=True))
    assert len(d.polygon) >= 4 and d.polygon[:, 0].min() < 20 and d.polygon[:, 0].max() > 179
    # clockwise on screen: positive shoelace area with y pointing down
    x, y = d.polygon[:, 0], d.polygon[:, 1]
    assert float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) > 0


def test_postprocess_drops_low_scores_and_specks():
    prob = np.zeros((100, 100), np.float32)
    prob[10:30, 10:60] = 0.35  # above thresh, below box_thresh
    prob[50:52, 50:52] = 0.99  # a speck below min_size
    assert boxes_from_prob(prob, (1.0, 1.0), (100, 100)) == []


def test_order_clockwise():
    pts = np.array([[10, 20], [0, 0], [10, 0], [0, 20]], np.float32)
    np.testing.assert_array_equal(order_clockwise(pts), [[0, 0], [10, 0], [10, 20], [0, 20]])


# --- predictor ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory):
    from ocrforge.detection.export import export_onnx

    torch.manual_seed(0)
    model = build_model("db_mobilenetv3_small").eval()
    return export_onnx(model, tmp_path_factory.mktemp("det") / "tiny.onnx")


def test_predictor_resizes_and_maps_back(tiny_onnx):
    from ocrforge.detection.predictor import TextDetector

    det = TextDetector(tiny_onnx, threads=1, max_side=128)
    img = np.full((300, 170, 3), 255, np.uint8)
    prob, sx, sy = det.prob_map(img)
    assert prob.shape[0] % 32 == 0 and prob.shape[1] % 32 == 0 and max(prob.shape) <= 128
    assert sx == pytest.approx(170 / prob.shape[1]) and sy == pytest.approx(300 / prob.shape[0])
    for d in det.detect(img):
        assert d.polygon[:, 0].max() <= 169 and d.polygon[:, 1].max() <= 299


def test_predictor_errors(tiny_onnx, tmp_path):
    from ocrforge.detection.predictor import TextDetector

    with pytest.raises(ModelError):
        TextDetector(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError):
        TextDetector(bad)
    det = TextDetector(tiny_onnx, threads=1)
    with pytest.raises(InputError):
        det.detect(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(InputError):
        det.detect(np.zeros((10, 10, 3), np.float32))


def test_predictor_import_has_no_torch():
    import subprocess
    import sys

    code = "import sys, ocrforge.detection.predictor; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# --- dataset loaders ---------------------------------------------------------------------------

def _write_image(path: Path, w=64, h=48):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 200, np.uint8))


def test_quad_line_parsing():
    quad, text = parse_quad_line("\ufeff1,2,3,2,3,4,1,4,TOTAL: 1,000.00")
    assert quad.shape == (4, 2) and text == "TOTAL: 1,000.00"
    assert parse_quad_line("") is None and parse_quad_line("a,b,c") is None


def test_sroie_loader_and_split(tmp_path):
    for i in ("001", "004", "009"):
        _write_image(tmp_path / "img" / f"{i}.jpg")
        (tmp_path / "box").mkdir(exist_ok=True)
        (tmp_path / "box" / f"{i}.csv").write_text("1,2,30,2,30,12,1,12,HELLO, WORLD\n\n5,20,40,20,40,30,5,30,X\n")
    assert sroie_ids(tmp_path, "mod:5:4") == ["004", "009"]
    samples = load_sroie(tmp_path, "mod:5:1,2,3")
    assert [Path(s.image_path).stem for s in samples] == ["001"]
    assert samples[0].texts == ["HELLO, WORLD", "X"] and samples[0].ignore == [False, False]
    with pytest.raises(InputError):
        sroie_ids(tmp_path, "every:other")
    with pytest.raises(InputError):
        load_sroie(tmp_path / "nope")


def test_icdar15_loader_with_dont_care(tmp_path):
    _write_image(tmp_path / "img" / "img_1.jpg")
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "gt_img_1.txt").write_text("\ufeff1,1,20,1,20,9,1,9,Hi\n2,12,22,12,22,20,2,20,###\n", encoding="utf-8")
    (s,) = load_icdar15(tmp_path / "img", tmp_path / "gt")
    assert s.texts == ["Hi", "###"] and s.ignore == [False, True]


def test_paddle_label_round_trip(tmp_path):
    poly = np.array([[1, 2], [30, 2], [30, 12], [1, 12]], np.float32)
    (tmp_path / "label.txt").write_text(paddle_label_line("a.jpg", [poly], ["中文 text"]) + "\n", encoding="utf-8")
    (s,) = load_paddle_label(tmp_path / "label.txt")
    assert s.image_path == str(tmp_path / "a.jpg") and s.texts == ["中文 text"]
    np.testing.assert_allclose(s.polygons[0], poly)
    (tmp_path / "bad.txt").write_text("a.jpg\tnot json\n")
    with pytest.raises(InputError):
        load_paddle_label(tmp_path / "bad.txt")


# --- training resume ----------------------------------------------------------------------------

def test_resume_continues_same_run(tmp_path):
    from ocrforge.training.det import lr_at, train
    from ocrforge.training.det_config import DetTrainConfig

    lines = []
    for i in range(3):
        img = np.full((96, 128, 3), 230, np.uint8)
        cv2.putText(img, "TEXT 12", (5, 40 + 10 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2)
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), img)
        poly = np.array([[4, 24 + 10 * i], [95, 24 + 10 * i], [95, 45 + 10 * i], [4, 45 + 10 * i]], np.float32)
        lines.append(paddle_label_line(f"{i}.jpg", [poly], ["TEXT 12"]))
    (tmp_path / "label.txt").write_text("\n".join(lines) + "\n")

    def cfg(out):
        return DetTrainConfig(model="db_mobilenetv3_small", data={str(tmp_path / "label.txt"): 1.0}, crop=64,
                              batch_size=2, max_steps=4, warmup_steps=1, workers=0, log_every=1, out=str(out),
                              tensorboard=True)

    full = torch.load(train(cfg(tmp_path / "full")), weights_only=False)
    first = torch.load(train(cfg(tmp_path / "split"), until_step=2), weights_only=False)
    assert first["step"] == 2
    msgs = []
    second = torch.load(train(cfg(tmp_path / "split"), resume=True, log=msgs.append), weights_only=False)
    assert any("at step 2" in m for m in msgs) and second["step"] == 4
    assert lr_at(2, cfg(tmp_path)) < lr_at(1, cfg(tmp_path))  # the schedule really decays
    log = (tmp_path / "split" / "log.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in log] == [1, 2, 3, 4]
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    board = EventMultiplexer().AddRunsFromDirectory(str(tmp_path / "split" / "tb"))
    board.Reload()
    assert sorted(e.step for run in board.Runs() for e in board.Scalars(run, "train/loss")) == [1, 2, 3, 4]
    for k, v in full["model"].items():
        if v.is_floating_point():
            torch.testing.assert_close(second["model"][k], v, rtol=1e-4, atol=1e-5, msg=k)


def test_init_from_starts_a_fresh_run_from_earlier_weights(tmp_path):
    from ocrforge.training.det import train
    from ocrforge.training.det_config import DetTrainConfig

    img = np.full((96, 128, 3), 230, np.uint8)
    cv2.putText(img, "TEXT 12", (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2)
    cv2.imwrite(str(tmp_path / "0.jpg"), img)
    poly = np.array([[4, 24], [95, 24], [95, 45], [4, 45]], np.float32)
    (tmp_path / "label.txt").write_text(paddle_label_line("0.jpg", [poly], ["TEXT 12"]) + "\n")
    base = dict(model="db_mobilenetv3_small", data={str(tmp_path / "label.txt"): 1.0}, crop=64,
                batch_size=1, warmup_steps=1, workers=0, log_every=1)
    earlier = torch.load(train(DetTrainConfig(**base, max_steps=2, seed=1, out=str(tmp_path / "a"))),
                         weights_only=False)
    msgs = []
    cfg = DetTrainConfig(**base, max_steps=1, lr=1e-12, seed=2, init_from=str(tmp_path / "a" / "last.pt"),
                         out=str(tmp_path / "b"))
    later = torch.load(train(cfg, log=msgs.append), weights_only=False)
    assert later["step"] == 1 and any(m.startswith("initialized") for m in msgs)
    # lr ~0: one step leaves the copied weights; a different seed alone would have given other ones
    k = next(k for k, v in earlier["model"].items() if v.is_floating_point() and v.ndim == 4)
    torch.testing.assert_close(later["model"][k], earlier["model"][k], rtol=1e-4, atol=1e-6)


def test_export_det_cli_writes_fp32_and_int8_models_the_predictor_loads(tmp_path):
    from ocrforge.cli import main as cli_main
    from ocrforge.detection.predictor import TextDetector
    from ocrforge.training.det import train
    from ocrforge.training.det_config import DetTrainConfig

    img = np.full((96, 128, 3), 230, np.uint8)
    cv2.putText(img, "TEXT 12", (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 2)
    (tmp_path / "pages").mkdir()
    cv2.imwrite(str(tmp_path / "pages" / "0.jpg"), img)
    poly = np.array([[4, 24], [95, 24], [95, 45], [4, 45]], np.float32)
    (tmp_path / "label.txt").write_text(paddle_label_line("pages/0.jpg", [poly], ["TEXT 12"]) + "\n")
    ckpt = train(DetTrainConfig(model="db_mobilenetv3_small", data={str(tmp_path / "label.txt"): 1.0}, crop=64,
                                batch_size=1, max_steps=1, warmup_steps=1, workers=0, out=str(tmp_path / "run")),
                 log=lambda m: None)
    fp32, int8 = tmp_path / "det.onnx", tmp_path / "det.int8.onnx"
    assert cli_main(["export", "det", "--checkpoint", str(ckpt), "--out", str(fp32), "--int8", str(int8),
                     "--calib", str(tmp_path / "pages"), "--box-thresh", "0.55"]) == 0
    for path in (fp32, int8):
        det = TextDetector(path, threads=1)
        assert det.config.box_thresh == 0.55  # the CLI's post-processing settings ride along
        assert det.prob_map(img)[0].shape == (96, 128)
    assert cli_main(["export", "det", "--checkpoint", str(ckpt), "--out", str(fp32), "--int8", str(int8)]) != 0


def test_shipped_detector_finds_printed_lines():
    from ocrforge.detection.predictor import TextDetector, default_model_path

    if not default_model_path().exists():
        pytest.skip("no shipped detector")
    img = np.full((420, 360, 3), 255, np.uint8)
    lines = ["TOTAL RM 12.50", "CASH 20.00", "CHANGE 7.50", "THANK YOU"]
    for i, t in enumerate(lines):
        cv2.putText(img, t, (20, 60 + 80 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (0, 0, 0), 2)
    dets = TextDetector(threads=1).detect(img)
    # every printed line is covered by a detection whose box sits on that line's row
    for i in range(len(lines)):
        y = 60 + 80 * i - 10
        assert any(d.polygon[:, 1].min() <= y <= d.polygon[:, 1].max() and d.polygon[:, 0].min() < 60 for d in dets), i
    assert len(dets) <= 2 * len(lines)
