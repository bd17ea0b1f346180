"""ocrforge.batch: resumable batch OCR jobs (local process pool or Ray) with a durable manifest."""

from .job import BatchConfig, BatchSummary, discover_inputs, items_of, run_batch

__all__ = ["BatchConfig", "BatchSummary", "discover_inputs", "items_of", "run_batch"]
