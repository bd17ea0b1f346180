"""MobileNetV3 (Howard et al., 2019) with OCR stride layouts.

``mode="rec"``: input (N, C, 32, W) -> (N, out_channels, 1, W/s), s = width_stride (4 or 8): the
stem and the first one or two strided blocks halve both sides, the later ones height only, so the
sequence stays long enough for CTC while most layers run at a fraction of the width.
``mode="det"``: input (N, C, H, W) -> list of 4 maps at strides 4, 8, 16, 32 (for an FPN).
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import torch
from torch import nn
import torch.nn.functional as F


def make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class HardSigmoid(nn.Module):
    def forward(self, x):
        return F.relu6(x + 3.0) / 6.0


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = make_divisible(channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.gate = HardSigmoid()

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * self.gate(self.fc2(F.relu(self.fc1(s))))


def conv_bn_act(cin, cout, k, stride, groups=1, act: str | None = "hswish") -> nn.Sequential:
    pad = k // 2
    layers: List[nn.Module] = [nn.Conv2d(cin, cout, k, stride, pad, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act == "relu":
        layers.append(nn.ReLU(inplace=True))
    elif act == "hswish":
        layers.append(nn.Hardswish(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, exp, cout, k, se: bool, act: str, stride):
        super().__init__()
        self.use_residual = stride in (1, (1, 1)) and cin == cout
        layers: List[nn.Module] = []
        if exp != cin:
            layers.append(conv_bn_act(cin, exp, 1, 1, act=act))
        layers.append(conv_bn_act(exp, exp, k, stride, groups=exp, act=act))
        if se:
            layers.append(SqueezeExcite(exp))
        layers.append(conv_bn_act(exp, cout, 1, 1, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_residual else y


# (kernel, expansion, out, SE, activation, stride) — Table 1/2 of the paper.
SMALL: Sequence[Tuple] = (
    (3, 16, 16, True, "relu", 2),
    (3, 72, 24, False, "relu", 2),
    (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hswish", 2),
    (5, 240, 40, True, "hswish", 1),
    (5, 240, 40, True, "hswish", 1),
    (5, 120, 48, True, "hswish", 1),
    (5, 144, 48, True, "hswish", 1),
    (5, 288, 96, True, "hswish", 2),
    (5, 576, 96, True, "hswish", 1),
    (5, 576, 96, True, "hswish", 1),
)
LARGE: Sequence[Tuple] = (
    (3, 16, 16, False, "relu", 1),
    (3, 64, 24, False, "relu", 2),
    (3, 72, 24, False, "relu", 1),
    (5, 72, 40, True, "relu", 2),
    (5, 120, 40, True, "relu", 1),
    (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hswish", 2),
    (3, 200, 80, False, "hswish", 1),
    (3, 184, 80, False, "hswish", 1),
    (3, 184, 80, False, "hswish", 1),
    (3, 480, 112, True, "hswish", 1),
    (3, 672, 112, True, "hswish", 1),
    (5, 672, 160, True, "hswish", 2),
    (5, 960, 160, True, "hswish", 1),
    (5, 960, 160, True, "hswish", 1),
)


class MobileNetV3(nn.Module):
    def __init__(self, variant: str = "small", scale: float = 1.0, in_channels: int = 1, mode: str = "rec",
                 width_stride: int = 4):
        super().__init__()
        if variant not in ("small", "large"):
            raise ValueError(f"MobileNetV3 variant must be 'small' or 'large', got {variant!r}")
        if mode not in ("rec", "det"):
            raise ValueError(f"mode must be 'rec' or 'det', got {mode!r}")
        if width_stride not in (4, 8):
            raise ValueError(f"width_stride must be 4 or 8, got {width_stride}")
        self.mode = mode
        cfg = SMALL if variant == "small" else LARGE
        stem = make_divisible(16 * scale)
        self.stem = conv_bn_act(in_channels, stem, 3, 2, act="hswish")
        blocks: List[nn.Module] = []
        self.stage_ends: List[int] = []  # block indices after which the stride doubles next (det taps)
        cin = stem
        strided = 0
        for i, (k, exp, out, se, act, s) in enumerate(cfg):
            stride = s
            if s == 2:
                # rec: the stem halves width; the first (width_stride/4) strided blocks halve it again.
                if mode == "rec" and strided >= max(1, width_stride // 4):
                    stride = (2, 1)
                if mode == "det" and i > 0:
                    self.stage_ends.append(len(blocks) - 1)
                strided += 1
            exp_c, out_c = make_divisible(exp * scale), make_divisible(out * scale)
            blocks.append(InvertedResidual(cin, exp_c, out_c, k, se, act, stride))
            cin = out_c
        self.blocks = nn.ModuleList(blocks)
        last = make_divisible(cfg[-1][1] * scale)
        self.last_conv = conv_bn_act(cin, last, 1, 1, act="hswish")
        if mode == "rec":
            self.out_channels: int | List[int] = last
        else:
            self.taps = self.stage_ends[-3:]  # strides 4, 8, 16; the last conv gives 32
            chans = [self.blocks[i].block[-1][0].out_channels for i in self.taps]
            self.out_channels = chans + [last]

    def forward(self, x):
        x = self.stem(x)
        if self.mode == "rec":
            for b in self.blocks:
                x = b(x)
            return self.last_conv(x)
        feats = []
        for i, b in enumerate(self.blocks):
            x = b(x)
            if i in self.taps:
                feats.append(x)
        feats.append(self.last_conv(x))
        return feats
