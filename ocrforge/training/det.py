"""Train a DB text detector on real (SROIE) and synthetic pages; checkpoints and --resume.

    ocrforge train det --config configs/det_mobilenetv3_large.yaml [--resume]

Sample i of a run is drawn and augmented from a generator seeded by (seed, i), and the
learning rate is a pure function of the step, so a resumed run continues the same schedule on
the same sample stream it would have seen without the interruption.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data.det_datasets import DetSample, cache_scaled, load_paddle_label, load_sroie
from ..detection.augment import AugmentConfig, augment
from ..detection.labels import LabelConfig, make_db_targets
from ..detection.losses import DBLoss
from ..detection.model import DBNet, DetModelConfig, build_model, model_config
from .det_config import DetTrainConfig
from .run import ScalarLog, StopOnSignal, add_run_arguments, init_weights_from, load_run_config, save_checkpoint

MEAN, STD = 0.5, 0.5


def to_tensor(img_bgr: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 BGR -> float32 3xHxW normalized as the ONNX contract says."""
    return ((img_bgr.astype(np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1)


# ------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------


class DetMix(Dataset):
    """Index i -> one augmented crop with DB targets; the source is drawn by weight."""

    def __init__(self, sources: List[List[DetSample]], weights: List[float], aug: AugmentConfig,
                 labels: LabelConfig, seed: int):
        self.sources = sources
        w = np.asarray(weights, np.float64)
        self.p = w / w.sum()
        self.aug, self.labels, self.seed = aug, labels, seed

    def __len__(self):  # the sampler is infinite; this only satisfies the Dataset protocol
        return 1 << 40

    def __getitem__(self, i: int) -> Dict[str, np.ndarray]:
        rng = np.random.default_rng([self.seed, i])
        for _ in range(10):
            src = self.sources[int(rng.choice(len(self.sources), p=self.p))]
            s = src[int(rng.integers(len(src)))]
            img = cv2.imread(s.image_path, cv2.IMREAD_COLOR)
            if img is None:
                continue
            img, polys, ign = augment(img, s.polygons, s.ignore, rng, self.aug)
            t = make_db_targets(img.shape, polys, ign, self.labels)
            return {"image": to_tensor(img), **t}
        raise RuntimeError("could not read 10 training images in a row; check the label files")


class StreamSampler(Sampler):
    def __init__(self, start: int):
        self.start = start

    def __iter__(self) -> Iterator[int]:
        i = self.start
        while True:
            yield i
            i += 1


def load_sources(cfg: DetTrainConfig, log=print) -> tuple:
    if cfg.sroie_root:
        label = Path("~/.cache/ocrforge/det_data/sroie_train/label.txt").expanduser()
        if not label.exists():
            cache_scaled(load_sroie(Path(cfg.sroie_root), cfg.sroie_split), label.parent, cfg.cache_long_side, log=log)
    sources, weights = [], []
    for path, w in cfg.data.items():
        p = Path(path).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"training label file {p} does not exist")
        samples = load_paddle_label(p)
        log(f"{len(samples)} pages from {p} (weight {w})")
        sources.append(samples)
        weights.append(float(w))
    return sources, weights


# ------------------------------------------------------------------------------------------
# Schedule and checkpoints
# ------------------------------------------------------------------------------------------


def lr_at(step: int, cfg: DetTrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t))


def load_model_from_checkpoint(path: str | Path) -> DBNet:
    state = torch.load(path, map_location="cpu", weights_only=False)
    model = DBNet(DetModelConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model"])
    return model.eval()


# ------------------------------------------------------------------------------------------
# Training loop
# ------------------------------------------------------------------------------------------


def train(cfg: DetTrainConfig, resume: bool = False, log=print, until_step: Optional[int] = None) -> Path:
    """Train to cfg.max_steps (or stop early at until_step, keeping the full-length schedule)."""
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    board = ScalarLog(out, cfg.tensorboard)  # first, so a missing package fails before any data is read
    last = out / "last.pt"
    torch.manual_seed(cfg.seed)  # before building: the initial weights are part of the run
    model = build_model(model_config(cfg.model, **cfg.model_overrides))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, elapsed_before = 0, 0.0
    if resume and last.exists():
        state = torch.load(last, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, elapsed_before = state["step"], state.get("elapsed", 0.0)
        torch.set_rng_state(state["torch_rng"])
        log(f"resumed from {last} at step {step}")
    elif resume:
        log(f"no checkpoint at {last}: starting fresh")
    if step == 0 and cfg.init_from:
        log(init_weights_from(model, cfg.init_from))
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    sources, weights = load_sources(cfg, log)
    data = DetMix(sources, weights, AugmentConfig(crop=cfg.crop), LabelConfig(), cfg.seed)
    loader = DataLoader(data, batch_size=cfg.batch_size, sampler=StreamSampler(step * cfg.batch_size),
                        num_workers=cfg.workers, persistent_workers=cfg.workers > 0,
                        worker_init_fn=lambda _: torch.set_num_threads(1))
    log(f"model {cfg.model} {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params; "
        f"batch {cfg.batch_size} x {cfg.crop}px; from step {step} to {cfg.max_steps}")
    crit = DBLoss()
    model.train()
    t_start = t_ckpt = t_window = time.time()
    logf = open(out / "log.csv", "a", newline="")
    logw = csv.writer(logf)
    window: List[Dict[str, float]] = []

    def checkpoint(path: Path):
        save_checkpoint(path, model=model.state_dict(), optimizer=opt.state_dict(), step=step,
                        torch_rng=torch.get_rng_state(), model_config=model.cfg.to_dict(),
                        train_config=cfg.to_dict(), elapsed=elapsed_before + time.time() - t_start)

    it = iter(loader)
    stop = min(cfg.max_steps, until_step if until_step is not None else cfg.max_steps)
    with StopOnSignal() as signalled:
        while step < stop and not signalled.requested:
            if cfg.max_minutes and (time.time() - t_start) / 60 > cfg.max_minutes:
                break
            for g in opt.param_groups:
                g["lr"] = lr_at(step, cfg)
            batch = next(it)
            outputs = model(batch["image"])
            losses = crit(outputs, batch)
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            step += 1
            window.append({k: float(v.detach()) for k, v in losses.items()})
            if step % cfg.log_every == 0:
                dt = time.time() - t_window
                mean = {k: round(float(np.mean([w[k] for w in window])), 4) for k in window[0]}
                row = [step, round(elapsed_before + time.time() - t_start, 1), mean["loss"], mean["prob"],
                       mean["thresh"], mean["binary"], f"{lr_at(step, cfg):.2e}", round(dt / len(window), 2)]
                logw.writerow(row)
                logf.flush()
                log(f"step {step} t={row[1]}s loss={mean['loss']} P={mean['prob']} T={mean['thresh']} "
                    f"B={mean['binary']} lr={row[6]} s/step={row[7]}")
                board.scalars(step, "train", {**mean, "lr": lr_at(step, cfg), "s_per_step": row[7]})
                window, t_window = [], time.time()
            if time.time() - t_ckpt > cfg.checkpoint_minutes * 60:
                checkpoint(last)
                t_ckpt = time.time()
    checkpoint(last)
    if signalled.requested:
        log(f"stopped by signal at step {step}; saved {last}")
    logf.close()
    board.close()
    return last


# ------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("det", help="train a DB text detector")
    add_run_arguments(p, "YAML file of DetTrainConfig fields")
    p.add_argument("--until-step", type=int, help="stop at this step; the LR schedule still spans max_steps")
    p.set_defaults(func=_run)


def _run(args) -> int:
    cfg = load_run_config(DetTrainConfig, args, "train det")
    try:
        train(cfg, resume=args.resume, log=lambda m: print(m, flush=True), until_step=args.until_step)
    except (FileNotFoundError, ValueError) as e:
        print(f"ocrforge train det: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    # `python -m ocrforge.training.det ...` is `ocrforge train ...`: one parser, one error handling.
    from ocrforge.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
