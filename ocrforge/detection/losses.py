"""DB losses: balanced BCE with OHEM on P, masked L1 on T, dice on B (Liao et al., 2020)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

import torch
from torch import nn
import torch.nn.functional as F


def balanced_bce(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, neg_ratio: float = 3.0, eps: float = 1e-6):
    """BCE over all positives and the hardest negatives, at most neg_ratio per positive.

    Text covers a few percent of a page; without mining, the easy background dominates the loss
    and thin lines are under-weighted.
    """
    pos = gt * mask
    neg = (1.0 - gt) * mask
    n_pos = int(pos.sum().item())
    n_neg = min(int(neg.sum().item()), int(max(n_pos, 1) * neg_ratio))
    loss = F.binary_cross_entropy(pred.clamp(eps, 1 - eps), gt, reduction="none")
    pos_loss = (loss * pos).sum()
    neg_loss = (loss * neg).flatten()
    if n_neg > 0:
        neg_loss, _ = torch.topk(neg_loss, n_neg)
    return (pos_loss + neg_loss.sum()) / (n_pos + n_neg + eps)


def masked_l1(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6):
    return ((pred - gt).abs() * mask).sum() / (mask.sum() + eps)


def dice_loss(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, eps: float = 1e-6):
    inter = (pred * gt * mask).sum()
    union = (pred * mask).sum() + (gt * mask).sum() + eps
    return 1.0 - 2.0 * inter / union


@dataclass(frozen=True)
class DBLossWeights:
    prob: float = 5.0  # as PaddleOCR's DBLoss; the paper's alpha=1 trains slower on small data
    thresh: float = 10.0
    binary: float = 1.0
    neg_ratio: float = 3.0


class DBLoss(nn.Module):
    def __init__(self, weights: DBLossWeights = DBLossWeights()):
        super().__init__()
        self.w = weights

    def forward(self, out: Dict[str, torch.Tensor], batch: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        prob, thresh, binary = out["prob"][:, 0], out["thresh"][:, 0], out["binary"][:, 0]  # maps are (N, H, W)
        ls = balanced_bce(prob, batch["shrink_map"], batch["shrink_mask"], self.w.neg_ratio)
        lt = masked_l1(thresh, batch["thresh_map"], batch["thresh_mask"])
        lb = dice_loss(binary, batch["shrink_map"], batch["shrink_mask"])
        total = self.w.prob * ls + self.w.thresh * lt + self.w.binary * lb
        return {"loss": total, "prob": ls.detach(), "thresh": lt.detach(), "binary": lb.detach()}
