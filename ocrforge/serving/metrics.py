"""Prometheus metrics of one server, in its own registry (no process-global collectors)."""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST  # noqa: F401  (re-exported for the HTTP app)
from prometheus_client import PlatformCollector, ProcessCollector

from ..runtime import BatchStats

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # process_resident_memory_bytes etc.: the number to watch for leaks in a long-running pod.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        r = self.registry
        self.requests = Counter("ocrforge_requests", "Requests answered", ["transport", "operation", "status"], registry=r)
        self.latency = Histogram("ocrforge_request_seconds", "Time from admission to answer",
                                 ["transport", "operation"], buckets=_LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("ocrforge_requests_in_flight", "Admitted requests not yet finished", registry=r)
        self.rejected = Counter("ocrforge_rejected", "Requests refused before any work", ["transport", "reason"], registry=r)
        self.pages = Counter("ocrforge_pages", "Pages read", registry=r)
        self.lines = Counter("ocrforge_lines", "Text lines recognized", registry=r)
        self.batch_size = Histogram("ocrforge_batch_size", "Lines per recognizer batch",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r)
        self.batch_wait = Histogram("ocrforge_batch_wait_seconds", "Oldest line's wait before its batch ran",
                                    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1), registry=r)
        self.ready = Gauge("ocrforge_ready", "1 when the models are loaded", registry=r)

    def observe_batch(self, stats: BatchStats) -> None:
        self.batch_size.observe(stats.size)
        self.batch_wait.observe(stats.oldest_wait_s)

    def batch_hook(self) -> Callable[[BatchStats], None]:
        return self.observe_batch

    def render(self) -> bytes:
        return generate_latest(self.registry)
