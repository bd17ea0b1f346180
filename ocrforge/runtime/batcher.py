"""Dynamic batching: many callers submit single items, one function sees them in batches.

Models run far more efficiently on a batch of text lines than on one at a time, but requests
arrive one by one from different threads. ``DynamicBatcher`` queues items, and whenever a worker
is free it hands over up to ``max_batch_size`` items that share a bucket (line crops of similar
width, so padding wastes little). An item waits at most ``max_wait_ms`` for company. While the
workers are busy, new items pile up and the next batch is larger: throughput grows with load,
and a lone request pays at most ``max_wait_ms`` extra latency.

The batched function is generic: ``fn(items: list) -> list`` with one result per item, in order.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, Generic, Hashable, Iterable, List, Optional, Tuple, TypeVar

from ..errors import ConfigError, OcrforgeError

T = TypeVar("T")
R = TypeVar("R")


class BatcherClosedError(OcrforgeError):
    """An item was submitted to a batcher that has been closed."""


@dataclass(frozen=True)
class BatcherConfig:
    max_batch_size: int = 16
    max_wait_ms: float = 5.0
    workers: int = 1  # batches run concurrently (each worker runs fn on one batch at a time)
    max_pending: int = 0  # items queued beyond which submit() raises BatcherFullError; 0 = unbounded

    def __post_init__(self) -> None:
        if self.max_batch_size < 1:
            raise ConfigError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.max_wait_ms < 0:
            raise ConfigError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if self.max_pending < 0:
            raise ConfigError(f"max_pending must be >= 0, got {self.max_pending}")


class BatcherFullError(OcrforgeError):
    """More items are queued than ``max_pending`` allows (the caller should shed load)."""


def width_bucket(crop: Any, height: int = 48, step: int = 64) -> int:
    """Bucket key for a text-line crop: its width once resized to ``height`` rows, rounded up to ``step``.

    Recognisers resize every line to a fixed height and pad a batch to its widest line, so lines
    of similar resized width batch with little padding. ``crop`` is an HxW or HxWxC array.
    """
    h, w = int(crop.shape[0]), int(crop.shape[1])
    resized = max(1, round(w * height / max(h, 1)))
    return int(math.ceil(resized / step)) * step


@dataclass
class _Pending:
    item: Any
    future: concurrent.futures.Future
    enqueued: float


@dataclass(frozen=True)
class BatchStats:
    """What one dispatched batch looked like (passed to ``on_batch``, e.g. for Prometheus)."""

    size: int
    bucket: Hashable
    oldest_wait_s: float
    run_s: float
    ok: bool


class DynamicBatcher(Generic[T, R]):
    """Collects items from any thread or event loop and runs ``fn`` on batches of them.

    ``submit(item)`` returns a ``concurrent.futures.Future``; ``asubmit`` is its asyncio twin;
    ``map(items)`` submits several and waits for all (a caller with many lines of its own gets
    them batched together with everyone else's). ``bucket_key(item)`` groups items that may share
    a batch (default: all together). If ``fn`` raises, every item of that batch gets the exception.
    Use as a context manager or call ``close()``: pending items are still processed.
    """

    def __init__(
        self,
        fn: Callable[[List[T]], List[R]],
        config: BatcherConfig = BatcherConfig(),
        bucket_key: Optional[Callable[[T], Hashable]] = None,
        on_batch: Optional[Callable[[BatchStats], None]] = None,
        name: str = "batcher",
    ) -> None:
        self._fn = fn
        self.config = config
        self._bucket_key = bucket_key
        self._on_batch = on_batch
        self._cond = threading.Condition()
        self._buckets: "collections.OrderedDict[Hashable, Deque[_Pending]]" = collections.OrderedDict()
        self._pending = 0
        self._closed = False
        self._free_workers = config.workers
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix=name)
        self._dispatcher = threading.Thread(target=self._dispatch_loop, name=f"{name}-dispatch", daemon=True)
        self._dispatcher.start()

    # -- submitting -------------------------------------------------------------------------
    def submit(self, item: T) -> "concurrent.futures.Future[R]":
        key = self._bucket_key(item) if self._bucket_key is not None else None
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with self._cond:
            if self._closed:
                raise BatcherClosedError("batcher is closed")
            if self.config.max_pending and self._pending >= self.config.max_pending:
                raise BatcherFullError(f"{self._pending} items already queued (max_pending={self.config.max_pending})")
            self._buckets.setdefault(key, collections.deque()).append(_Pending(item, fut, time.monotonic()))
            self._pending += 1
            self._cond.notify_all()
        return fut

    def map(self, items: Iterable[T], timeout: Optional[float] = None) -> List[R]:
        futures = [self.submit(it) for it in items]
        return [f.result(timeout=timeout) for f in futures]

    async def asubmit(self, item: T) -> R:
        return await asyncio.wrap_future(self.submit(item))

    async def amap(self, items: Iterable[T]) -> List[R]:
        return list(await asyncio.gather(*(asyncio.wrap_future(self.submit(it)) for it in items)))

    @property
    def pending(self) -> int:
        with self._cond:
            return self._pending

    # -- lifecycle --------------------------------------------------------------------------
    def close(self, wait: bool = True) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if wait:
            self._dispatcher.join()
            self._pool.shutdown(wait=True)

    def __enter__(self) -> "DynamicBatcher[T, R]":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- dispatching ------------------------------------------------------------------------
    def _dispatch_loop(self) -> None:
        while True:
            with self._cond:
                batch, key = self._next_batch_locked()
                if batch is None:
                    return  # closed and drained
                self._free_workers -= 1
            self._pool.submit(self._run_batch, batch, key)

    def _next_batch_locked(self) -> Tuple[Optional[List[_Pending]], Hashable]:
        """Block until a worker is free and a batch is due; None once closed and empty."""
        max_wait = self.config.max_wait_ms / 1000.0
        while True:
            if self._free_workers > 0 and self._pending:
                now = time.monotonic()
                due, key = self._due_bucket_locked(now, max_wait)
                if due:
                    return self._take_locked(key), key
                # Sleep until the oldest item's deadline or until something changes.
                oldest = min(q[0].enqueued for q in self._buckets.values())
                self._cond.wait(timeout=max(0.0, oldest + max_wait - now))
                continue
            if self._closed and not self._pending:
                return None, None
            self._cond.wait()

    def _due_bucket_locked(self, now: float, max_wait: float) -> Tuple[bool, Hashable]:
        """(True, key) of the bucket to run now, or (False, None). Keys may be None, hence the flag."""
        full: List[Hashable] = []
        expired: List[Tuple[float, Hashable]] = []
        for key, queue in self._buckets.items():
            if len(queue) >= self.config.max_batch_size:
                full.append(key)
            age = now - queue[0].enqueued
            if age >= max_wait or self._closed:
                expired.append((age, key))
        # An expired bucket goes first: its items have already waited their promised maximum.
        if expired:
            return True, max(expired, key=lambda e: e[0])[1]
        if full:
            return True, full[0]
        return False, None

    def _take_locked(self, key: Hashable) -> List[_Pending]:
        queue = self._buckets[key]
        batch = [queue.popleft() for _ in range(min(len(queue), self.config.max_batch_size))]
        if not queue:
            del self._buckets[key]
        self._pending -= len(batch)
        return batch

    def _run_batch(self, batch: List[_Pending], key: Hashable) -> None:
        start = time.monotonic()
        ok = True
        try:
            # A caller that gave up (cancelled its future) need not be computed.
            live = [p for p in batch if p.future.set_running_or_notify_cancel()]
            if live:
                results = self._fn([p.item for p in live])
                if len(results) != len(live):
                    raise RuntimeError(f"batched function returned {len(results)} results for {len(live)} items")
                for p, r in zip(live, results):
                    p.future.set_result(r)
        except BaseException as exc:  # delivered to every waiting caller, never lost in a worker thread
            ok = False
            for p in batch:
                if p.future.running():
                    p.future.set_exception(exc)
        finally:
            with self._cond:
                self._free_workers += 1
                self._cond.notify_all()
            if self._on_batch is not None:
                try:
                    self._on_batch(BatchStats(len(batch), key, start - min(p.enqueued for p in batch),
                                              time.monotonic() - start, ok))
                except Exception:  # a metrics hook must never take the batcher down
                    pass
