"""What every trainer shares: atomic checkpoints, stopping on a signal, and the run's CLI options.

Both `ocrforge train det` and `ocrforge train rec` are resumable runs in a folder; a session
ending (SIGTERM), `kill` or Ctrl-C must cost at most the step in flight, and a bad config must
end in one line, not a traceback.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Dict, Type, TypeVar

import torch

C = TypeVar("C")


def save_checkpoint(path: Path, **state) -> None:
    tmp = Path(path).with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a kill mid-write never leaves a broken checkpoint


class StopOnSignal:
    """While active, SIGTERM/SIGINT only set `requested`; the loop ends at a step boundary and
    saves, instead of dying with the last few minutes of work unsaved."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.requested = False
        self._previous: Dict[int, object] = {}

    def _handler(self, signum, frame) -> None:
        self.requested = True

    def __enter__(self) -> "StopOnSignal":
        self._previous = {sig: signal.signal(sig, self._handler) for sig in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class ScalarLog:
    """TensorBoard event files under RUN/tb/ beside the CSV logs, when a config asks for them
    (``tensorboard: true``); the CSV files stay the record a resumed run appends to. TensorBoard
    shows a resumed run as one curve too: every scalar is written at its global step."""

    def __init__(self, out: Path, enabled: bool) -> None:
        self.writer = None
        if enabled:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                from ..errors import ConfigError

                raise ConfigError("tensorboard: true needs the tensorboard package (pip install 'ocrforge[train]')") from None
            self.writer = SummaryWriter(str(Path(out) / "tb"))

    def scalars(self, step: int, group: str, values: Dict[str, float]) -> None:
        if self.writer is None:
            return
        for name, value in values.items():
            self.writer.add_scalar(f"{group}/{name}", float(value), step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def add_run_arguments(p, config_help: str) -> None:
    p.add_argument("--config", help=config_help)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt with the same schedule")
    p.add_argument("--out", help="run folder (checkpoints, logs)")
    p.add_argument("--threads", type=int)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--max-minutes", type=float, help="stop this invocation after so many minutes (checkpoint saved)")


def load_run_config(cls: Type[C], args, command: str) -> C:
    """The config from --config with the command-line overrides applied; exits 2 with one line if unusable."""
    from dataclasses import replace

    try:
        cfg = cls.from_yaml(args.config) if args.config else cls()
    except (OSError, ValueError, TypeError) as e:  # missing file, bad YAML, unknown option
        print(f"ocrforge {command}: cannot use config {args.config}: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    over = {k: v for k, v in {"out": args.out, "threads": args.threads, "max_steps": args.max_steps,
                              "max_minutes": args.max_minutes}.items() if v is not None}
    return replace(cfg, **over)


def init_weights_from(model: torch.nn.Module, checkpoint: str) -> str:
    """Copy every tensor whose name and shape match (e.g. a Latin model's CNN and BiLSTM into a
    zh+en model whose CTC head differs); returns a one-line report."""
    path = Path(checkpoint).expanduser()
    if path.suffix == ".npz":  # a weights archive (training.base_weights), e.g. the shipped recognizer's
        from .base_weights import load_base_weights

        state = {k: torch.from_numpy(v) for k, v in load_base_weights(path)[2].items()}
    else:
        state = torch.load(path, map_location="cpu", weights_only=False)["model"]
    own = model.state_dict()
    taken = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    own.update(taken)
    model.load_state_dict(own)
    skipped = sorted(k for k in own if k not in taken)
    return f"initialized {len(taken)}/{len(own)} tensors from {checkpoint}; fresh: {', '.join(skipped[:6])}"
