"""Train the line 0/180 orientation classifier (tiny CNN) and export it to ONNX.

    python -m ocrforge.detection.orientation_train --out ocrforge/models/det_orient_line.onnx

Line crops come from detection label files (SROIE training cache, synthetic pages): each
labelled quad is perspective-cropped upright using its own vertex order (top-left first), so
quarter-rotated synthetic pages still give upright lines; half of them are turned by 180.
Validation: lines of SROIE ids % 5 == 4 (never trained on), reported as accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import List, Tuple

import cv2
import numpy as np

from ..data.det_datasets import load_paddle_label, load_sroie
from .orientation import crop_quad, line_tensor


def collect_lines(samples, limit: int, rng: np.random.Generator, min_chars: int = 3) -> np.ndarray:
    out: List[np.ndarray] = []
    order = rng.permutation(len(samples))
    for i in order:
        s = samples[i]
        img = cv2.imread(s.image_path, cv2.IMREAD_COLOR)
        if img is None:
            continue
        for poly, text, ign in zip(s.polygons, s.texts, s.ignore):
            if ign or len(text.strip()) < min_chars or len(poly) != 4:
                continue
            c = crop_quad(img, poly)
            if c.shape[1] < 1.5 * c.shape[0] or c.shape[0] < 6:  # vertical or tiny: no left-right cue
                continue
            out.append(line_tensor(c))
            if len(out) >= limit:
                return np.stack(out)
    return np.stack(out) if out else np.zeros((0, 1, 48, 192), np.float32)


def build_net():
    import torch
    from torch import nn

    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                             nn.Conv2d(cout, cout, 3, 1, 1, groups=cout, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    class LineOrientNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(block(1, 16), block(16, 32), block(32, 64), block(64, 96))
            self.fc = nn.Linear(96, 2)

        def forward(self, x):
            f = self.features(x).mean((2, 3))
            logits = self.fc(f)
            return logits if self.training else torch.softmax(logits, 1)

    return LineOrientNet()


def flip_batch(x: np.ndarray, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    y = (rng.random(len(x)) < 0.5).astype(np.int64)
    x = x.copy()
    x[y == 1] = x[y == 1][:, :, ::-1, ::-1]
    return x, y


def main(argv=None) -> int:
    import torch

    ap = argparse.ArgumentParser()
    ap.add_argument("--labels", action="append", default=None)
    ap.add_argument("--sroie", default="../shared/data/sroie")
    ap.add_argument("--lines", type=int, default=8000)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--out", default="ocrforge/models/det_orient_line.onnx")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    labels = args.labels or [str(Path("~/.cache/ocrforge/det_data/sroie_train/label.txt").expanduser()),
                             str(Path("~/.cache/ocrforge/det_data/synth_pages/label.txt").expanduser())]
    t0 = time.time()
    pools = [collect_lines(load_paddle_label(Path(p)), args.lines // len(labels), rng) for p in labels]
    train_x = np.concatenate(pools)
    val_x = collect_lines(load_sroie(Path(args.sroie), "mod:5:4"), 1500, np.random.default_rng(1))
    print(f"{len(train_x)} training lines, {len(val_x)} eval lines ({time.time() - t0:.0f}s)", flush=True)
    net = build_net()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=args.steps)
    net.train()
    for step in range(1, args.steps + 1):
        idx = rng.integers(0, len(train_x), args.batch)
        x, y = flip_batch(train_x[idx], rng)
        # photometric jitter: contrast/brightness, so print darkness is no cue
        x = x * rng.uniform(0.7, 1.2, (len(x), 1, 1, 1)) + rng.uniform(-0.2, 0.2, (len(x), 1, 1, 1))
        loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(x.astype(np.float32))), torch.from_numpy(y))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0:
            print(f"step {step} loss {float(loss):.4f} ({time.time() - t0:.0f}s)", flush=True)
    net.eval()
    vx, vy = flip_batch(val_x, np.random.default_rng(2))
    with torch.no_grad():
        pred = net(torch.from_numpy(np.ascontiguousarray(vx))).argmax(1).numpy()
    acc = float((pred == vy).mean())
    print(f"line 0/180 accuracy on SROIE ids%5==4: {acc:.4f} ({len(vy)} lines)", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    import onnx

    torch.onnx.export(net, torch.zeros(1, 1, 48, 192), str(out), input_names=["images"], output_names=["probs"],
                      opset_version=17, dynamic_axes={"images": {0: "batch"}, "probs": {0: "batch"}}, dynamo=False)
    m = onnx.load(str(out))
    for k, v in {"ocrforge_task": "line_orientation", "classes": "0,180", "input_height": "48", "input_width": "192",
                 "eval_accuracy_sroie_mod5_4": f"{acc:.4f}"}.items():
        m.metadata_props.add(key=k, value=v)
    onnx.save(m, str(out))
    print(json.dumps({"accuracy": acc, "eval_lines": len(vy), "train_lines": len(train_x), "steps": args.steps,
                      "seconds": round(time.time() - t0), "onnx_bytes": out.stat().st_size}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
