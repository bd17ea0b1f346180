"""Export a trained DB detector to ONNX (dynamic batch/height/width) and INT8.

Training side (imports torch). The exported graph takes `images` (N, 3, H, W) normalized BGR
and returns `prob` (N, 1, H, W); post-processing defaults ride along as metadata_props.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from .postprocess import PostprocessConfig


def export_onnx(model, path: Path, post: PostprocessConfig = PostprocessConfig(), opset: int = 17,
                extra_meta: Optional[dict] = None) -> Path:
    import onnx
    import torch

    model = model.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, 64, 64)
    torch.onnx.export(
        model, dummy, str(path), input_names=["images"], output_names=["prob"], opset_version=opset,
        dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"}, "prob": {0: "batch", 2: "height", 3: "width"}},
        dynamo=False,
    )
    m = onnx.load(str(path))
    meta = {"ocrforge_task": "detection", "unclip_ratio": str(post.unclip_ratio), "thresh": str(post.thresh),
            "box_thresh": str(post.box_thresh), "input_normalization": "(x/255-0.5)/0.5 BGR", "size_multiple": "32"}
    meta.update({k: str(v) for k, v in (extra_meta or {}).items()})
    del m.metadata_props[:]
    for k, v in meta.items():
        m.metadata_props.add(key=k, value=v)
    onnx.save(m, str(path))
    return path


def quantize_int8(src: Path, dst: Path, calib_images, max_side: int = 960) -> Path:
    """Static INT8 (QDQ, per-channel weights) calibrated on real pages.

    Dynamic quantization would quantize only MatMul/Gemm weights and leave every conv in FP32;
    static quantization needs activation ranges, taken from `calib_images` (paths or arrays).
    Metadata props are copied from the FP32 model.
    """
    import cv2
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from .predictor import resize_for_model

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(list(calib_images))

        def get_next(self):
            for item in self.items:
                img = cv2.imread(str(item), cv2.IMREAD_COLOR) if not isinstance(item, np.ndarray) else item
                if img is None:
                    continue
                resized, _, _ = resize_for_model(img, max_side)
                x = ((resized.astype(np.float32) / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)[None]
                return {"images": x}
            return None

    src, dst = Path(src), Path(dst)
    pre = dst.with_suffix(".pre.onnx")
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    quantize_static(str(pre), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    pre.unlink(missing_ok=True)
    fp32, q = onnx.load(str(src)), onnx.load(str(dst))
    del q.metadata_props[:]
    for p in fp32.metadata_props:
        q.metadata_props.add(key=p.key, value=p.value)
    q.metadata_props.add(key="quantization", value="int8-static-qdq")
    onnx.save(q, str(dst))
    return dst


# ------------------------------------------------------------------------------------------
# CLI: ocrforge export det --checkpoint last.pt --out det.onnx [--int8 det.int8.onnx --calib DIR]
# ------------------------------------------------------------------------------------------


def _add_arguments(p) -> None:
    # Defaults are the shipped detector's post-processing, swept on SROIE training pages
    # (benchmarks/bench_detection.py --sweep --split mod:5:1); they ride along as metadata.
    p.add_argument("--checkpoint", required=True, help="detector checkpoint (ocrforge train det)")
    p.add_argument("--out", required=True, help="FP32 .onnx path")
    p.add_argument("--thresh", type=float, default=0.3)
    p.add_argument("--box-thresh", type=float, default=0.6)
    p.add_argument("--unclip-ratio", type=float, default=1.4)
    p.add_argument("--arch")
    p.add_argument("--int8", help="also write a static-INT8 model here")
    p.add_argument("--calib", help="folder of .jpg pages for INT8 calibration (training pages, never eval)")
    p.add_argument("--calib-count", type=int, default=16)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("det", help="export a detection checkpoint to ONNX (+ static INT8)")
    _add_arguments(p)
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..errors import InputError
    from ..training.det import load_model_from_checkpoint

    if not Path(args.checkpoint).expanduser().is_file():
        raise InputError(f"checkpoint not found: {args.checkpoint}")
    calib = []
    if args.int8:
        calib = sorted(Path(args.calib).expanduser().rglob("*.jpg"))[: args.calib_count] if args.calib else []
        if not calib:
            raise InputError("--int8 needs --calib DIR with .jpg training pages")
    model = load_model_from_checkpoint(Path(args.checkpoint).expanduser())
    post = PostprocessConfig(thresh=args.thresh, box_thresh=args.box_thresh, unclip_ratio=args.unclip_ratio)
    out = export_onnx(model, Path(args.out), post, extra_meta={"architecture": args.arch or model.cfg.backbone})
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    if args.int8:
        q = quantize_int8(out, Path(args.int8), calib)
        print(f"wrote {q} ({q.stat().st_size / 1e6:.2f} MB)")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="ocrforge-export-det")
    _add_arguments(p)
    return _run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
