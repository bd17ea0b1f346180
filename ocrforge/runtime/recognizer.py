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
        self._batcher: DynamicBatcher[Tuple[Any, Any], Any] = DynamicBatcher(
            self._run, config, bucket_key=self._key, on_batch=on_batch, name="recognizer-batcher"
        )

    def __getattr__(self, name: str) -> Any:
        # charset, input height and the like come from the real recognizer.
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def recognize(self, crops: Sequence[Any], decoder: Any = None) -> List[Any]:
        return self._batcher.map([(crop, decoder) for crop in crops])

    def _key(self, item: Tuple[Any, Any]) -> Tuple[int, int]:
        crop, decoder = item
        # Lines decoded differently cannot share a call: the decoder is part of the bucket.
        return id(decoder), width_bucket(crop, self._height, self._step)

    def _run(self, items: List[Tuple[Any, Any]]) -> List[Any]:
        return list(self.inner.recognize([crop for crop, _ in items], decoder=items[0][1]))

    @property
    def batcher(self) -> DynamicBatcher:
        return self._batcher

    def close(self) -> None:
        self._batcher.close()
