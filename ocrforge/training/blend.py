"""Weight-space blending of a fine-tuned recognizer with the model it started from.

A fine-tune that starts from the shipped weights stays in the same basin: every point on the straight
line between the two sets of weights is a working model (Wortsman et al., "Robust fine-tuning of
zero-shot models", CVPR 2022, WiSE-FT). Part-way along that line the model keeps most of what the
fine-tune learnt on the user's lines and gives back most of what it forgot elsewhere, at no cost at
inference (one model, the same size). ``weight`` is the fine-tuned share: 1 is the fine-tuned model,
0 the base.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import torch

from ..errors import InputError
from .run import save_checkpoint


def load_recognizer(path: str | Path):
    """A CRNN from a training checkpoint (``.pt``) or a weights archive (``.npz``), in eval mode."""
    from .rec import load_model_from_checkpoint

    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"no such model file: {path}")
    if path.suffix == ".npz":
        from .base_weights import model_from_base_weights

        return model_from_base_weights(path)
    return load_model_from_checkpoint(path)


def blend_weights(base: Dict[str, torch.Tensor], tuned: Dict[str, torch.Tensor], weight: float) -> Dict[str, torch.Tensor]:
    """(1 - weight) * base + weight * tuned for every float tensor; counters (integer buffers such as
    batch-norm's ``num_batches_tracked``) are the fine-tuned model's."""
    if not 0.0 <= weight <= 1.0:
        raise InputError(f"blend weight must be in [0, 1], got {weight}")
    if base.keys() != tuned.keys():
        extra = sorted(set(base) ^ set(tuned))[:3]
        raise InputError(f"the two models have different layers ({', '.join(extra)}): not one architecture")
    blended = {}
    for name, t in tuned.items():
        b = base[name]
        if b.shape != t.shape:
            raise InputError(f"{name}: shape {tuple(b.shape)} in the base, {tuple(t.shape)} fine-tuned")
        blended[name] = torch.lerp(b.to(t.dtype), t, weight) if t.is_floating_point() else t.clone()
    return blended


def blend_checkpoint(base: str | Path, tuned: str | Path, weight: float, out: str | Path) -> Path:
    """A checkpoint like ``tuned`` (same config, step and metadata, so it exports as one) holding the
    blended weights; ``base`` is a checkpoint or a weights archive."""
    tuned_path = Path(tuned).expanduser()
    state = torch.load(tuned_path, map_location="cpu", weights_only=False)
    base_model = load_recognizer(base)
    state["model"] = blend_weights(base_model.state_dict(), state["model"], weight)
    state["blend"] = {"base": str(base), "tuned": str(tuned_path), "weight": weight}
    for key in ("optimizer", "center"):  # they belong to the fine-tune's trajectory, not to this point
        state.pop(key, None)
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, **state)
    return out
