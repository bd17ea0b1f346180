"""ONNX Runtime sessions: one per (model, threads, providers) per process, providers picked for the host.

A session holds the model weights and its own thread pools; creating one per request or per
pipeline object is the usual cause of memory that grows for ever in a long-running service
(PaddleOCR#11639). ``create_session`` therefore memoises sessions for the life of the process.
The memo is the only process-wide state here, and it is a cache of read-only objects (ORT
sessions are safe to ``run`` from many threads), not configuration: one session per model per
process is the point of this module.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable, Dict, Sequence, Tuple, Union

from ..errors import ConfigError, ModelError

# Providers we know how to use, fastest first. Only these are picked by "auto": other providers an
# ORT build may list (Azure, OpenVINO...) need settings we cannot guess.
GPU_PROVIDERS: Tuple[str, ...] = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
CPU_PROVIDER = "CPUExecutionProvider"

ProvidersArg = Union[str, Sequence[str]]


def available_providers() -> Tuple[str, ...]:
    import onnxruntime as ort

    return tuple(ort.get_available_providers())


def choose_providers(requested: ProvidersArg = "auto", available: Sequence[str] | None = None) -> Tuple[str, ...]:
    """Resolve a provider request to an ordered tuple that always ends with the CPU provider.

    ``"auto"``: TensorRT and CUDA when this ORT build has them, then CPU. ``"cpu"``: CPU only.
    A comma-separated string or a sequence names providers explicitly (short names such as
    ``"cuda"`` are accepted); asking for one the build lacks is a ``ConfigError`` rather than a
    silent fall-back, because a user who asked for CUDA wants to know they are not getting it.
    """
    have = tuple(available) if available is not None else available_providers()
    if isinstance(requested, str):
        key = requested.strip().lower()
        if key == "auto":
            chosen = [p for p in GPU_PROVIDERS if p in have]
            return tuple(chosen) + (CPU_PROVIDER,)
        if key == "cpu":
            return (CPU_PROVIDER,)
        names = [n.strip() for n in requested.split(",") if n.strip()]
    else:
        names = list(requested)
    chosen = []
    for name in names:
        full = _full_provider_name(name)
        if full not in have:
            raise ConfigError(f"ONNX Runtime provider {name!r} is not available here (have: {', '.join(have)})")
        if full not in chosen:
            chosen.append(full)
    if CPU_PROVIDER not in chosen:
        chosen.append(CPU_PROVIDER)
    return tuple(chosen)


def _full_provider_name(name: str) -> str:
    short = {"cpu": CPU_PROVIDER, "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider",
             "trt": "TensorrtExecutionProvider"}
    return short.get(name.strip().lower(), name.strip())


def uses_gpu(providers: Sequence[str]) -> bool:
    return any(p in GPU_PROVIDERS for p in providers)


def fp16_variant(model_path: Union[str, Path]) -> Path:
    """Where the FP16 twin of a model lives by convention: ``rec_x.onnx`` -> ``rec_x.fp16.onnx``."""
    path = Path(model_path)
    return path.with_name(path.stem + ".fp16" + path.suffix)


def resolve_model_path(model_path: Union[str, Path], providers: Sequence[str]) -> Path:
    """The file to load: the FP16 variant when a GPU provider leads and the variant exists.

    FP16 halves memory traffic on GPUs but is slower than FP32 on most CPUs (no native half
    arithmetic), so the CPU provider always gets the FP32 file.
    """
    path = Path(model_path)
    if uses_gpu(providers):
        half = fp16_variant(path)
        if half.is_file():
            return half
    return path


def create_session(model_path: Union[str, Path], threads: int = 2, providers: ProvidersArg = "auto"):
    """An ``onnxruntime.InferenceSession`` for ``model_path``, shared by every caller in this process.

    ``threads`` is the intra-op thread count (0 lets ORT use every core). Two calls with the same
    model file, thread count and provider list get the same session object.
    """
    if not isinstance(threads, int) or threads < 0:
        raise ConfigError(f"threads must be an integer >= 0, got {threads!r}")
    chosen = choose_providers(providers)
    path = resolve_model_path(model_path, chosen)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    # The real path is the key so that "models/x.onnx" and "./models/../models/x.onnx" share a session;
    # the mtime makes a model replaced on disk (a new export) load afresh instead of serving stale weights.
    real = os.path.realpath(path)
    return _cached_session(real, os.stat(real).st_mtime_ns, threads, chosen)


class _SessionMemo:
    """Sessions by (real path, mtime, threads, providers), created at most once even under races.

    ``functools.lru_cache`` is not enough: two threads missing at once would both load the model
    and callers would hold different sessions. Loading happens under a lock; it is rare.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: Dict[Tuple, object] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Tuple, factory: Callable[[], object]) -> object:
        with self._lock:
            session = self._sessions.get(key)
            if session is not None:
                self.hits += 1
                return session
            self.misses += 1
            session = factory()
            self._sessions[key] = session
            return session

    def info(self) -> Dict[str, int]:
        with self._lock:
            return {"hits": self.hits, "misses": self.misses, "size": len(self._sessions)}

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()
            self.hits = self.misses = 0


_MEMO = _SessionMemo()


def _cached_session(real_path: str, mtime_ns: int, threads: int, providers: Tuple[str, ...]):
    return _MEMO.get((real_path, mtime_ns, threads, providers), lambda: _load_session(real_path, threads, providers))


def _load_session(real_path: str, threads: int, providers: Tuple[str, ...]):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # Inter-op parallelism only helps graphs with parallel branches; ours are chains, and a second
    # pool would fight the first for the same cores.
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # A page runs three sessions one after another (detector, line orientation, recognizer), each
    # with its own pool; by default a pool keeps spinning after its run ends and takes the cores
    # from the next session and from OpenCV. Spinning stays on inside a run, where it pays.
    # Receipt p50 247 -> 184 ms at 2 threads (BENCHMARKS.md, "Where the time goes").
    options.add_session_config_entry("session.force_spinning_stop", "1")
    try:
        return ort.InferenceSession(real_path, sess_options=options, providers=list(providers))
    except Exception as exc:  # ORT raises its own exception types (Fail, InvalidGraph, ...)
        raise ModelError(f"cannot load ONNX model {real_path}: {exc}") from exc


def session_cache_info() -> Dict[str, int]:
    """Hits, misses and number of cached sessions (for tests and the /metrics page)."""
    return _MEMO.info()


def clear_session_cache() -> None:
    """Drop every cached session (tests; a process that swaps models deliberately)."""
    _MEMO.clear()
