"""Typed, YAML-loadable configuration of a detection training run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

from .config_base import YamlConfig


@dataclass
class DetTrainConfig(YamlConfig):
    model: str = "db_mobilenetv3_large"
    model_overrides: Dict[str, object] = field(default_factory=dict)
    init_from: Optional[str] = None  # checkpoint whose same-name, same-shape tensors start a fresh run
    # PaddleOCR-format label files (`ocrforge synth pages` and the SROIE cache both write them)
    # with a sampling weight each: {path: weight}.
    data: Dict[str, float] = field(default_factory=lambda: {
        "~/.cache/ocrforge/det_data/sroie_train/label.txt": 1.0,
    })
    # Raw sources converted into the cache on first use: SROIE root with its split.
    sroie_root: Optional[str] = None
    sroie_split: str = "mod:5:1,2,3"  # ids % 5 == 4 are the evaluation split; never train on them
    cache_long_side: int = 1024
    crop: int = 512
    batch_size: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    max_steps: int = 6000  # cosine decay to min_lr over max_steps
    min_lr: float = 2e-5
    max_minutes: Optional[float] = None
    threads: int = 1
    workers: int = 1  # data-loading processes (label generation overlaps the step)
    checkpoint_minutes: float = 5.0
    log_every: int = 10
    tensorboard: bool = False  # also write TensorBoard event files to OUT/tb/ (needs the tensorboard package)
    seed: int = 0
    out: str = "~/.cache/ocrforge/runs/det_mnv3l"
