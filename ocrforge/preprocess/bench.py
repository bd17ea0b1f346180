"""Accuracy and speed of the preprocessing measurements on generated pages (and optionally SROIE).

    OMP_NUM_THREADS=1 python -m ocrforge.preprocess.bench --pages 50 [--sroie ../shared/data/sroie --limit 100]

Generated pages get a random skew in [-15, 15] degrees and each of the four quarter turns, so the
true answer is known. Real receipts have no skew labels; for them only orientation is scored,
assuming the stored receipts are upright (a few are not quite, which counts against us).
OpenCV is held to one thread so times are per-core.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np

from .deskew import estimate_skew
from .orientation import estimate_orientation
from .pipeline import preprocess_page
from .synth import photograph_page, render_page, rotate_page, rotate_quarter

SCRIPTS = ("latin", "cjk", "mixed")
TURNS = (0, 90, 180, 270)


def _timed(fn, *args):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def bench_generated(n_pages: int, seed: int = 1000) -> Dict[str, object]:
    skew_err: List[float] = []
    orient_ok: Dict[str, List[bool]] = {s: [] for s in SCRIPTS}
    auto_ok: List[bool] = []
    clean_identity: List[bool] = []
    quad_err: List[float] = []
    t_auto_clean, t_auto_cpu, t_auto_turned, t_skew, t_orient = [], [], [], [], []
    rng = np.random.default_rng(seed)
    for i in range(n_pages):
        script = SCRIPTS[i % 3]
        page = render_page(seed=seed + i, script=script).image
        skew = float(rng.uniform(-15, 15))
        skewed = rotate_page(page, skew)

        est, _, cpu = _timed(estimate_skew, skewed)
        skew_err.append(abs(est.angle - skew))
        t_skew.append(cpu)

        for turn in TURNS:
            image = rotate_quarter(skewed, turn)
            o, _, cpu = _timed(estimate_orientation, image)
            t_orient.append(cpu)
            orient_ok[script].append(o.angle == (360 - turn) % 360)

        turn = int(TURNS[i % 4])
        image = rotate_quarter(skewed, turn)
        res, wall, _ = _timed(preprocess_page, image)
        t_auto_turned.append(wall)
        restored = res.rotation == (360 - turn) % 360 and abs(estimate_skew(res.image).angle) < 0.5
        auto_ok.append(bool(restored))

        res, wall, cpu = _timed(preprocess_page, page)
        t_auto_clean.append(wall)
        t_auto_cpu.append(cpu)
        clean_identity.append(not res.steps and np.array_equal(res.transform, np.eye(3)))

        if i < 10:
            corners = np.array([[150, 120], [1050, 90], [1120, 1350], [100, 1400]], float) + rng.uniform(-50, 50, (4, 2))
            photo, _ = photograph_page(page, corners, (1250, 1500), seed=i)
            res = preprocess_page(photo, "perspective")
            h, w = res.image.shape[:2]
            rect = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], float)
            quad_err.append(float(np.abs(res.to_input(rect) - corners).max()))

    all_orient = [x for v in orient_ok.values() for x in v]
    err = np.array(skew_err)
    return {
        "pages": n_pages,
        "deskew_mean_abs_error_deg": round(float(err.mean()), 3),
        "deskew_max_abs_error_deg": round(float(err.max()), 3),
        "deskew_within_0.5deg": round(float(np.mean(err < 0.5)), 3),
        "orientation_accuracy": round(float(np.mean(all_orient)), 3),
        "orientation_cases": len(all_orient),
        "orientation_accuracy_by_script": {s: round(float(np.mean(v)), 3) for s, v in orient_ok.items()},
        "auto_restored_turned_skewed_pages": round(float(np.mean(auto_ok)), 3),
        "auto_clean_scan_identity": round(float(np.mean(clean_identity)), 3),
        "perspective_max_corner_error_px": round(max(quad_err), 2) if quad_err else None,
        "ms_auto_clean_1000x1400_wall_median": round(1000 * float(np.median(t_auto_clean)), 1),
        "ms_auto_clean_1000x1400_cpu_median": round(1000 * float(np.median(t_auto_cpu)), 1),
        "ms_auto_turned_skewed_wall_median": round(1000 * float(np.median(t_auto_turned)), 1),
        "ms_estimate_skew_cpu_median": round(1000 * float(np.median(t_skew)), 1),
        "ms_estimate_orientation_cpu_median": round(1000 * float(np.median(t_orient)), 1),
    }


def bench_sroie(root: Path, limit: int) -> Dict[str, object]:
    paths = sorted((root / "img").glob("*.jpg"))[:limit]
    ok: Dict[int, List[bool]] = {t: [] for t in TURNS}
    auto_fixed: Dict[int, List[bool]] = {t: [] for t in TURNS}
    steps_taken: Dict[str, int] = {}
    times: List[float] = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            continue
        for turn in TURNS:
            turned = rotate_quarter(image, turn)
            est = estimate_orientation(turned)
            ok[turn].append(est.angle == (360 - turn) % 360)
            # What auto mode does with it: for turn 0 "fixed" means left upright.
            auto_fixed[turn].append(preprocess_page(turned).rotation == (360 - turn) % 360)
        res, wall, _ = _timed(preprocess_page, image)
        times.append(wall)
        for name, _ in res.steps:
            steps_taken[name] = steps_taken.get(name, 0) + 1
    every = [x for v in ok.values() for x in v]
    return {
        "receipts": len(times),
        "orientation_accuracy": round(float(np.mean(every)), 3) if every else None,
        "orientation_accuracy_by_turn": {t: round(float(np.mean(v)), 3) for t, v in ok.items() if v},
        "auto_orientation_right_by_turn": {t: round(float(np.mean(v)), 3) for t, v in auto_fixed.items() if v},
        "auto_steps_taken_on_originals": steps_taken,
        "ms_auto_wall_median": round(1000 * float(np.median(times)), 1) if times else None,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ocrforge.preprocess.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--sroie", type=Path, default=None, help="SROIE root with img/*.jpg")
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    report: Dict[str, object] = {"generated": bench_generated(args.pages)}
    if args.sroie is not None:
        if not (args.sroie / "img").is_dir():
            print(f"error: no img/ folder under {args.sroie}", file=sys.stderr)
            return 2
        report["sroie"] = bench_sroie(args.sroie, args.limit)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
