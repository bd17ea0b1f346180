"""DB head (Liao et al., 2020): probability, threshold and approximate binary maps.

Two identical branches (conv 3x3 -> 2x transposed conv -> 2x transposed conv -> sigmoid) bring
the stride-4 FPN output back to input resolution. At training time the head also returns the
threshold map T and the differentiable binarization B = sigmoid(k (P - T)); at inference only P
is needed (thresholding P with a fixed value works as well and costs half the head).
"""

from __future__ import annotations

from typing import Dict

import torch
from torch import nn


def _branch(cin: int) -> nn.Sequential:
    mid = max(cin // 4, 8)
    return nn.Sequential(
        nn.Conv2d(cin, mid, 3, padding=1, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(mid, mid, 2, stride=2),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(mid, 1, 2, stride=2),
        nn.Sigmoid(),
    )


class DBHead(nn.Module):
    def __init__(self, in_channels: int, k: float = 50.0):
        super().__init__()
        self.k = k
        self.prob = _branch(in_channels)
        self.thresh = _branch(in_channels)

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor] | torch.Tensor:
        prob = self.prob(x)
        if not self.training:
            return prob
        thresh = self.thresh(x)
        binary = torch.sigmoid(self.k * (prob - thresh))
        return {"prob": prob, "thresh": thresh, "binary": binary}
