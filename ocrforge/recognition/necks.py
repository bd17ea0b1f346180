"""Sequence-modelling stage: BiLSTM over the CNN's column features, or none (pure CNN-CTC)."""

from torch import nn


class BiLSTM(nn.Module):
    def __init__(self, in_features: int, hidden: int, layers: int = 2):
        super().__init__()
        self.rnn = nn.LSTM(in_features, hidden, num_layers=layers, bidirectional=True, batch_first=True)
        self.out_features = 2 * hidden

    def forward(self, x):  # (N, T, C)
        return self.rnn(x)[0]


class NoSequence(nn.Module):
    def __init__(self, in_features: int):
        super().__init__()
        self.out_features = in_features

    def forward(self, x):
        return x
