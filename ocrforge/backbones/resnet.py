"""ResNet-18/34/50 (He et al., 2016) with OCR stride layouts (see mobilenetv3.py for the modes)."""

from __future__ import annotations

from typing import List

from torch import nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = _shortcut(cin, planes, stride)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + self.shortcut(x), inplace=True)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.shortcut = _shortcut(cin, out, stride)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = F.relu(self.bn2(self.conv2(y)), inplace=True)
        y = self.bn3(self.conv3(y))
        return F.relu(y + self.shortcut(x), inplace=True)


def _shortcut(cin, cout, stride) -> nn.Module:
    if stride in (1, (1, 1)) and cin == cout:
        return nn.Identity()
    # Average-pool then 1x1 (ResNet-D) keeps information a strided 1x1 conv would drop.
    pool = nn.AvgPool2d(stride, stride, ceil_mode=True) if stride not in (1, (1, 1)) else nn.Identity()
    return nn.Sequential(pool, nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))


DEPTHS = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)), 50: (Bottleneck, (3, 4, 6, 3))}


class ResNet(nn.Module):
    def __init__(self, depth: int = 18, in_channels: int = 1, mode: str = "rec", width: int = 64, width_stride: int = 4):
        super().__init__()
        if depth not in DEPTHS:
            raise ValueError(f"ResNet depth must be one of {sorted(DEPTHS)}, got {depth}")
        if mode not in ("rec", "det"):
            raise ValueError(f"mode must be 'rec' or 'det', got {mode!r}")
        self.mode = mode
        block, counts = DEPTHS[depth]
        if mode == "rec":  # 32xW -> 1xW/4: the pool and stage 1 halve both sides, later stages height only
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, width // 2, 3, 1, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(inplace=True),
                nn.Conv2d(width // 2, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                nn.MaxPool2d(2, 2),
            )
            strides = [(2, 2), (2, 2) if width_stride == 8 else (2, 1), (2, 1), (2, 1)]
        else:  # /4 after the stem, then 1, 2, 2, 2
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, width // 2, 3, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(inplace=True),
                nn.Conv2d(width // 2, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                nn.MaxPool2d(3, 2, 1),
            )
            strides = [1, 2, 2, 2]
        cin = width
        stages: List[nn.Module] = []
        chans = []
        for i, (n, s) in enumerate(zip(counts, strides)):
            planes = width * 2 ** i
            layers = []
            for j in range(n):
                layers.append(block(cin, planes, s if j == 0 else 1))
                cin = planes * block.expansion
            stages.append(nn.Sequential(*layers))
            chans.append(cin)
        self.stages = nn.ModuleList(stages)
        self.out_channels = cin if mode == "rec" else chans

    def forward(self, x):
        x = self.stem(x)
        if self.mode == "rec":
            for s in self.stages:
                x = s(x)
            return x
        feats = []
        for s in self.stages:
            x = s(x)
            feats.append(x)
        return feats
