"""Export ocrforge's ONNX models to phone runtimes (NCNN, MNN) and check them against ONNX Runtime.

    ocrforge export mobile --model ocrforge/models/rec_x.onnx --to ncnn --out mobile/
    ocrforge export mobile --model rec_x.onnx --to mnn --out mobile/ --sroie ../shared/data/sroie

Converters are the runtimes' own PyPI tools: PNNX (``pnnx``, Tencent's successor of onnx2ncnn,
which reads ONNX directly) writes NCNN's ``.param``/``.bin``; MNN's converter (``_tools`` of the
``MNN`` wheel) writes ``.mnn``. Each export also writes a JSON manifest that a phone app reads to
feed the model (input/output blob names, normalisation, line height, width stride, detector
thresholds) and, for a recognizer, the charset file.

The parity check runs the converted model with each runtime's Python package (``ncnn``, ``MNN``)
on the host, next to ONNX Runtime on the same input, and reports the share of lines whose greedy
CTC text is identical (the issue asks for >= 99 %), the largest probability difference, and the
lines that differ. Lines come from synthetic Chinese/English renders and, when given, SROIE dev
receipts (ids with ``int(id) % 5 == 4``).

Nothing here is on the reading path: the converters pull PyTorch (``pnnx`` depends on it), so
this module imports them only inside functions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigError, InputError, ModelError

# PNNX traces the graph at two input shapes to find which dimensions are dynamic (the line width;
# the page height and width). Any two distinct shapes do; these are typical sizes.
REC_TRACE_WIDTHS = (320, 160)
DET_TRACE_SHAPES = ((640, 640), (480, 320))
CONVERTER_TIMEOUT_S = 900


# ------------------------------------------------------------------------------------ model info


@dataclass(frozen=True)
class ModelInfo:
    """What the exported files need to say about an ocrforge ONNX model (from its graph and metadata)."""

    task: str  # "recognition" | "detection"
    input_name: str
    output_name: str
    channels: int
    input_height: Optional[int]  # recognition: fixed line height
    width_stride: int  # recognition: input columns per output frame
    metadata: Dict[str, str]

    @property
    def is_recognizer(self) -> bool:
        return self.task == "recognition"


def read_model_info(path: Path) -> ModelInfo:
    """Task, I/O names and shapes of an ocrforge ONNX model; ModelError if it is not one."""
    import onnx

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends for a file that is not ONNX
        raise ModelError(f"cannot read ONNX model {path}: {exc}") from None
    meta = {p.key: p.value for p in model.metadata_props}
    init = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in init]
    if len(inputs) != 1 or len(model.graph.output) != 1:
        raise ModelError(f"{path}: expected one input and one output, found {len(inputs)} and {len(model.graph.output)}")
    dims = [d.dim_value if d.HasField("dim_value") else None for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4:
        raise ModelError(f"{path}: expected an NCHW input, got {len(dims)} dimensions")
    task = meta.get("ocrforge_task") or ("recognition" if dims[1] == 1 else "detection")
    if task not in ("recognition", "detection"):
        raise ModelError(f"{path}: unknown ocrforge_task {task!r}")
    height = int(meta.get("input_height", dims[2] or 32)) if task == "recognition" else None
    return ModelInfo(task=task, input_name=inputs[0].name, output_name=model.graph.output[0].name,
                     channels=int(dims[1] or (1 if task == "recognition" else 3)), input_height=height,
                     width_stride=int(meta.get("width_stride", 4)), metadata=meta)


# ------------------------------------------------------------------------------------ INT8 (QDQ) sources


QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


def is_qdq(model) -> bool:
    return any(n.op_type in QDQ_OPS for n in model.graph.node)


def dequantize_qdq(model):
    """A QDQ-quantized ONNX model (ONNX Runtime's static INT8) as a plain float graph.

    Neither PNNX nor MNNConvert reads QuantizeLinear/DequantizeLinear (PNNX aborts, MNN writes an
    empty model), and each mobile runtime has its own INT8 path (ncnn2int8, MNN's quantizer)
    that wants float input. Weights become ``(q - zero_point) * scale`` (the INT8 grid, so the
    float model holds exactly the quantized weights); each activation Quantize->Dequantize pair
    becomes a Clip to the range it could represent (what is left of the quantization is the
    rounding to the grid). Returns a new ModelProto; ModelError if a Q/DQ node fits neither pattern.
    """
    import onnx
    from onnx import numpy_helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    inits = {t.name: t for t in g.initializer}

    def const(name: str) -> Optional[np.ndarray]:
        return numpy_helper.to_array(inits[name]) if name in inits else None

    # Nodes are tracked by position: protobuf may hand out a fresh Python wrapper on every access.
    nodes = list(g.node)
    rename: Dict[str, str] = {}  # tensor name -> the name that replaces it
    new_inits, drop = [], set()
    for k, node in enumerate(nodes):
        if node.op_type != "DequantizeLinear":
            continue
        q = const(node.input[0])
        if q is None:
            continue  # an activation's DQ; handled with its Q below
        scale = const(node.input[1])
        zero = const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros_like(scale, dtype=q.dtype)
        if scale is None or zero is None:
            raise ModelError(f"DequantizeLinear {node.name!r} has a non-constant scale or zero point")
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and q.ndim > 1:  # per-channel
            shape = [1] * q.ndim
            shape[axis % q.ndim] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        w = ((q.astype(np.float64) - zero.astype(np.float64)) * scale.astype(np.float64)).astype(np.float32)
        new_inits.append(numpy_helper.from_array(w, node.output[0]))
        drop.add(k)
    consumers: Dict[str, List[int]] = {}
    for k, node in enumerate(nodes):
        for name in node.input:
            consumers.setdefault(name, []).append(k)
    clips: Dict[int, object] = {}  # position of a Q node -> the Clip that replaces its Q/DQ pair
    for k, node in enumerate(nodes):
        if node.op_type != "QuantizeLinear":
            continue
        users = consumers.get(node.output[0], [])
        if not users or any(nodes[u].op_type != "DequantizeLinear" for u in users):
            raise ModelError(f"QuantizeLinear {node.name!r} feeds something other than DequantizeLinear")
        # The pair saturates at the ends of the integer range, and the quantizer relies on it: it
        # drops a Relu (or clamp) before a Q whose range starts at 0. So the float stand-in is a Clip.
        scale = const(node.input[1])
        zero = const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros((), np.uint8)
        if scale is None or zero is None or scale.size != 1:
            raise ModelError(f"QuantizeLinear {node.name!r} has no constant per-tensor scale")
        info = np.iinfo(zero.dtype)
        lo = np.float32((float(info.min) - float(zero.ravel()[0])) * float(scale.ravel()[0]))
        hi = np.float32((float(info.max) - float(zero.ravel()[0])) * float(scale.ravel()[0]))
        base = node.output[0] + "_float"
        new_inits += [numpy_helper.from_array(np.array(lo, np.float32), base + "_min"),
                      numpy_helper.from_array(np.array(hi, np.float32), base + "_max")]
        clips[k] = onnx.helper.make_node("Clip", [node.input[0], base + "_min", base + "_max"], [base],
                                         name=(node.name or base) + "_as_clip")
        drop.add(k)
        for u in users:
            rename[nodes[u].output[0]] = base
            drop.add(u)
    leftover = [n.name for k, n in enumerate(nodes) if n.op_type in QDQ_OPS and k not in drop]
    if leftover:
        raise ModelError(f"cannot dequantize Q/DQ nodes {leftover[:3]}")

    def resolve(name: str) -> str:
        while name in rename:
            name = rename[name]
        return name

    kept = [clips[k] if k in clips else n for k, n in enumerate(nodes) if k not in drop or k in clips]
    for n in kept:
        for i, name in enumerate(n.input):
            n.input[i] = resolve(name)
    # A graph output that was a DQ's result: its float producer now writes it under that name.
    for out in g.output:
        src = resolve(out.name)
        if src == out.name:
            continue
        for n in kept:
            for i, name in enumerate(n.input):
                if name == src:
                    n.input[i] = out.name
            for i, name in enumerate(n.output):
                if name == src:
                    n.output[i] = out.name
    del g.node[:]
    g.node.extend(kept)
    used = {name for n in g.node for name in n.input}
    keep_inits = [t for t in list(g.initializer) + new_inits if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep_inits)
    del g.value_info[:]  # shapes of removed tensors; runtimes infer what they need
    return m


# ------------------------------------------------------------------------------------ export


@dataclass
class MobileModel:
    """A converted model: its files, the blob names a runtime feeds, and the manifest beside them."""

    target: str
    info: ModelInfo
    files: Dict[str, Path]  # role -> path ("param", "bin" for NCNN; "model" for MNN; "charset")
    input_blob: str
    output_blob: str
    manifest: Path
    reference: Path  # the float ONNX the files were converted from (the model itself, or its dequantized twin)
    convert_s: float = 0.0  # wall time of the converter (host, including the INT8 -> float rewrite)


@dataclass(frozen=True)
class Target:
    """One mobile runtime: how to convert to it and how to run the result on the host."""

    convert: Callable[[Path, ModelInfo, Path, bool], Tuple[Dict[str, Path], str, str]]
    runner: Callable[["MobileModel", int, str], "Runner"]
    packages: str  # what to pip install


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _run_converter(cmd: Sequence[str], cwd: Path, what: str) -> str:
    try:
        proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True, timeout=CONVERTER_TIMEOUT_S)
    except FileNotFoundError as exc:
        raise ConfigError(f"{what} converter not found: {exc}") from None
    except subprocess.TimeoutExpired:
        raise ModelError(f"{what} converter did not finish in {CONVERTER_TIMEOUT_S} s") from None
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        tail = " | ".join(ln for ln in log.strip().splitlines()[-5:])
        raise ModelError(f"{what} conversion failed (exit {proc.returncode}): {tail}")
    return log


def _pnnx_executable() -> Path:
    try:
        import pnnx  # noqa: F401  (the wheel ships the converter binary next to its __init__)
    except ImportError:
        raise ConfigError("NCNN export needs PNNX: pip install pnnx ncnn") from None
    exe = Path(pnnx.EXEC_PATH)
    if not exe.is_file():
        raise ConfigError(f"the pnnx package has no converter binary at {exe}")
    return exe


def _convert_ncnn(onnx_path: Path, info: ModelInfo, out_dir: Path, fp16: bool) -> Tuple[Dict[str, Path], str, str]:
    exe = _pnnx_executable()
    if info.is_recognizer:
        shapes = [[1, info.channels, info.input_height, w] for w in REC_TRACE_WIDTHS]
    else:
        shapes = [[1, info.channels, h, w] for h, w in DET_TRACE_SHAPES]
    stem = onnx_path.stem
    param, binary = out_dir / f"{stem}.ncnn.param", out_dir / f"{stem}.ncnn.bin"
    # PNNX writes half a dozen intermediate files next to its input; keep them out of out_dir.
    with tempfile.TemporaryDirectory(prefix="ocrforge-pnnx-") as tmp:
        work = Path(tmp) / onnx_path.name
        _write_for_pnnx(onnx_path, work, shapes)
        cmd = [str(exe), work.name, "inputshape=" + _shape_arg(shapes[0]), "inputshape2=" + _shape_arg(shapes[1]),
               f"fp16={int(fp16)}", f"ncnnparam={param}", f"ncnnbin={binary}"]
        for key in ("pnnxparam", "pnnxbin", "pnnxpy", "pnnxonnx", "ncnnpy"):
            cmd.append(f"{key}={Path(tmp) / (stem + '.' + key)}")
        _run_converter(cmd, Path(tmp), "PNNX (ONNX -> NCNN)")
    if not param.is_file() or not binary.is_file():
        raise ModelError(f"PNNX reported success but wrote no NCNN model for {onnx_path}")
    # PNNX writes what it could not lower to an NCNN layer as a pnnx.* layer; NCNN refuses to load those.
    leftover = sorted({ln.split()[0] for ln in param.read_text().split("\n")[2:] if ln.startswith("pnnx.")})
    if leftover:
        raise ModelError(f"PNNX left layers NCNN cannot run in {param.name}: {', '.join(leftover)}")
    inputs, outputs = _ncnn_io_blobs(param)
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelError(f"NCNN model {param} has inputs {inputs} and outputs {outputs}; expected one of each")
    return {"param": param, "bin": binary}, inputs[0], outputs[0]


def drop_default_shape_start(model) -> int:
    """Remove ``start=0`` from Shape nodes (the default, so the graph means the same); returns how many.

    PNNX 20261020 corrupts its heap on a Shape node that spells out ``start=0`` ("free(): invalid next
    size (fast)" after pass_level5). ONNX Runtime writes every default attribute when it saves an
    optimized graph, and the INT8 quantizer's pre-processing saves one, so every model quantized with
    ``quantize_static`` (the shipped detector) has them; a plain ``torch.onnx.export`` does not.
    """
    n = 0
    for node in model.graph.node:
        if node.op_type != "Shape":
            continue
        keep = [a for a in node.attribute if not (a.name == "start" and a.i == 0)]
        if len(keep) != len(node.attribute):
            n += len(node.attribute) - len(keep)
            del node.attribute[:]
            node.attribute.extend(keep)
    return n


def resize_sizes_to_scales(model, trace_shapes: Sequence[Sequence[int]]) -> int:
    """Turn each Resize whose output size is read off another tensor's shape into a fixed-scale Resize.

    The detector's FPN upsamples each level to the size of the level above
    (``F.interpolate(x, size=y.shape[-2:])``): in ONNX, a Shape/Gather/Concat chain feeding Resize's
    ``sizes``. PNNX maps that chain to ``pnnx.Expression`` layers, which NCNN cannot load. For inputs
    whose sides are multiples of 32 (the detector's contract) each ratio is a constant integer (2, 4,
    8), and a nearest/asymmetric/floor Resize by that scale picks the same pixels. The ratios are
    measured with ONNX Runtime at each NCHW shape in ``trace_shapes``; a Resize whose ratio differs
    between them, or is not a whole number, is left alone. Nodes left without a consumer are removed.
    Returns how many Resize nodes were rewritten.
    """
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    g = model.graph
    consts = {t.name for t in g.initializer} | {o for n in g.node if n.op_type == "Constant" for o in n.output}
    targets = [n for n in g.node if n.op_type == "Resize" and len(n.input) >= 4 and n.input[3]
               and n.input[3] not in consts]
    if not targets:
        return 0
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    outputs = {o.name for o in probe.graph.output}
    for name in dict.fromkeys(t for n in targets for t in (n.input[0], n.output[0])):
        if name not in outputs:
            probe.graph.output.append(onnx.ValueInfoProto(name=name))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(probe.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feed, names = sess.get_inputs()[0].name, [o.name for o in sess.get_outputs()]
    ratios: Dict[str, set] = {n.output[0]: set() for n in targets}
    for shape in trace_shapes:
        got = dict(zip(names, sess.run(None, {feed: np.zeros(list(shape), np.float32)})))
        for n in targets:
            src, dst = got[n.input[0]].shape, got[n.output[0]].shape
            ratios[n.output[0]].add(tuple(b / a for a, b in zip(src, dst)))
    done = 0
    for n in targets:
        if len(ratios[n.output[0]]) != 1:
            continue
        scales = next(iter(ratios[n.output[0]]))
        if any(s <= 0 or s != round(s) for s in scales):
            continue
        name = n.output[0] + "_scales"
        g.initializer.append(numpy_helper.from_array(np.array(scales, np.float32), name))
        x = n.input[0]
        del n.input[:]
        n.input.extend([x, "", name])
        done += 1
    if done:
        _drop_dead_nodes(model)
    return done


def _drop_dead_nodes(model) -> None:
    """Remove nodes none of whose outputs is used (repeatedly), and initializers nothing reads."""
    g = model.graph
    nodes = list(g.node)
    while True:
        used = {o.name for o in g.output} | {i for n in nodes for i in n.input}
        kept = [n for n in nodes if any(o in used for o in n.output)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    del g.node[:]
    g.node.extend(nodes)
    used = {i for n in nodes for i in n.input}
    inits = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(inits)


def _write_for_pnnx(src: Path, dst: Path, trace_shapes: Sequence[Sequence[int]]) -> None:
    """Copy ``src`` to ``dst``, rewritten where PNNX needs it (drop_default_shape_start, resize_sizes_to_scales)."""
    import onnx

    model = onnx.load(str(src))
    changed = drop_default_shape_start(model)
    changed += resize_sizes_to_scales(model, trace_shapes)
    if changed:
        onnx.save(model, str(dst))
    else:
        shutil.copyfile(src, dst)


def _shape_arg(shape: Sequence[int]) -> str:
    return "[" + ",".join(str(int(s)) for s in shape) + "]f32"


def _ncnn_io_blobs(param: Path) -> Tuple[List[str], List[str]]:
    """Input blobs (tops of Input layers) and output blobs (produced, never consumed) of an NCNN .param."""
    lines = param.read_text().split("\n")
    if not lines or lines[0].strip() != "7767517":
        raise ModelError(f"{param} is not an NCNN text .param file")
    inputs, produced, consumed = [], [], set()
    for line in lines[2:]:
        parts = line.split()
        if len(parts) < 4:
            continue
        kind, n_in, n_out = parts[0], int(parts[2]), int(parts[3])
        bottoms = parts[4:4 + n_in]
        tops = parts[4 + n_in:4 + n_in + n_out]
        consumed.update(bottoms)
        produced.extend(tops)
        if kind == "Input":
            inputs.extend(tops)
    return inputs, [b for b in produced if b not in consumed and b not in inputs]


def _convert_mnn(onnx_path: Path, info: ModelInfo, out_dir: Path, fp16: bool) -> Tuple[Dict[str, Path], str, str]:
    try:
        import _tools  # noqa: F401  (the MNN wheel's converter extension)
    except ImportError:
        raise ConfigError("MNN export needs the MNN wheel: pip install MNN") from None
    out = out_dir / f"{onnx_path.stem}.mnn"
    # The converter is called through its extension module, not the `mnnconvert` console script:
    # that wrapper imports a usage logger which pip-installs a cloud SDK and uploads conversion
    # statistics. A subprocess keeps the converter's own crashes and chatter out of this process.
    # Its return value is not an exit status (it is truthy on success): success is the file plus
    # the converter's "Converted Success" line.
    cmd = [sys.executable, "-c", "import sys, _tools; _tools.mnnconvert(sys.argv)", "mnnconvert",
           "-f", "ONNX", "--modelFile", str(onnx_path.resolve()), "--MNNModel", str(out.resolve()), "--bizCode", "ocrforge"]
    if fp16:
        cmd.append("--fp16")
    log = _run_converter(cmd, out_dir, "MNNConvert (ONNX -> MNN)")
    if not out.is_file() or "Converted Success" not in log:
        tail = " | ".join(log.strip().splitlines()[-3:])
        raise ModelError(f"MNN conversion of {onnx_path} failed: {tail}")
    return {"model": out}, info.input_name, info.output_name


def _charset_file(info: ModelInfo) -> Path:
    from ..recognition.charset import charset_path

    path = charset_path(info.metadata.get("charset_version", "v1"))
    if not path.is_file():
        raise ModelError(f"charset {info.metadata.get('charset_version')!r} of the model not found at {path}")
    return path


def export_mobile(model: str | Path, target: str, out_dir: str | Path, fp16: bool = False) -> MobileModel:
    """Convert one ocrforge ONNX model for ``target`` ("ncnn" or "mnn") into ``out_dir``.

    ``fp16`` stores weights as float16 (half the size; NCNN's default on phones). Writes the
    runtime's files, ``<stem>.<target>.json`` and, for a recognizer, the charset file.
    """
    if target not in TARGETS:
        raise ConfigError(f"unknown mobile target {target!r}; choose from {', '.join(TARGETS)}")
    onnx_path = Path(model)
    info = read_model_info(onnx_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ocrforge-mobile-") as tmp:
        source, dequantized = _float_source(onnx_path, Path(tmp))
        files, input_blob, output_blob = TARGETS[target].convert(source, info, out, fp16)
        convert_s = time.perf_counter() - t0
        reference = onnx_path
        if dequantized:
            # Kept: it is what the mobile files were converted from, so parity is judged against it.
            reference = out / f"{onnx_path.stem}.dequantized.onnx"
            shutil.copyfile(source, reference)
            files["dequantized_onnx"] = reference
    if info.is_recognizer:
        charset = _charset_file(info)
        files["charset"] = out / charset.name
        shutil.copyfile(charset, files["charset"])
    manifest = out / f"{onnx_path.stem}.{target}.json"
    doc = _manifest(target, info, files, input_blob, output_blob, onnx_path, fp16)
    doc["source"]["dequantized_from_int8"] = dequantized
    manifest.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return MobileModel(target, info, files, input_blob, output_blob, manifest, reference, convert_s)


# ONNX Runtime's dynamic-quantization and QOperator ops: no mobile converter reads them, and
# unlike QDQ they do not map back to one float op each.
UNCONVERTIBLE_QUANT_OPS = {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeLSTM",
                           "QLinearConv", "QLinearMatMul", "QAttention"}


def _float_source(onnx_path: Path, tmp: Path) -> Tuple[Path, bool]:
    """The model to hand a converter: the file itself, or its dequantized twin for a QDQ INT8 model."""
    import onnx

    model = onnx.load(str(onnx_path))
    bad = sorted({n.op_type for n in model.graph.node} & UNCONVERTIBLE_QUANT_OPS)
    if bad:
        raise ModelError(f"{onnx_path.name} is quantized with {', '.join(bad)}, which mobile converters cannot read; "
                         "export from the FP32 model (NCNN and MNN quantize with their own tools)")
    if not is_qdq(model):
        return onnx_path, False
    path = tmp / onnx_path.name  # same stem, so output files are named after the shipped model
    onnx.save(dequantize_qdq(model), str(path))
    return path, True


def _manifest(target, info: ModelInfo, files, input_blob, output_blob, onnx_path: Path, fp16: bool) -> dict:
    m = {
        "format": "ocrforge-mobile-1",
        "runtime": target,
        "task": info.task,
        "files": {k: v.name for k, v in files.items()},
        "input": {"blob": input_blob, "layout": "NCHW" if target == "mnn" else "CHW (one image per extractor)",
                  "channels": info.channels, "color": "gray" if info.channels == 1 else "BGR",
                  "normalize": "(x / 255 - 0.5) / 0.5", "mean": [127.5] * info.channels,
                  "norm": [1 / 127.5] * info.channels},
        "output": {"blob": output_blob},
        "weights": "float16" if fp16 else "float32",
        "source": {"file": onnx_path.name, "sha256": _sha256(onnx_path)},
        "metadata": info.metadata,
    }
    if info.is_recognizer:
        from ..recognition.preprocess import MAX_WIDTH, MIN_WIDTH, WIDTH_MULTIPLE

        m["input"].update({"height": info.input_height, "width_multiple": WIDTH_MULTIPLE, "min_width": MIN_WIDTH,
                           "max_width": MAX_WIDTH,
                           "resize": "gray; keep aspect to the height (area filter when shrinking, bilinear when "
                                     "enlarging); pad right by repeating the last column"})
        m["output"].update({"shape": "(frames, classes) per line, softmax; frames = ceil(width / width_stride)",
                            "width_stride": info.width_stride, "blank": 0,
                            "charset": files["charset"].name, "space_token": "<space>"})
    else:
        # Not a suggestion: the NCNN graph upsamples its FPN levels by fixed factors (resize_sizes_to_scales).
        m["input"].update({"size": "each side a multiple of 32, long side <= 1600", "size_multiple": 32})
        m["output"].update({"shape": "(1, H, W) text probability", **{k: float(info.metadata[k]) for k in
                            ("thresh", "box_thresh", "unclip_ratio") if k in info.metadata}})
    return m


# ------------------------------------------------------------------------------------ host runtimes


# "fp32": float32 storage and arithmetic, so that the check measures the conversion alone.
# "runtime": the runtime's own defaults, as an app gets them unless it opts out: NCNN stores weights and
# activations as fp16 where the CPU can (F16C on x86, every ARMv8 phone) and computes in fp16 on ARMv8.2;
# MNN's default "normal" precision stays float32 on CPUs (fp16 needs "low" on an ARMv8.2 CPU, or a GPU backend).
PRECISIONS = ("fp32", "runtime")


class Runner:
    """Runs a converted model on one image: x float32 (1, C, H, W) -> output without the batch axis."""

    def __call__(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")


class NcnnRunner(Runner):
    def __init__(self, model: MobileModel, threads: int = 1, precision: str = "fp32"):
        _check_precision(precision)
        try:
            import ncnn
        except ImportError:
            raise ConfigError("running NCNN models needs the ncnn wheel: pip install ncnn") from None
        self._ncnn = ncnn
        self.net = ncnn.Net()
        self.net.opt.num_threads = threads
        if precision == "fp32":
            # fp16 *storage* is on by default wherever the CPU converts halves (F16C on this x86 host):
            # turning off only fp16 arithmetic left the trained recognizer's SE gates rounded to fp16,
            # and 5 of 200 synthetic Chinese lines read differently from ONNX Runtime.
            for flag in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage"):
                setattr(self.net.opt, flag, False)
        if self.net.load_param(str(model.files["param"])) != 0 or self.net.load_model(str(model.files["bin"])) != 0:
            raise ModelError(f"NCNN cannot load {model.files['param']}")
        self.input_blob, self.output_blob = model.input_blob, model.output_blob

    def __call__(self, x: np.ndarray) -> np.ndarray:
        ex = self.net.create_extractor()
        ex.input(self.input_blob, self._ncnn.Mat(np.ascontiguousarray(x[0])).clone())
        ret, out = ex.extract(self.output_blob)
        if ret != 0:
            raise ModelError(f"NCNN extract of {self.output_blob} failed ({ret})")
        return np.array(out)


class MnnRunner(Runner):
    def __init__(self, model: MobileModel, threads: int = 1, precision: str = "fp32"):
        _check_precision(precision)
        try:
            import MNN
            import MNN.expr as F
        except ImportError:
            raise ConfigError("running MNN models needs the MNN wheel: pip install MNN") from None
        self._F = F
        mnn_precision = "high" if precision == "fp32" else "normal"
        rt = MNN.nn.create_runtime_manager(({"backend": "CPU", "numThread": threads, "precision": mnn_precision},))
        # Module API: the LSTM becomes a While subgraph, which the older Session API cannot run.
        self.net = MNN.nn.load_module_from_file(str(model.files["model"]), [model.input_blob], [model.output_blob],
                                                runtime_manager=rt)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        F = self._F
        out = self.net.forward(F.const(np.ascontiguousarray(x), list(x.shape), F.NCHW))
        if out.data_format == F.NC4HW4:
            out = F.convert(out, F.NCHW)
        return np.array(out.read())[0]


TARGETS: Dict[str, Target] = {
    "ncnn": Target(convert=_convert_ncnn, runner=NcnnRunner, packages="pnnx ncnn"),
    "mnn": Target(convert=_convert_mnn, runner=MnnRunner, packages="MNN"),
}


def load_runner(model: MobileModel, threads: int = 1, precision: str = "fp32") -> Runner:
    return TARGETS[model.target].runner(model, threads, precision)


# ------------------------------------------------------------------------------------ parity


@dataclass
class ParityReport:
    """ONNX Runtime vs a mobile runtime on the same inputs."""

    target: str
    source: str  # which lines / pages
    n: int
    same_text: int
    max_abs_diff: float  # largest |p_onnx - p_mobile| over all outputs
    onnx_ms: float  # mean per input, host CPU, 1 thread
    mobile_ms: float
    mismatches: List[Tuple[int, str, str]] = field(default_factory=list)  # (index, onnx text, mobile text)
    compared: str = "greedy text"  # what "same" means: the line's text, or a page's boxes
    # 99.9th percentile of |diff| (detection maps): NCNN now and then returns a stray value at an isolated
    # pixel (seen: max 0.98 in 1 of 3 runs with identical boxes); the bulk of the map must still match.
    p999_abs_diff: Optional[float] = None
    precision: str = "fp32"  # the mobile runtime's precision setting (PRECISIONS)
    boxes_ref: Optional[int] = None  # detection: boxes ONNX Runtime's map gives, over all pages
    boxes_matched: Optional[int] = None  # ... of which the mobile runtime's map gives one within 1 px
    boxes_iou50: Optional[int] = None  # ... or one overlapping it at IoU >= 0.5 (the benchmark's match)
    reference: str = "ONNX Runtime"  # what the mobile runtime was compared with

    @property
    def agreement(self) -> float:
        return self.same_text / self.n if self.n else 1.0

    def summary(self) -> str:
        text = (f"{self.target} ({self.precision}) vs {self.reference} on {self.n} {self.source}: same {self.compared} on "
                f"{self.same_text}/{self.n} ({100 * self.agreement:.2f} %), max |dp| {self.max_abs_diff:.2e}")
        if self.p999_abs_diff is not None:
            text += f" (99.9th pct {self.p999_abs_diff:.2e})"
        if self.boxes_ref is not None:
            text += f", boxes {self.boxes_matched}/{self.boxes_ref} within 1 px ({self.boxes_iou50} at IoU >= 0.5)"
        return text + f", {self.onnx_ms:.1f} ms (ORT) vs {self.mobile_ms:.1f} ms ({self.target}) per input on this host"


def _onnx_session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def rec_parity(onnx_path: str | Path, model: MobileModel, lines: Sequence[np.ndarray], source: str = "lines",
               runner: Optional[Runner] = None, precision: str = "fp32") -> ParityReport:
    """Greedy text of each line (uint8 gray/BGR crop) from ONNX Runtime and from the mobile runtime.

    Each line is prepared as the predictor prepares it (height 32, aspect kept, padded to a
    multiple of 8) and run alone: a phone runs one line per extractor call.
    """
    from ..postprocess.ctc import greedy_decode
    from ..recognition.charset import load_charset
    from ..recognition.preprocess import frames_for_width, pad_batch, resize_line

    info = model.info
    if not info.is_recognizer:
        raise ConfigError("rec_parity needs a recognition model")
    charset = load_charset(info.metadata.get("charset_version", "v1"))
    sess = _onnx_session(Path(onnx_path))
    runner = runner or load_runner(model, precision=precision)
    same, worst, t_onnx, t_mobile, mismatches = 0, 0.0, 0.0, 0.0, []
    for i, line in enumerate(lines):
        x, widths = pad_batch([resize_line(line, info.input_height)])
        frames = frames_for_width(widths[0], info.width_stride)
        if i == 0:  # first calls allocate and pick kernels: keep them out of the timings
            sess.run(None, {info.input_name: x})
            runner(x)
        t0 = time.perf_counter()
        ref = sess.run(None, {info.input_name: x})[0][0]
        t1 = time.perf_counter()
        got = runner(x)
        t2 = time.perf_counter()
        t_onnx += t1 - t0
        t_mobile += t2 - t1
        got = got.reshape(ref.shape) if got.size == ref.size else got
        if got.shape != ref.shape:
            raise ModelError(f"{model.target} output shape {got.shape} differs from ONNX Runtime's {ref.shape}")
        worst = max(worst, float(np.abs(ref - got).max()))
        a, b = greedy_decode(ref[:frames], charset).text, greedy_decode(got[:frames], charset).text
        if a == b:
            same += 1
        else:
            mismatches.append((i, a, b))
    n = len(lines)
    return ParityReport(model.target, source, n, same, worst, 1000 * t_onnx / max(n, 1), 1000 * t_mobile / max(n, 1),
                        mismatches, precision=precision)


def _matched_boxes(a, b, tol: float = 1.0) -> int:
    """How many boxes of ``a`` have a distinct partner in ``b`` with every corner within ``tol`` px."""
    free = list(range(len(b)))
    hits = 0
    for p in a:
        for j in free:
            if p.polygon.shape == b[j].polygon.shape and np.abs(p.polygon - b[j].polygon).max() <= tol:
                free.remove(j)
                hits += 1
                break
    return hits


def _iou_matched_boxes(a, b, threshold: float = 0.5) -> int:
    """How many boxes of ``a`` have a distinct partner in ``b`` at polygon IoU >= ``threshold`` (greedy, best first)."""
    import cv2

    def area(poly):
        return abs(float(cv2.contourArea(poly)))

    pairs = []
    for i, p in enumerate(a):
        pa = p.polygon.astype(np.float32)
        for j, q in enumerate(b):
            qb = q.polygon.astype(np.float32)
            inter, _ = cv2.intersectConvexConvex(pa, qb)
            union = area(pa) + area(qb) - inter
            if union > 0 and inter / union >= threshold:
                pairs.append((inter / union, i, j))
    used_a, used_b = set(), set()
    for _, i, j in sorted(pairs, reverse=True):
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
    return len(used_a)


def det_parity(onnx_path: str | Path, model: MobileModel, pages: Sequence[np.ndarray], source: str = "pages",
               runner: Optional[Runner] = None, precision: str = "fp32", max_side: int = 960) -> ParityReport:
    """Detector check: the probability maps, and the text boxes DB post-processing draws from them.

    A page counts as the same when both maps give the same number of boxes, each within 1 px of its
    partner; ``boxes_matched`` / ``boxes_ref`` count single boxes over all pages. Pages are resized as
    the benchmark runs the detector (long side ``max_side``, sides multiples of 32).
    """
    from ..detection.postprocess import PostprocessConfig, boxes_from_prob
    from ..detection.predictor import _metadata_config, resize_for_model

    info = model.info
    cfg = _metadata_config(info.metadata, PostprocessConfig())
    sess = _onnx_session(Path(onnx_path))
    runner = runner or load_runner(model, precision=precision)
    same, worst, t_onnx, t_mobile, mismatches = 0, 0.0, 0.0, 0.0, []
    diffs, n_ref, n_matched, n_iou = [], 0, 0, 0
    for i, page in enumerate(pages):
        resized, sx, sy = resize_for_model(page, max_side)
        x = ((resized.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
        if i == 0:
            sess.run(None, {info.input_name: x})
            runner(x)
        t0 = time.perf_counter()
        ref = sess.run(None, {info.input_name: x})[0][0, 0]
        t1 = time.perf_counter()
        got = runner(x).reshape(ref.shape)
        t2 = time.perf_counter()
        t_onnx += t1 - t0
        t_mobile += t2 - t1
        worst = max(worst, float(np.abs(ref - got).max()))
        diffs.append(np.abs(ref - got).ravel())
        size = (page.shape[1], page.shape[0])
        a = boxes_from_prob(ref, (sx, sy), size, cfg)
        b = boxes_from_prob(got, (sx, sy), size, cfg)
        matched = _matched_boxes(a, b)
        n_ref += len(a)
        n_matched += matched
        n_iou += _iou_matched_boxes(a, b)
        if len(a) == len(b) == matched:
            same += 1
        else:
            mismatches.append((i, f"{len(a)} boxes", f"{len(b)} boxes, {matched} of them within 1 px"))
    n = len(pages)
    p999 = float(np.percentile(np.concatenate(diffs), 99.9)) if diffs else 0.0
    return ParityReport(model.target, source, n, same, worst, 1000 * t_onnx / max(n, 1), 1000 * t_mobile / max(n, 1),
                        mismatches, compared="boxes (within 1 px)", p999_abs_diff=p999, precision=precision,
                        boxes_ref=n_ref, boxes_matched=n_matched, boxes_iou50=n_iou)


# ------------------------------------------------------------------------------------ check data


def sroie_dev_lines(root: str | Path, limit: int = 300, seed: int = 0) -> List[np.ndarray]:
    """Line crops from SROIE dev receipts (ids with int(id) % 5 == 4), ``limit`` of them spread over receipts."""
    return [crop for crop, _ in sroie_dev_samples(root, limit, seed)]


def sroie_dev_samples(root: str | Path, limit: int = 300, seed: int = 0) -> List[Tuple[np.ndarray, str]]:
    """(line crop, transcription) pairs behind sroie_dev_lines."""
    import cv2

    from ..pipeline import crop_quad, order_quad

    root = Path(root)
    ids = sorted(p.stem for p in (root / "box").glob("*.csv") if p.stem.isdigit() and int(p.stem) % 5 == 4)
    if not ids:
        raise InputError(f"no SROIE dev receipts (box/NNN.csv with NNN % 5 == 4) under {root}")
    quads_by_id: Dict[str, List[Tuple[np.ndarray, str]]] = {}
    for sid in ids:
        quads = []
        for row in (root / "box" / f"{sid}.csv").read_text(encoding="utf-8", errors="replace").splitlines():
            parts = row.split(",", 8)
            if len(parts) < 9 or not parts[8].strip():
                continue
            try:
                quads.append((np.array([float(v) for v in parts[:8]], np.float32).reshape(4, 2), parts[8].strip()))
            except ValueError:
                continue
        quads_by_id[sid] = quads
    picks = [(sid, k) for sid in ids for k in range(len(quads_by_id[sid]))]
    random.Random(seed).shuffle(picks)
    picks = sorted(picks[:limit])
    out, image, loaded = [], None, None
    for sid, k in picks:
        if loaded != sid:
            image = cv2.imread(str(root / "img" / f"{sid}.jpg"), cv2.IMREAD_COLOR)
            loaded = sid
        if image is None:
            continue
        quad, text = quads_by_id[sid][k]
        crop = crop_quad(image, order_quad(quad))
        if crop.shape[0] >= 4 and crop.shape[1] >= 4:
            out.append((crop, text))
    return out


def sroie_dev_pages(root: str | Path, limit: int = 20) -> List[np.ndarray]:
    """The first ``limit`` SROIE dev receipts (ids with int(id) % 5 == 4), as BGR images."""
    import cv2

    root = Path(root)
    ids = sorted(p.stem for p in (root / "img").glob("*.jpg") if p.stem.isdigit() and int(p.stem) % 5 == 4)
    if not ids:
        raise InputError(f"no SROIE dev receipts (img/NNN.jpg with NNN % 5 == 4) under {root}")
    pages = [cv2.imread(str(root / "img" / f"{sid}.jpg"), cv2.IMREAD_COLOR) for sid in ids[:limit]]
    return [p for p in pages if p is not None]


def synthetic_lines(count: int = 100, seed: int = 0, chinese_only: bool = True) -> List[np.ndarray]:
    """Rendered text lines (the training synthesizer, held-out fonts): Chinese bills, news, rare hanzi..."""
    return [image for image, _ in synthetic_samples(count, seed, chinese_only)]


def synthetic_samples(count: int = 100, seed: int = 0, chinese_only: bool = True) -> List[Tuple[np.ndarray, str]]:
    """(line image, text) pairs behind synthetic_lines; ``chinese_only=False`` adds the English receipt mixes."""
    from ..data.corpus import DEFAULT_MIX
    from ..data.synth_lines import LineSynthConfig, LineSynthesizer

    mix = {k: v for k, v in DEFAULT_MIX.items() if k.startswith("zh_") or not chinese_only}
    synth = LineSynthesizer(LineSynthConfig(held_out_fonts=True, hard_ratio=0.0, mix=mix, seed=seed))
    return [(s.image, s.text) for s in (synth.sample(i) for i in range(count))]


def synthetic_pages(count: int = 3, seed: int = 0) -> List[np.ndarray]:
    """Small receipt-like pages (white paper, black print) for the detector check."""
    import cv2
    from PIL import Image, ImageDraw, ImageFont

    from ..data.corpus import TextSampler
    from ..data.fonts import available_fonts

    rng = random.Random(seed)
    faces = [f for f in available_fonts() if f.script == "zh"]
    if not faces:
        raise ConfigError("no Chinese font installed for synthetic pages")
    sampler = TextSampler()
    pages = []
    for _ in range(count):
        img = Image.new("RGB", (640, 800), "white")
        draw = ImageDraw.Draw(img)
        y = 30
        while y < 740:
            face = rng.choice(faces)
            text = sampler.sample(rng)[1][:24]
            if not face.covers(text):
                continue
            font = ImageFont.truetype(face.path, rng.randint(20, 34), index=face.index)
            draw.text((rng.randint(20, 80), y), text, fill=(0, 0, 0), font=font)
            y += rng.randint(48, 70)
        pages.append(cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR))
    return pages


# ------------------------------------------------------------------------------------ CLI


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "mobile", help="convert an ONNX model to NCNN or MNN and check it against ONNX Runtime",
        description="Convert an ocrforge ONNX model (rec_*.onnx or det_*.onnx) for phones and check the result "
                    "on this host with the runtime's Python package. Exit 1 when agreement is below --min-agreement.")
    p.add_argument("--model", required=True, metavar="X.onnx", help="ocrforge ONNX model")
    p.add_argument("--to", required=True, choices=sorted(TARGETS), help="mobile runtime")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--fp16", action="store_true", help="store weights as float16 (half the size)")
    p.add_argument("--check-lines", type=int, default=100, metavar="N",
                   help="synthetic Chinese lines (recognizer) or pages / 30 (detector) for the parity check; 0 skips")
    p.add_argument("--sroie", metavar="DIR", help="also check on SROIE dev receipts from this folder (line crops "
                                                  "for a recognizer, pages for a detector)")
    p.add_argument("--sroie-lines", type=int, default=300, metavar="N")
    p.add_argument("--sroie-pages", type=int, default=20, metavar="N")
    p.add_argument("--runtime-precision", action=argparse.BooleanOptionalAction, default=True,
                   help="also report agreement with the runtime's default precision (fp16 where the CPU has it), "
                        "as an app gets it; reported only, the exit status is judged on the float32 check")
    p.add_argument("--min-agreement", type=float, default=0.99, metavar="R",
                   help="required share of inputs with identical greedy text (default 0.99)")
    p.add_argument("--report", metavar="FILE.json", help="write the parity reports as JSON")
    p.set_defaults(func=_run_cli)


def _run_cli(args: argparse.Namespace) -> int:
    if not 0 <= args.min_agreement <= 1:
        raise ConfigError(f"--min-agreement must be between 0 and 1, got {args.min_agreement}")
    if args.check_lines < 0 or args.sroie_lines < 0 or args.sroie_pages < 0:
        raise ConfigError("--check-lines, --sroie-lines and --sroie-pages must be >= 0")
    model = export_mobile(args.model, args.to, args.out, fp16=args.fp16)
    for role, path in model.files.items():
        print(f"wrote {path} ({role}, {os.path.getsize(path) / 1e6:.2f} MB)")
    print(f"wrote {model.manifest}")
    print(f"converted in {model.convert_s:.1f} s")
    inputs: List[Tuple[str, list]] = []  # (source, lines or pages)
    if model.info.is_recognizer:
        if args.check_lines:
            inputs.append(("synthetic Chinese lines", synthetic_lines(args.check_lines)))
        if args.sroie and args.sroie_lines:
            inputs.append(("SROIE dev lines", sroie_dev_lines(args.sroie, args.sroie_lines)))
    else:
        if args.check_lines:
            inputs.append(("synthetic pages", synthetic_pages(max(1, args.check_lines // 30))))
        if args.sroie and args.sroie_pages:
            inputs.append(("SROIE dev pages", sroie_dev_pages(args.sroie, args.sroie_pages)))
    check = rec_parity if model.info.is_recognizer else det_parity
    gated: List[ParityReport] = [check(model.reference, model, data, source) for source, data in inputs]
    extra: List[ParityReport] = []
    if args.runtime_precision:
        extra += [check(model.reference, model, data, source, precision="runtime") for source, data in inputs]
    if Path(model.reference) != Path(args.model):
        # An INT8 model was converted from its float twin (what the gate judges); how far the phone's
        # result is from the INT8 model that ONNX Runtime runs on a desktop is worth knowing too.
        for source, data in inputs:
            r = check(args.model, model, data, source)
            r.reference = "ONNX Runtime on the INT8 original"
            extra.append(r)
    reports = gated + extra
    ok = True
    for r in reports:
        print(r.summary())
        for i, a, b in r.mismatches[:5]:
            print(f"  differs on #{i}: onnx {a!r} / {r.target} {b!r}")
    for r in gated:
        ok &= r.agreement >= args.min_agreement
    if args.report:
        doc = {"model": str(args.model), "target": args.to, "fp16_weights": args.fp16,
               "convert_s": model.convert_s, "files": {k: [v.name, os.path.getsize(v)] for k, v in model.files.items()},
               "reports": [dict(asdict(r), agreement=r.agreement) for r in reports]}
        Path(args.report).write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if not ok:
        print(f"parity below {args.min_agreement:.0%}", file=sys.stderr)
        return 1
    return 0
