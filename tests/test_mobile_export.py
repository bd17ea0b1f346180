"""Mobile export: ONNX -> NCNN / MNN with the runtimes' PyPI converters, then host parity vs ONNX Runtime.

The recognizer fixture is the shipped architecture (CRNN, MobileNetV3 + BiLSTM, 7,039 classes)
shrunk and exported through the project's own ONNX path; its head is scaled so frames have clear
winners, as a trained model's do (random logits near a tie would test float noise, not the
conversion). The detector fixture is the contract-conforming filter model of the web tests.
Each target is skipped, with the reason, only when its converter/runtime wheel is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ocrforge.errors import ConfigError, ModelError
from ocrforge.export import mobile

ROOT = Path(__file__).resolve().parents[1]
WANTS = {"ncnn": ("pnnx", "ncnn"), "mnn": ("MNN", "_tools")}


def _require(target: str) -> None:
    missing = [m for m in WANTS[target] if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"{target} converter/runtime not installed (pip install {mobile.TARGETS[target].packages})")


@pytest.fixture(scope="module")
def rec_onnx(tmp_path_factory) -> Path:
    torch = pytest.importorskip("torch")
    import onnx

    from ocrforge.export.onnx_rec import REC_METADATA
    from ocrforge.recognition.model import SoftmaxExport, build_model

    torch.manual_seed(0)
    model = build_model("crnn_mobilenetv3_small", backbone_scale=0.5, neck_channels=32, hidden=16).eval()
    with torch.no_grad():
        model.head.fc.weight.mul_(40.0)
    out = tmp_path_factory.mktemp("mobile") / "rec_tiny.onnx"
    torch.onnx.export(SoftmaxExport(model).eval(), (torch.zeros(1, 1, 32, 160),), str(out), input_names=["images"],
                      output_names=["probs"], dynamic_axes={"images": {0: "batch", 3: "width"},
                                                            "probs": {0: "batch", 1: "frames"}},
                      opset_version=17, dynamo=False)
    m = onnx.load(str(out))
    for k, v in dict(REC_METADATA, charset_version="v1", width_stride=str(model.cfg.width_stride)).items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(m, str(out))
    return out


@pytest.fixture(scope="module")
def det_onnx(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("web_fixture_models", ROOT / "web" / "tests" / "fixture_models.py")
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    return fixtures.make_detector(tmp_path_factory.mktemp("mobile_det") / "det_tiny.onnx")


@pytest.fixture(scope="module")
def lines():
    return mobile.synthetic_lines(16, seed=3)


@pytest.mark.parametrize("target", sorted(mobile.TARGETS))
def test_recognizer_converts_and_reads_like_onnx_runtime(target, rec_onnx, lines, tmp_path):
    _require(target)
    exported = mobile.export_mobile(rec_onnx, target, tmp_path)

    manifest = json.loads(exported.manifest.read_text(encoding="utf-8"))
    assert manifest["runtime"] == target and manifest["task"] == "recognition"
    assert manifest["input"]["height"] == 32 and manifest["output"]["blank"] == 0
    assert manifest["output"]["width_stride"] == exported.info.width_stride
    for name in manifest["files"].values():
        assert (tmp_path / name).stat().st_size > 0
    charset = (tmp_path / manifest["output"]["charset"]).read_text(encoding="utf-8").split("\n")
    assert charset[0] == "<space>" and len([c for c in charset if c]) == 7038

    report = mobile.rec_parity(rec_onnx, exported, lines, "synthetic lines")
    assert report.n == len(lines) == 16
    assert report.agreement >= 0.99, report.mismatches
    assert report.max_abs_diff < 1e-3
    # The fixture must produce text, or "same text" would be the empty string twice.
    from ocrforge.postprocess.ctc import greedy_decode
    from ocrforge.recognition.charset import load_charset
    from ocrforge.recognition.preprocess import pad_batch, resize_line

    probs = mobile.load_runner(exported)(pad_batch([resize_line(lines[0])])[0])
    assert greedy_decode(probs, load_charset()).text


@pytest.mark.parametrize("target", sorted(mobile.TARGETS))
def test_detector_converts_with_dynamic_page_size(target, det_onnx, tmp_path):
    _require(target)
    exported = mobile.export_mobile(det_onnx, target, tmp_path)
    manifest = json.loads(exported.manifest.read_text(encoding="utf-8"))
    assert manifest["task"] == "detection" and manifest["output"]["unclip_ratio"] == 1.5
    assert "charset" not in exported.files

    pages = mobile.synthetic_pages(1, seed=1)
    report = mobile.det_parity(det_onnx, exported, pages)
    assert report.n == 1 and report.agreement == 1.0, report.mismatches
    # Not the max: NCNN intermittently returns one stray pixel (boxes unaffected); see ParityReport.
    assert report.p999_abs_diff < 1e-4, report.max_abs_diff
    # A page size the converter never traced still runs.
    x = np.zeros((1, 3, 96, 224), np.float32)
    assert mobile.load_runner(exported)(x).reshape(-1).shape == (96 * 224,)


def test_ncnn_io_blobs_are_read_from_the_param_file(tmp_path):
    param = tmp_path / "m.ncnn.param"
    param.write_text("7767517\n3 3\nInput in0 0 1 in0\nConvolution c 1 1 in0 1 0=4\nSoftmax s 1 1 1 out0 0=1\n")
    assert mobile._ncnn_io_blobs(param) == (["in0"], ["out0"])
    param.write_text("not a param\n")
    with pytest.raises(ModelError):
        mobile._ncnn_io_blobs(param)


def test_bad_inputs_raise_clear_errors(tmp_path, rec_onnx):
    with pytest.raises(ModelError, match="not found"):
        mobile.export_mobile(tmp_path / "missing.onnx", "ncnn", tmp_path)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00not onnx at all")
    with pytest.raises(ModelError):
        mobile.export_mobile(junk, "mnn", tmp_path)
    with pytest.raises(ConfigError, match="unknown mobile target"):
        mobile.export_mobile(rec_onnx, "tflite", tmp_path)


def test_cli_reports_a_missing_model_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ocrforge", "export", "mobile", "--model", str(tmp_path / "x.onnx"),
                           "--to", "ncnn", "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "not found" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


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
