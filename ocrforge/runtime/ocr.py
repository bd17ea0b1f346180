"""How long-running processes (the servers, batch workers) get their OCR object.

``OcrOptions`` is what a deployment sets (models, threads, limits, batching). ``build_ocr`` turns
it into a ready ``ocrforge.pipeline.OCR`` with its models loaded up front (a server reports ready
only once they are) and, when asked, a ``BatchedRecognizer`` inside. ``--ocr-factory
module:function`` swaps in another builder with the same signature (fakes for tests and
benchmarks, a customised pipeline for a deployment); it is resolved with importlib, never eval.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..errors import ConfigError
from .batcher import BatcherConfig, BatchStats
from .recognizer import BatchedRecognizer

OcrFactory = Callable[["OcrOptions"], Any]


@dataclass(frozen=True)
class OcrOptions:
    det_model: Optional[str] = None  # None = the shipped model
    rec_model: Optional[str] = None
    threads: int = 2
    preprocess: str = "auto"
    max_pixels: Optional[int] = 40_000_000
    dpi: float = 200.0
    views: int = 0  # view fusion on unsure lines (PipelineConfig.views)
    batching: Optional[BatcherConfig] = None  # None = no cross-request batching
    # Called after each recognizer batch (metrics); not a setting, so not in YAML.
    on_batch: Optional[Callable[[BatchStats], None]] = None

    def pipeline_kwargs(self) -> dict:
        return {"det_model": self.det_model, "rec_model": self.rec_model, "threads": self.threads,
                "preprocess": self.preprocess, "max_pixels": self.max_pixels, "dpi": self.dpi,
                "views": self.views}


def build_ocr(options: OcrOptions, detector: Any = None, recognizer: Any = None, **pipeline_options: Any):
    """A pipeline ``OCR`` with detector and recognizer loaded now, optionally batching recognition.

    ``detector`` / ``recognizer`` replace the shipped models (fakes, custom models); extra keyword
    arguments go to ``OCR`` (e.g. ``batch_size``).
    """
    from ..pipeline import OCR

    kwargs = dict(options.pipeline_kwargs(), **pipeline_options)
    loader = OCR(detector=detector, recognizer=recognizer, **kwargs)
    # Touching the properties loads the models: a missing model fails here, at start-up.
    detector, recognizer = loader.detector, loader.recognizer
    if options.batching is not None:
        recognizer = BatchedRecognizer(recognizer, options.batching, on_batch=options.on_batch)
    return OCR(detector=detector, recognizer=recognizer, **kwargs)


def close_ocr(ocr: Any) -> None:
    """Stop what ``build_ocr`` started (the batcher thread); harmless for other OCR objects."""
    recognizer = getattr(ocr, "_recognizer", None)
    if isinstance(recognizer, BatchedRecognizer):
        recognizer.close()
    close = getattr(ocr, "close", None)
    if callable(close):
        close()


def ocr_metadata(ocr: Any) -> dict:
    """``ocr.metadata()`` when the OCR object has it (the pipeline does; fakes may not)."""
    meta = getattr(ocr, "metadata", None)
    return dict(meta()) if callable(meta) else {}


def load_factory(spec: str) -> OcrFactory:
    """``"package.module:function"`` -> the function (imported, not evaluated)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"OCR factory must look like 'package.module:function', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import OCR factory module {module_name!r}: {exc}") from exc
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigError(f"OCR factory {spec!r}: {module_name} has no attribute {attr!r}") from None
    if not callable(obj):
        raise ConfigError(f"OCR factory {spec!r} is not callable")
    return obj


def make_ocr(options: OcrOptions, factory: Optional[str] = None):
    """The OCR object for a server or batch worker: ``factory(options)`` or ``build_ocr(options)``."""
    builder: OcrFactory = load_factory(factory) if factory else build_ocr
    return builder(options)

