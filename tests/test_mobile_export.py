"""Mobile export: ONNX -> NCNN / MNN with the runtimes' PyPI converters, then host parity vs ONNX Runtime.

Everything here converts the shipped, trained models, not stand-ins:

* the zh+en recognizer (``rec_crnn_mobilenetv3_small.onnx``, 7,039 classes): PNNX converts it in ~4 s and
  MNN in ~1.5 s on the 2-core host, so the full model fits the suite's budget. Its lines are 24 rendered
  by the training synthesizer (held-out fonts, Chinese and English mixes) and the 26 lines the shipped
  detector finds on ``examples/receipt_sample.png``. Before judging the conversion, the test checks that
  ONNX Runtime reads those lines (CER well under what random weights give), so "same text" compares two
  readings of real text, not two strings of noise;
* the INT8 (QDQ) detector, converted from its float twin; NCNN gets it only after the graph rewrites
  in ``_write_for_pnnx`` (PNNX crashed on it before, then left layers NCNN cannot load).

A negative control corrupts the converted recognizer's head and expects the check to fail. Each target
is skipped, with the reason, only when its converter/runtime wheel is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ocrforge.errors import ConfigError, ModelError
from ocrforge.export import mobile

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "ocrforge" / "models"
SHIPPED_REC = MODELS / "rec_crnn_mobilenetv3_small.onnx"
SHIPPED_DET = MODELS / "det_db_mobilenetv3_small_int8.onnx"
RECEIPT = ROOT / "examples" / "receipt_sample.png"
WANTS = {"ncnn": ("pnnx", "ncnn"), "mnn": ("MNN", "_tools")}


def _require(target: str) -> None:
    missing = [m for m in WANTS[target] if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{target} converter/runtime not installed (pip install {mobile.TARGETS[target].packages})")


@pytest.fixture(scope="module")
def receipt():
    import cv2

    return cv2.imread(str(RECEIPT), cv2.IMREAD_COLOR)


@pytest.fixture(scope="module")
def lines(receipt):
    """(image, text or None) for 24 synthetic zh/en lines and the sample receipt's detected lines."""
    from ocrforge.detection.predictor import TextDetector
    from ocrforge.pipeline import crop_quad, order_quad

    synthetic = mobile.synthetic_samples(24, seed=3, chinese_only=False)
    found = TextDetector(SHIPPED_DET, threads=1).detect(receipt)
    crops = [crop_quad(receipt, order_quad(d.polygon)) for d in found]
    assert len(crops) >= 20, len(crops)  # the receipt has 15 printed rows, several split in two columns
    return synthetic + [(c, None) for c in crops]


@pytest.fixture(scope="module")
def images(lines):
    return [img for img, _ in lines]


def test_the_recognizer_under_test_is_trained(lines):
    """Parity on an untrained net would compare noise with noise; this one must read the lines."""
    from rapidfuzz.distance import Levenshtein

    from ocrforge.recognition.predictor import TextRecognizer

    rec = TextRecognizer(SHIPPED_REC, threads=1)
    labelled = [(img, text) for img, text in lines if text is not None]
    got = [r.text for r in rec.recognize([img for img, _ in labelled])]
    errors = sum(Levenshtein.distance(g, t) for g, (_, t) in zip(got, labelled))
    assert errors / sum(len(t) for _, t in labelled) < 0.4, got  # measured 0.23; random weights give ~1.0
    receipt_text = " ".join(r.text for r in rec.recognize([img for img, text in lines if text is None]))
    assert "55.26" in receipt_text and "TOTAL" in receipt_text, receipt_text


@pytest.fixture(scope="module")
def rec_exports(tmp_path_factory):
    """The shipped recognizer converted once per target (conversion is the slow part)."""
    cache = {}

    def get(target: str) -> mobile.MobileModel:
        if target not in cache:
            cache[target] = mobile.export_mobile(SHIPPED_REC, target, tmp_path_factory.mktemp(f"rec_{target}"))
        return cache[target]

    return get


@pytest.mark.parametrize("target", sorted(mobile.TARGETS))
def test_shipped_recognizer_converts_and_reads_like_onnx_runtime(target, rec_exports, images):
    _require(target)
    exported = rec_exports(target)
    out = exported.manifest.parent

    manifest = json.loads(exported.manifest.read_text(encoding="utf-8"))
    assert manifest["runtime"] == target and manifest["task"] == "recognition"
    assert manifest["input"]["height"] == 32 and manifest["output"]["blank"] == 0
    assert manifest["output"]["width_stride"] == exported.info.width_stride == 4
    assert manifest["input"]["blob"] == exported.input_blob and manifest["output"]["blob"] == exported.output_blob
    for name in manifest["files"].values():
        assert (out / name).stat().st_size > 0
    charset = (out / manifest["output"]["charset"]).read_text(encoding="utf-8").split("\n")
    assert charset[0] == "<space>" and len([c for c in charset if c]) == 7038
    assert exported.convert_s > 0

    report = mobile.rec_parity(SHIPPED_REC, exported, images, "synthetic + receipt lines")
    assert report.n == len(images) >= 44 and report.precision == "fp32"
    assert report.agreement >= 0.99, report.mismatches  # 50 lines: every one must read the same
    assert report.max_abs_diff < 1e-3, report.max_abs_diff  # measured 1e-4 (NCNN) and 2e-4 (MNN) on 600 lines


def test_ncnn_check_runs_in_float32(rec_exports):
    """NCNN's default fp16 storage (F16C x86, every ARM phone) changed 5 of 200 synthetic lines of the
    trained recognizer; the conversion check must not inherit it, the "runtime" setting must."""
    _require("ncnn")
    exported = rec_exports("ncnn")
    fp32 = mobile.load_runner(exported)
    assert not (fp32.net.opt.use_fp16_storage or fp32.net.opt.use_fp16_packed or fp32.net.opt.use_fp16_arithmetic)
    default = mobile.load_runner(exported, precision="runtime")
    import ncnn

    assert default.net.opt.use_fp16_storage == ncnn.Net().opt.use_fp16_storage
    with pytest.raises(ConfigError, match="precision"):
        mobile.load_runner(exported, precision="int4")


def test_parity_check_fails_on_a_broken_conversion(rec_exports, images, tmp_path):
    """Negative control: the same NCNN files with the classifier head's weights jittered by 30 %
    (what a wrongly transposed or mis-scaled layer looks like to the check) must fail the 99 % bar."""
    _require("ncnn")
    good = rec_exports("ncnn")
    for path in good.files.values():
        shutil.copy(path, tmp_path / path.name)
    blob = bytearray((tmp_path / good.files["bin"].name).read_bytes())
    n = len(blob) // 20 // 4 * 4  # the last 5 %: the tail of the 128 x 7,039 head (and its bias)
    tail = np.frombuffer(bytes(blob[-n:]), np.float32) * np.random.default_rng(0).normal(1, 0.3, n // 4).astype(np.float32)
    blob[-n:] = tail.astype(np.float32).tobytes()
    (tmp_path / good.files["bin"].name).write_bytes(bytes(blob))
    files = {k: tmp_path / v.name for k, v in good.files.items()}
    broken = mobile.MobileModel("ncnn", good.info, files, good.input_blob, good.output_blob, good.manifest, good.reference)

    report = mobile.rec_parity(SHIPPED_REC, broken, images[:24])
    assert report.agreement < 0.99 and report.mismatches, report.summary()


def test_pnnx_rewrites_keep_the_detector_graph_equivalent():
    """The two rewrites NCNN export applies to the shipped detector's float twin change no output
    for a page whose sides are multiples of 32, including a size that was not traced."""
    import onnx
    import onnxruntime as ort

    twin = mobile.dequantize_qdq(onnx.load(str(SHIPPED_DET)))
    assert any(n.op_type == "Shape" and any(a.name == "start" for a in n.attribute) for n in twin.graph.node)
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(twin)
    assert mobile.drop_default_shape_start(rewritten) > 0
    assert mobile.resize_sizes_to_scales(rewritten, [[1, 3, h, w] for h, w in mobile.DET_TRACE_SHAPES]) == 6
    onnx.checker.check_model(rewritten)
    assert not any(n.op_type in ("Shape", "Gather") for n in rewritten.graph.node)  # the size chains are gone
    resizes = [n for n in rewritten.graph.node if n.op_type == "Resize"]
    assert len(resizes) == 6 and all(len(n.input) == 3 and n.input[2] for n in resizes)

    x = np.random.default_rng(1).uniform(-1, 1, (1, 3, 224, 96)).astype(np.float32)
    a = ort.InferenceSession(twin.SerializeToString()).run(None, {"images": x})[0]
    b = ort.InferenceSession(rewritten.SerializeToString()).run(None, {"images": x})[0]
    assert a.shape == b.shape and np.abs(a - b).max() < 1e-6

    # Sides that are not multiples of 32 give ratios that vary with the size: those Resizes stay dynamic.
    ragged = onnx.ModelProto()
    ragged.CopyFrom(twin)
    assert mobile.resize_sizes_to_scales(ragged, [[1, 3, 64, 64], [1, 3, 72, 72]]) < 6


@pytest.mark.parametrize("target", sorted(mobile.TARGETS))
def test_shipped_int8_detector_converts_and_finds_the_same_boxes(target, receipt, tmp_path):
    _require(target)
    exported = mobile.export_mobile(SHIPPED_DET, target, tmp_path)
    manifest = json.loads(exported.manifest.read_text(encoding="utf-8"))
    assert manifest["task"] == "detection" and manifest["source"]["dequantized_from_int8"] is True
    assert (manifest["output"]["thresh"], manifest["output"]["box_thresh"], manifest["output"]["unclip_ratio"]) == (
        0.3, 0.6, 1.4)
    assert "charset" not in exported.files and exported.reference.name.endswith(".dequantized.onnx")
    if target == "ncnn":
        param = exported.files["param"].read_text()
        assert "pnnx." not in param and param.count("\nInterp ") == 6

    pages = [receipt, *mobile.synthetic_pages(1, seed=1)]
    report = mobile.det_parity(exported.reference, exported, pages)
    assert report.n == 2 and report.agreement == 1.0, report.mismatches
    assert report.boxes_ref >= 30 and report.boxes_matched == report.boxes_ref
    # Not the max: NCNN now and then returns one stray pixel (boxes unaffected); see ParityReport.
    assert report.p999_abs_diff < 1e-3, report.max_abs_diff
    # A page size the converter never traced still runs.
    x = np.zeros((1, 3, 96, 224), np.float32)
    assert mobile.load_runner(exported)(x).reshape(-1).shape == (96 * 224,)


def test_cli_converts_checks_and_reports(tmp_path):
    _require("mnn")
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "ocrforge", "export", "mobile", "--model", str(SHIPPED_DET), "--to", "mnn",
                           "--out", str(tmp_path / "out"), "--check-lines", "30", "--report", str(report)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "converted in" in proc.stdout and "same boxes" in proc.stdout
    doc = json.loads(report.read_text(encoding="utf-8"))
    assert doc["target"] == "mnn" and doc["convert_s"] > 0 and doc["files"]["model"][1] > 1_000_000
    kinds = [(r["precision"], r["reference"]) for r in doc["reports"]]
    assert kinds == [("fp32", "ONNX Runtime"), ("runtime", "ONNX Runtime"), ("fp32", "ONNX Runtime on the INT8 original")]
    assert doc["reports"][0]["agreement"] == 1.0


def test_ncnn_io_blobs_are_read_from_the_param_file(tmp_path):
    param = tmp_path / "m.ncnn.param"
    param.write_text("7767517\n3 3\nInput in0 0 1 in0\nConvolution c 1 1 in0 1 0=4\nSoftmax s 1 1 1 out0 0=1\n")
    assert mobile._ncnn_io_blobs(param) == (["in0"], ["out0"])
    param.write_text("not a param\n")
    with pytest.raises(ModelError):
        mobile._ncnn_io_blobs(param)


def test_bad_inputs_raise_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        mobile.export_mobile(tmp_path / "missing.onnx", "ncnn", tmp_path)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not onnx at all")
    with pytest.raises(ModelError):
        mobile.export_mobile(junk, "mnn", tmp_path)
    with pytest.raises(ConfigError, match="unknown mobile target"):
        mobile.export_mobile(SHIPPED_REC, "tflite", tmp_path)


def test_default_int8_head_recognizer_is_refused_with_the_fp32_pointer(tmp_path):
    """OCR()'s default recognizer has an INT8 head (MatMulInteger), which no mobile converter reads: one clear
    line that names the FP32 model, from the CLI too."""
    from ocrforge.recognition.predictor import DEFAULT_MODEL

    with pytest.raises(ModelError, match="MatMulInteger.*FP32"):
        mobile.export_mobile(DEFAULT_MODEL, "ncnn", tmp_path / "a")
    proc = subprocess.run([sys.executable, "-m", "ocrforge", "export", "mobile", "--model", str(DEFAULT_MODEL),
                           "--to", "mnn", "--out", str(tmp_path / "b")], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "export from the FP32 model" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_cli_reports_a_missing_model_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ocrforge", "export", "mobile", "--model", str(tmp_path / "x.onnx"),
                           "--to", "ncnn", "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "not found" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def det_onnx(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("web_fixture_models", ROOT / "web" / "tests" / "fixture_models.py")
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    return fixtures.make_detector(tmp_path_factory.mktemp("mobile_det") / "det_tiny.onnx")


def test_qdq_int8_model_is_dequantized_with_its_saturation(det_onnx, tmp_path):
    """ONNX Runtime's static INT8 (QDQ) drops a Relu before a Q whose range starts at 0: the float
    twin must keep that clamp, or activations run away (they did, before Q/DQ became Clip)."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    rng = np.random.default_rng(0)
    pages = [rng.uniform(-1, 1, (1, 3, 64, 96)).astype(np.float32) for _ in range(4)]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter({"images": p} for p in pages)

        def get_next(self):
            return next(self.it, None)

    int8 = tmp_path / "det_int8.onnx"
    quantize_static(str(det_onnx), str(int8), Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    q = onnx.load(str(int8))
    assert mobile.is_qdq(q)
    f = mobile.dequantize_qdq(q)
    onnx.checker.check_model(f)
    assert not mobile.is_qdq(f) and "Clip" in {n.op_type for n in f.graph.node}
    a = ort.InferenceSession(str(int8)).run(None, {"images": pages[0]})[0]
    b = ort.InferenceSession(f.SerializeToString()).run(None, {"images": pages[0]})[0]
    assert a.shape == b.shape and np.abs(a - b).max() < 0.05
