"""A recognizer whose calls from many threads are merged into width-bucketed batches.

Wraps anything with ``.recognize(crops, decoder=None) -> list`` (the lead's ``TextRecognizer``, or
a fake) so that a pipeline reading ten pages for ten clients at once sends the model a few full
batches of similar-width lines instead of many small, heavily padded ones.
"""

from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Tuple

from .batcher import BatcherConfig, BatchStats, DynamicBatcher, width_bucket


class BatchedRecognizer:
    """Same interface as the wrapped recognizer; ``close()`` stops its batcher (pending lines finish)."""

    def __init__(
        self,
        recognizer: Any,
        config: BatcherConfig = BatcherConfig(),
        height: int = 48,
        bucket_step: int = 64,
        on_batch: Optional[Callable[[BatchStats], None]] = None,
    ) -> None:
        self.inner = recognizer
        self._height = height
        self._step = bucket_step
        self._batcher: DynamicBatcher[Tuple[Any, Any, Any], Any] = DynamicBatcher(
            self._run, config, bucket_key=self._key, on_batch=on_batch, name="recognizer-batcher"
        )

    def __getattr__(self, name: str) -> Any:
        # charset, input height and the like come from the real recognizer.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def recognize(self, crops: Sequence[Any], decoder: Any = None, views: Optional[int] = None) -> List[Any]:
        """``views`` (a ``TextRecognizer`` setting: view fusion per call) is passed on when given."""
        return self._batcher.map([(crop, decoder, views) for crop in crops])

    def _key(self, item: Tuple[Any, Any, Any]) -> Tuple[int, Any, int]:
        crop, decoder, views = item
        # Lines decoded differently cannot share a call: the decoder and views are part of the bucket.
        return id(decoder), views, width_bucket(crop, self._height, self._step)

    def _run(self, items: List[Tuple[Any, Any, Any]]) -> List[Any]:
        _, decoder, views = items[0]
        extra = {} if views is None else {"views": views}
        return list(self.inner.recognize([crop for crop, _, _ in items], decoder=decoder, **extra))

    @property
    def batcher(self) -> DynamicBatcher:
        return self._batcher

    def close(self) -> None:
        self._batcher.close()
