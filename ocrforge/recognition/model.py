"""CRNN family: Transformation → Feature extraction → Sequence modelling → Prediction (CTC).

Every stage is a swappable module chosen by a typed config; the registry maps factory names to
configs, so `build_model("crnn_mobilenetv3_small")` and a YAML config give the same model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Callable, Dict

import torch
from torch import nn
import torch.nn.functional as F

from ..backbones import CBAM, MobileNetV3, ResNet
from .heads import CTCHead
from .necks import BiLSTM, NoSequence
from .transforms import TPS


@dataclass(frozen=True)
class RecModelConfig:
    backbone: str = "mobilenetv3_small"  # mobilenetv3_small | mobilenetv3_large | resnet18 | resnet34 | resnet50
    backbone_scale: float = 1.0  # width multiplier (MobileNetV3) or base width / 64 (ResNet)
    transform: str = "none"  # none | tps
    cbam: bool = False
    sequence: str = "bilstm"  # bilstm | none
    neck_channels: int = 128  # 1x1 projection before the sequence model
    hidden: int = 96
    num_classes: int = 7039
    input_height: int = 32  # 32 for print, 64 for handwriting
    width_stride: int = 4  # input columns per output frame (4 or 8); 8 halves the CTC head's cost
    in_channels: int = 1
    dropout: float = 0.1

    @classmethod
    def from_dict(cls, d: dict) -> "RecModelConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown recognition model options: {sorted(unknown)}")
        return cls(**d)


def _backbone(cfg: RecModelConfig) -> nn.Module:
    if cfg.backbone.startswith("mobilenetv3_"):
        return MobileNetV3(cfg.backbone.split("_", 1)[1], cfg.backbone_scale, cfg.in_channels, mode="rec",
                           width_stride=cfg.width_stride)
    if cfg.backbone.startswith("resnet"):
        return ResNet(int(cfg.backbone[6:]), cfg.in_channels, mode="rec", width=int(64 * cfg.backbone_scale),
                      width_stride=cfg.width_stride)
    raise ValueError(f"unknown backbone {cfg.backbone!r}")


class CRNN(nn.Module):
    def __init__(self, cfg: RecModelConfig):
        super().__init__()
        self.cfg = cfg
        self.transform = TPS(cfg.in_channels, height=cfg.input_height) if cfg.transform == "tps" else nn.Identity()
        self.backbone = _backbone(cfg)
        c = self.backbone.out_channels
        self.attention = CBAM(c) if cfg.cbam else nn.Identity()
        self.project = nn.Sequential(nn.Linear(c, cfg.neck_channels), nn.Hardswish())
        if cfg.sequence == "bilstm":
            self.sequence = BiLSTM(cfg.neck_channels, cfg.hidden)
        elif cfg.sequence == "none":
            self.sequence = NoSequence(cfg.neck_channels)
        else:
            raise ValueError(f"unknown sequence model {cfg.sequence!r}")
        self.head = CTCHead(self.sequence.out_features, cfg.num_classes, cfg.dropout)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) image -> (N, T, F) sequence features, T = W / width_stride."""
        x = self.transform(x)
        x = self.attention(self.backbone(x))
        x = x.mean(2)  # H is 1 at 32 px input; at 64 px (handwriting) this averages the 2 rows
        x = self.project(x.transpose(1, 2))
        return self.sequence(x)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        feats = self.features(x)
        logits = self.head(feats)
        return (logits, feats) if return_features else logits


class SoftmaxExport(nn.Module):
    """What ships in ONNX: probabilities, so runtimes in any language need no log-softmax."""

    def __init__(self, model: CRNN):
        super().__init__()
        self.model = model

    def forward(self, images):
        return F.softmax(self.model(images), dim=-1)


REGISTRY: Dict[str, RecModelConfig] = {
    # The shipped CPU model. W/4 frames: at W/8, 10 % of our synthetic 32-px lines have fewer
    # frames than CTC needs (and 24 % barely enough); a 64-unit BiLSTM keeps the 7k-class head cheap.
    "crnn_mobilenetv3_small": RecModelConfig(backbone="mobilenetv3_small", backbone_scale=1.0, hidden=64, width_stride=4),
    "crnn_mobilenetv3_small_w8": RecModelConfig(backbone="mobilenetv3_small", backbone_scale=1.0, hidden=64, width_stride=8),
    "crnn_mobilenetv3_large": RecModelConfig(backbone="mobilenetv3_large", backbone_scale=0.5, hidden=96),
    "crnn_mobilenetv3_small_tps": RecModelConfig(backbone="mobilenetv3_small", transform="tps", hidden=96),
    "crnn_mobilenetv3_small_cbam": RecModelConfig(backbone="mobilenetv3_small", cbam=True, hidden=96),
    "crnn_resnet18": RecModelConfig(backbone="resnet18", backbone_scale=0.5, neck_channels=192, hidden=128),
    "crnn_resnet34": RecModelConfig(backbone="resnet34", backbone_scale=1.0, neck_channels=256, hidden=256),
    "crnn_resnet50": RecModelConfig(backbone="resnet50", backbone_scale=0.5, neck_channels=256, hidden=256),
    "crnn_mobilenetv3_small_hand64": RecModelConfig(backbone="mobilenetv3_small", input_height=64, hidden=96),
}


def build_model(name_or_cfg, **overrides) -> CRNN:
    if isinstance(name_or_cfg, RecModelConfig):
        cfg = name_or_cfg
    else:
        if name_or_cfg not in REGISTRY:
            raise ValueError(f"unknown recognition model {name_or_cfg!r}; known: {sorted(REGISTRY)}")
        cfg = REGISTRY[name_or_cfg]
    if overrides:
        cfg = replace(cfg, **overrides)
    return CRNN(cfg)
