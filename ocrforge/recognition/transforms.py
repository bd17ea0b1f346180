"""Transformation stage: identity or a thin-plate-spline rectifier (Shi et al., RARE / clovaai STN)."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F


class TPS(nn.Module):
    """Predicts 2*K fiducial points on the input and warps it so they land on a regular grid.

    Initialised to the identity warp, so switching it on never makes a trained CNN worse at step 0.
    """

    def __init__(self, in_channels: int = 1, num_fiducial: int = 20, height: int = 32, out_width: int = 100):
        super().__init__()
        self.k = num_fiducial
        self.height = height
        self.loc = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, 1, 1), nn.BatchNorm2d(32), nn.ReLU(True), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, 1, 1), nn.BatchNorm2d(64), nn.ReLU(True), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, 1, 1), nn.BatchNorm2d(128), nn.ReLU(True), nn.AdaptiveAvgPool2d(1),
        )
        self.fc = nn.Linear(128, 2 * self.k)
        ctrl = self._base_points()
        nn.init.zeros_(self.fc.weight)
        with torch.no_grad():
            self.fc.bias.copy_(ctrl.reshape(-1))
        self.register_buffer("target_ctrl", ctrl, persistent=False)
        # The TPS system matrix depends only on the fixed target points: invert it once, so the
        # forward pass is matmuls only (ONNX has no linear solver).
        self.register_buffer("inv_system", torch.linalg.inv(self._system(ctrl)), persistent=False)

    def _base_points(self) -> torch.Tensor:
        half = self.k // 2
        xs = torch.linspace(-1.0, 1.0, half)
        top = torch.stack([xs, torch.full_like(xs, -1.0)], 1)
        bottom = torch.stack([xs, torch.full_like(xs, 1.0)], 1)
        return torch.cat([top, bottom], 0)

    @staticmethod
    def _kernel(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return d2 * torch.log(d2 + 1e-6) * 0.5

    def _system(self, tgt: torch.Tensor) -> torch.Tensor:
        k = self.k
        L = torch.zeros(k + 3, k + 3)
        L[:k, :k] = self._kernel(tgt, tgt)
        L[:k, k] = 1
        L[:k, k + 1 :] = tgt
        L[k, :k] = 1
        L[k + 1 :, :k] = tgt.t()
        return L

    def forward(self, x):
        n, _, h, w = x.shape
        src = self.fc(self.loc(x).flatten(1)).view(n, self.k, 2)
        tgt = self.target_ctrl
        Y = torch.cat([src, torch.zeros(n, 3, 2, device=x.device, dtype=x.dtype)], 1)
        params = self.inv_system.to(x.dtype) @ Y
        gy, gx = torch.meshgrid(torch.linspace(-1, 1, h, device=x.device), torch.linspace(-1, 1, w, device=x.device), indexing="ij")
        grid = torch.stack([gx, gy], -1).view(-1, 2).to(x.dtype)
        P = torch.cat([self._kernel(grid, tgt), torch.ones(grid.shape[0], 1, device=x.device, dtype=x.dtype), grid], 1)
        sampling = (P.unsqueeze(0) @ params).view(n, h, w, 2)
        return F.grid_sample(x, sampling, align_corners=True, padding_mode="border")
