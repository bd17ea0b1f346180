"""Prediction stage: CTC classifier over frames."""

from torch import nn


class CTCHead(nn.Module):
    def __init__(self, in_features: int, num_classes: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x):  # (N, T, F) -> (N, T, classes) logits
        return self.fc(self.dropout(x))
