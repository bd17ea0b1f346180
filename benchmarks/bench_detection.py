"""Detection benchmark on SROIE: precision/recall/F1 at IoU >= 0.5 and ms per page.

    PYTHONPATH=../shared/tools python benchmarks/bench_detection.py \
        --model ocrforge/models/det_db_mobilenetv3_small.onnx --data ../shared/data/sroie --split mod:5:4

Matching is ocrbench's own (`ocrbench.metrics.match_boxes`: boxes made axis-aligned, one-to-one
greedy by IoU, a match at IoU >= 0.5), so the numbers compare with `ocrbench --tasks pages`.
`--sweep` tries post-processing settings; tune them on a training split (mod:5:1,2,3), never on
the evaluation split. `DetOnlyEngine` lets ocrbench itself time and score the detector:

    python -m ocrbench run --engine benchmarks.bench_detection:DetOnlyEngine --tasks pages ...
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np


def _metrics():
    try:
        from ocrbench import metrics
    except ImportError:
        sys.exit("ocrbench not importable: export PYTHONPATH=../shared/tools")
    return metrics


class DetOnlyEngine:
    """ocrbench engine: boxes from the detector, empty texts (detection metrics only)."""

    name = "ocrforge-det"

    def __init__(self, threads: int = 2, model: str | None = None, max_side: str = "1280", **options):
        from ocrforge.detection.predictor import TextDetector

        self.det = TextDetector(model, threads=threads, max_side=int(max_side))

    def recognize_lines(self, crops):
        return [("", 0.0) for _ in crops]

    def read_page(self, image_path):
        img = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        return [{"box": d.polygon.tolist(), "text": "", "confidence": d.score} for d in self.det.detect(img)]

    def info(self):
        return {"model": str(self.det.model_path), "max_side": self.det.max_side, "post": self.det.config.__dict__}


def evaluate(det, samples, iou: float = 0.5, timing: bool = True) -> dict:
    m = _metrics()
    n_match = n_gt = n_pred = 0
    times = []
    for s, img in samples:
        t0 = time.perf_counter()
        dets = det.detect(img)
        times.append((time.perf_counter() - t0) * 1000)
        gt = [m.rect_of(p.tolist()) for p in s.polygons]
        pred = [m.rect_of(d.polygon.tolist()) for d in dets]
        n_match += len(m.match_boxes(gt, pred, iou))
        n_gt += len(gt)
        n_pred += len(pred)
    out = m.prf_from_counts(n_match, n_gt, n_pred)
    if timing:
        out.update(ms_p50=m.percentile(times, 50), ms_p90=m.percentile(times, 90))
    return out


def sweep(det, loaded, max_side: int) -> list:
    """Post-processing grid on cached probability maps (the network runs once per page)."""
    from ocrforge.detection.postprocess import PostprocessConfig, boxes_from_prob

    m = _metrics()
    maps = [det.prob_map(img) for _, img in loaded]
    out = []
    for t, b, u in itertools.product((0.2, 0.3, 0.4), (0.5, 0.6, 0.7), (1.0, 1.1, 1.2, 1.4, 1.6, 1.8)):
        post = PostprocessConfig(thresh=t, box_thresh=b, unclip_ratio=u)
        n_match = n_gt = n_pred = 0
        for (s, img), (prob, sx, sy) in zip(loaded, maps):
            dets = boxes_from_prob(prob, (sx, sy), (img.shape[1], img.shape[0]), post)
            gt = [m.rect_of(p.tolist()) for p in s.polygons]
            pred = [m.rect_of(d.polygon.tolist()) for d in dets]
            n_match += len(m.match_boxes(gt, pred, 0.5))
            n_gt, n_pred = n_gt + len(gt), n_pred + len(pred)
        r = m.prf_from_counts(n_match, n_gt, n_pred)
        r.update(thresh=t, box_thresh=b, unclip_ratio=u, max_side=max_side, pages=len(loaded))
        out.append(r)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}), flush=True)
    return out


def orientation_accuracy(det, loaded, threads: int) -> dict:
    """Page 0/90/180/270 accuracy: every page turned four ways and set upright by the reading
    pipeline's own check (``OCR.orient_page``: detected lines, line classifier, recognizer)."""
    from ocrforge.pipeline import OCR

    ocr = OCR(detector=det, threads=threads, preprocess="none")
    hits, times = {0: 0, 90: 0, 180: 0, 270: 0}, []
    for _, img in loaded:
        for angle in hits:
            turned = np.ascontiguousarray(np.rot90(img, angle // 90))
            t0 = time.perf_counter()
            res = ocr.orient_page(turned)
            times.append((time.perf_counter() - t0) * 1000)
            hits[angle] += res.angle == angle
    m = _metrics()
    return {"accuracy": sum(hits.values()) / (4 * len(loaded)), "per_angle": {k: v / len(loaded) for k, v in hits.items()},
            "pages": len(loaded), "ms_p50_with_detection": m.percentile(times, 50)}


def a4_documents(count: int, seed: int = 777) -> list:
    """Upright synthetic document pages (12-22 px text as rendered) enlarged to an A4 scan at 300 dpi:
    what the detector's max side does to office documents, which SROIE receipts do not show."""
    import types

    from ocrforge.data.synth_pages import PageSynthConfig, PageSynthesizer

    synth = PageSynthesizer(PageSynthConfig(seed=seed, photo_p=0.0, quarter_p=0.0, tilt_p=0.0, vertical_p=0.0))
    out, index = [], 0
    while len(out) < count:
        index += 1
        if synth.kind_of(index) != "document":
            continue
        page = synth.page(index)
        f = 3508 / max(page.image.shape[:2])
        img = cv2.resize(page.image, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
        out.append((types.SimpleNamespace(polygons=[q * f for q in page.polygons]), img))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", action="append", help="ONNX model (repeat to compare); default: shipped")
    ap.add_argument("--data", default="../shared/data/sroie")
    ap.add_argument("--split", default="mod:5:4")
    ap.add_argument("--limit", type=int)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-side", type=int, action="append")
    ap.add_argument("--sweep", action="store_true", help="grid over thresh/box_thresh/unclip_ratio")
    ap.add_argument("--orientation", action="store_true", help="page orientation accuracy on turned pages")
    ap.add_argument("--a4-docs", type=int, metavar="N",
                    help="instead of SROIE: N synthetic document pages scaled to A4 at 300 dpi (long side 3508 px)")
    ap.add_argument("--out", help="write results JSON here")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    cv2.setNumThreads(args.threads)
    from ocrforge.data.det_datasets import load_sroie
    from ocrforge.detection.postprocess import PostprocessConfig
    from ocrforge.detection.predictor import TextDetector

    if args.a4_docs:
        loaded = a4_documents(args.a4_docs)
    else:
        samples = load_sroie(Path(args.data), args.split)[: args.limit]
        loaded = [(s, cv2.imread(s.image_path, cv2.IMREAD_COLOR)) for s in samples]
    results = []
    for model, max_side in itertools.product(args.model or [None], args.max_side or [1280]):
        det = TextDetector(model, threads=args.threads, max_side=max_side)
        det.detect(loaded[0][1])  # warm-up, untimed
        if args.sweep:
            results += sweep(det, loaded, max_side)
            continue
        if args.orientation:
            r = orientation_accuracy(det, loaded, args.threads)
            r.update(model=str(det.model_path), max_side=max_side)
            results.append(r)
            print(json.dumps(r), flush=True)
            continue
        r = evaluate(det, loaded)
        r.update(model=str(det.model_path), max_side=max_side, pages=len(loaded), threads=args.threads,
                 **{k: getattr(det.config, k) for k in ("thresh", "box_thresh", "unclip_ratio")})
        results.append(r)
        print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}), flush=True)
    if args.sweep:
        best = max(results, key=lambda r: r["f1"])
        print("best:", json.dumps(best))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
