"""Tiny ONNX models that follow ocrforge's detector/recognizer I/O contracts (tests only).

They let the browser harness run end to end before (and independently of) the trained models:

* the detector is a fixed filter, not a trained net: ink darkness, smeared along the line with an
  average pool and squashed by a sigmoid, so dark text on a light page gives one blob per line
  (a "shrunk kernel" that the DB-style unclip expands back);
* the recognizer is a seeded random two-layer CNN with the real charset size: its text is
  gibberish, but deterministic and sensitive to every pixel of the crop, which is what a parity
  check between two implementations needs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
NUM_CLASSES = 7039


def _meta(model: onnx.ModelProto, props: dict) -> None:
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, str(v)


def make_detector(path: Path) -> Path:
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 3, "H", "W"])
    out = helper.make_tensor_value_info("prob", TensorProto.FLOAT, ["N", 1, "H", "W"])
    inits = [
        numpy_helper.from_array(np.array(-1.0, np.float32), "minus_one"),
        numpy_helper.from_array(np.array(0.15, np.float32), "level"),
        numpy_helper.from_array(np.array(25.0, np.float32), "gain"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["gray"], axes=[1], keepdims=1),  # [-1, 1], white = 1
        helper.make_node("Mul", ["gray", "minus_one"], ["neg"]),
        helper.make_node("Relu", ["neg"], ["ink"]),  # dark pixels only
        # Wide horizontal smear joins the characters of a line, a short vertical one fills strokes.
        helper.make_node("AveragePool", ["ink"], ["smear"], kernel_shape=[5, 15], pads=[2, 7, 2, 7], strides=[1, 1]),
        helper.make_node("Sub", ["smear", "level"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["prob"]),
    ]
    graph = helper.make_graph(nodes, "fixture_det", [inp], [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ocrforge-fixture", ir_version=8)
    _meta(model, {"ocrforge_task": "detection", "unclip_ratio": 1.5, "thresh": 0.3, "box_thresh": 0.5})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_recognizer(path: Path, seed: int = 0, hidden: int = 16) -> Path:
    rng = np.random.default_rng(seed)
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["N", 1, 32, "W"])
    out = helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", "T", NUM_CLASSES])
    w1 = rng.normal(0, 0.2, (hidden, 1, 32, 4)).astype(np.float32)
    w2 = rng.normal(0, 1.5, (NUM_CLASSES, hidden, 1, 1)).astype(np.float32)
    b2 = np.zeros(NUM_CLASSES, np.float32)
    b2[0] = 2.0  # lean towards blank so lines decode to a few characters, not one per frame
    inits = [
        numpy_helper.from_array(w1, "w1"),
        numpy_helper.from_array(w2, "w2"),
        numpy_helper.from_array(b2, "b2"),
        numpy_helper.from_array(np.array([2], np.int64), "axes2"),
    ]
    nodes = [
        helper.make_node("Conv", ["images", "w1"], ["c1"], kernel_shape=[32, 4], strides=[32, 4]),  # (N,h,1,W/4)
        helper.make_node("Tanh", ["c1"], ["t1"]),
        helper.make_node("Conv", ["t1", "w2", "b2"], ["c2"], kernel_shape=[1, 1]),  # (N,C,1,T)
        helper.make_node("Squeeze", ["c2", "axes2"], ["sq"]),
        helper.make_node("Transpose", ["sq"], ["tr"], perm=[0, 2, 1]),
        helper.make_node("Softmax", ["tr"], ["probs"], axis=-1),
    ]
    graph = helper.make_graph(nodes, "fixture_rec", [inp], [out], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="ocrforge-fixture", ir_version=8)
    _meta(model, {"ocrforge_task": "recognition", "charset_version": "v1", "input_height": 32})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_fixture_models(out_dir: Path) -> dict:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {"det": make_detector(out_dir / "det_fixture.onnx"), "rec": make_recognizer(out_dir / "rec_fixture.onnx")}


if __name__ == "__main__":
    import sys

    print(make_fixture_models(Path(sys.argv[1] if len(sys.argv) > 1 else "fixture_models")))
