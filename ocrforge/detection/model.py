"""DB text detector: backbone -> FPN -> DB head, with a registry of named configurations.

Training side only (imports torch). Inference uses the exported ONNX through
`ocrforge.detection.predictor`, which never imports this module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Callable, Dict

import torch
from torch import nn
import torch.nn.functional as F

from ..backbones import MobileNetV3, ResNet
from .heads import DBHead
from .necks import FPN


@dataclass(frozen=True)
class DetModelConfig:
    backbone: str = "mobilenetv3_large"  # mobilenetv3_small | mobilenetv3_large | resnet18 | resnet34 | resnet50
    backbone_scale: float = 0.5  # width multiplier (MobileNetV3) or base width / 64 (ResNet)
    neck_channels: int = 96
    k: float = 50.0  # steepness of the differentiable binarization

    @classmethod
    def from_dict(cls, d: dict) -> "DetModelConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown detection model options: {sorted(unknown)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


def _backbone(cfg: DetModelConfig) -> nn.Module:
    if cfg.backbone.startswith("mobilenetv3_"):
        return MobileNetV3(cfg.backbone.split("_", 1)[1], cfg.backbone_scale, in_channels=3, mode="det")
    if cfg.backbone.startswith("resnet"):
        return ResNet(int(cfg.backbone[6:]), in_channels=3, mode="det", width=int(64 * cfg.backbone_scale))
    raise ValueError(f"unknown backbone {cfg.backbone!r}")


class DBNet(nn.Module):
    """Train mode: dict of prob/thresh/binary maps at input size. Eval mode: prob (N, 1, H, W)."""

    def __init__(self, cfg: DetModelConfig):
        super().__init__()
        self.cfg = cfg
        self.backbone = _backbone(cfg)
        self.neck = FPN(self.backbone.out_channels, cfg.neck_channels)
        self.head = DBHead(self.neck.out_channels, cfg.k)

    def forward(self, x: torch.Tensor):
        out = self.head(self.neck(self.backbone(x)))
        size = x.shape[-2:]
        # The head upsamples stride 4 back by 4x; resize only if the input was not a multiple of 32.
        if self.training:
            if out["prob"].shape[-2:] != size:
                out = {k: F.interpolate(v, size=size, mode="bilinear", align_corners=False) for k, v in out.items()}
            return out
        if out.shape[-2:] != size:
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return out


MODEL_REGISTRY: Dict[str, Callable[[], DetModelConfig]] = {
    "db_mobilenetv3_small": lambda: DetModelConfig("mobilenetv3_small", 1.0, 64),
    "db_mobilenetv3_large": lambda: DetModelConfig("mobilenetv3_large", 0.5, 96),
    "db_resnet18": lambda: DetModelConfig("resnet18", 1.0, 128),
    "db_resnet50": lambda: DetModelConfig("resnet50", 1.0, 256),
}


def model_config(name: str, **overrides) -> DetModelConfig:
    try:
        cfg = MODEL_REGISTRY[name]()
    except KeyError:
        raise ValueError(f"unknown detection model {name!r}; known: {sorted(MODEL_REGISTRY)}") from None
    return replace(cfg, **overrides) if overrides else cfg


def build_model(cfg: DetModelConfig | str) -> DBNet:
    return DBNet(model_config(cfg) if isinstance(cfg, str) else cfg)
