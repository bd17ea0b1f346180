"""The shipped recognizer's PyTorch weights, so a fine-tune on a user's data starts from it offline.

The package ships its models as ONNX, where Conv and BatchNorm are fused and the LSTM gates are
reordered: the PyTorch modules cannot be rebuilt from them. So the weights the shipped ONNX was
exported from ship beside it as a numpy archive (``*.weights.npz``: float16 tensors, the model
config as JSON), read with numpy alone (no pickle, nothing executed on load). Float16 storage
halves the file (4 MB); the rounding it adds changes the greedy text of well under 1 % of lines,
which a fine-tune starting from it does not notice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from ..errors import InputError, ModelError

CONFIG_KEY = "__model_config__"
ARCH_KEY = "__architecture__"


def shipped_base_weights() -> Path:
    """The archive that belongs to the shipped zh+en recognizer."""
    from ..recognition.predictor import DEFAULT_MODEL

    return Path(DEFAULT_MODEL).with_name("rec_crnn_mobilenetv3_small.weights.npz")


def save_base_weights(checkpoint: str | Path, out: str | Path) -> Path:
    """A training checkpoint (``best.pt`` / ``last.pt``) -> the float16 archive."""
    import torch

    state = torch.load(Path(checkpoint).expanduser(), map_location="cpu", weights_only=False)
    arrays: Dict[str, np.ndarray] = {}
    for name, tensor in state["model"].items():
        value = tensor.detach().cpu().numpy()
        arrays[name] = value.astype(np.float16) if value.dtype == np.float32 else value
    arrays[CONFIG_KEY] = np.frombuffer(json.dumps(state["model_config"]).encode(), np.uint8)
    architecture = str(state.get("train_config", {}).get("model", ""))
    arrays[ARCH_KEY] = np.frombuffer(architecture.encode(), np.uint8)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh:  # a file object: np.savez would append ".npz" to a path without it
        np.savez_compressed(fh, **arrays)
    return out


def load_base_weights(path: str | Path) -> Tuple[str, dict, Dict[str, np.ndarray]]:
    """(architecture name, model config dict, float32 state arrays) from an archive."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"base weights not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path.name} is not a weights archive: {exc}") from None
    if CONFIG_KEY not in arrays:
        raise ModelError(f"{path.name} has no model config: not made by save_base_weights")
    config = json.loads(arrays.pop(CONFIG_KEY).tobytes().decode())
    architecture = arrays.pop(ARCH_KEY).tobytes().decode() if ARCH_KEY in arrays else ""
    state = {k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in arrays.items()}
    return architecture, config, state


def model_from_base_weights(path: str | Path):
    """The PyTorch CRNN of an archive, in eval mode."""
    import torch

    from ..recognition.model import CRNN, RecModelConfig

    _, config, state = load_base_weights(path)
    model = CRNN(RecModelConfig.from_dict(config))
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    return model.eval()
