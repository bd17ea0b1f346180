"""FPN neck for DB (training/export side; imports torch).

Top-down pathway over the stride 4/8/16/32 maps, then every level is smoothed, upsampled to
stride 4 and concatenated, as in the DB paper: the head sees fine detail (thin lines, small
receipt print) and the wider context of the deep levels at once.
"""

from __future__ import annotations

from typing import List, Sequence

import torch
from torch import nn
import torch.nn.functional as F


class FPN(nn.Module):
    def __init__(self, in_channels: Sequence[int], out_channels: int = 96):
        super().__init__()
        if out_channels % 4:
            raise ValueError(f"FPN out_channels must be divisible by 4, got {out_channels}")
        self.lateral = nn.ModuleList(nn.Conv2d(c, out_channels, 1, bias=False) for c in in_channels)
        self.smooth = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels // 4, 3, padding=1, bias=False) for _ in in_channels
        )
        self.out_channels = out_channels // 4 * len(in_channels)

    def forward(self, feats: List[torch.Tensor]) -> torch.Tensor:
        lat = [conv(f) for conv, f in zip(self.lateral, feats)]
        for i in range(len(lat) - 1, 0, -1):
            # Upsample to the exact size of the finer level so odd sizes (not multiples of 32) still work.
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[-2:], mode="nearest")
        size = lat[0].shape[-2:]
        outs = [
            F.interpolate(conv(x), size=size, mode="nearest") if i else conv(x)
            for i, (conv, x) in enumerate(zip(self.smooth, lat))
        ]
        return torch.cat(outs, dim=1)
