"""ocrforge.runtime: shared ONNX Runtime sessions and a dynamic batcher (no torch, no serving deps)."""

from .batcher import (
    BatchStats,
    BatcherClosedError,
    BatcherConfig,
    BatcherFullError,
    DynamicBatcher,
    width_bucket,
)
from .session import (
    choose_providers,
    clear_session_cache,
    create_session,
    fp16_variant,
    resolve_model_path,
    session_cache_info,
)

__all__ = [
    "BatchStats",
    "BatcherClosedError",
    "BatcherConfig",
    "BatcherFullError",
    "DynamicBatcher",
    "width_bucket",
    "choose_providers",
    "clear_session_cache",
    "create_session",
    "fp16_variant",
    "resolve_model_path",
    "session_cache_info",
]
