"""Typed, YAML-loadable configuration of a recognition training run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .config_base import YamlConfig


@dataclass
class RecTrainConfig(YamlConfig):
    model: str = "crnn_mobilenetv3_small"
    model_overrides: Dict[str, object] = field(default_factory=dict)
    init_from: Optional[str] = None  # checkpoint whose same-name, same-shape tensors start a fresh run
    charset: str = "v1"  # v1: zh + en (7,039 classes); latin_v1: printable ASCII (96)
    synth: List[str] = field(default_factory=lambda: ["~/.cache/ocrforge/data/rec_synth_v1"])
    real: List[str] = field(default_factory=list)  # line LMDBs made by `ocrforge data prepare`
    real_ratio: float = 0.25  # fraction of batches drawn from real data
    real_augment: float = 0.0  # chance that a real line is augmented (data/real_augment.py) each time it is drawn
    # case-folded real lines (SROIE) leave the upper/lower split of each letter untouched (rec.freeze_case_split)
    case_neutral_fold: bool = False
    synth_kinds: Optional[List[str]] = None  # keep only these synthetic kinds (a curriculum); None: all
    # > 0: render synthetic lines during training in this many worker processes instead of reading
    # the `synth` LMDBs (a many-core GPU machine); synth_texts is a text bank (`ocrforge synth texts`)
    # for machines without the corpus packages, and fonts may come from $OCRFORGE_FONT_PACK.
    synth_online_workers: int = 0
    synth_texts: Optional[str] = None
    synth_hard_ratio: float = 0.12
    synth_small_print_ratio: float = 0.0  # data/synth_lines.LineSynthConfig.small_print_ratio
    synth_echo: float = 1.0  # > 1: reuse each online batch ~this many times (rendering-bound machines)
    val_synth: Optional[str] = "~/.cache/ocrforge/data/rec_val_heldout"  # held-out fonts
    val_real: List[str] = field(default_factory=list)
    val_real_casefold: bool = True  # SROIE's transcripts are all capitals; a user's own lines keep their case
    val_lines: int = 1000  # per validation set, to keep validation under a minute on 2 cores
    tokens_per_batch: int = 10000  # batch_size x sequence_length (frames = width / 4)
    max_batch: int = 192
    bucket_width: int = 64
    max_width: int = 1024
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 300
    restart_steps: int = 3000  # first cosine cycle; each next cycle is restart_mult times longer
    restart_mult: int = 2
    min_lr: float = 1e-5
    max_steps: int = 200000
    max_minutes: Optional[float] = None  # stop this invocation after so many minutes (a resumed run gets its own)
    center_loss_weight: float = 0.0
    # Keep batch-norm running statistics as init_from left them: a CPU fine-tune's small batches of
    # one width bucket are noisy estimates, and one odd batch can shift every later evaluation.
    freeze_bn_stats: bool = False
    # Knowledge distillation (Hinton et al., 2015): a frozen teacher's per-frame posteriors, softened by
    # distill_temperature, pull the student's; distill_from is a checkpoint or weights archive with the
    # same charset and width stride. On synthetic batches only unless distill_real: a fine-tune keeps
    # what the teacher read well on general text while the real lines correct the teacher's mistakes.
    distill_from: Optional[str] = None
    distill_weight: float = 0.0
    distill_temperature: float = 2.0
    distill_real: bool = False
    threads: int = 2
    checkpoint_minutes: float = 5.0
    val_every: int = 500
    log_every: int = 20
    tensorboard: bool = False  # also write TensorBoard event files to OUT/tb/ (needs the tensorboard package)
    seed: int = 0
    out: str = "~/.cache/ocrforge/runs/rec"
    device: str = "auto"  # auto | cpu | cuda
