"""Resumable batch OCR: a folder or a list of files -> one output per input per format.

The coordinating process owns the manifest (``manifest.py``) and hands inputs to workers: a
local process pool by default (one OCR per process: one model copy each, no GIL contention), or
Ray actors with ``use_ray``. Workers write each output to a temporary file and rename it into
place, then report back; only then is the input marked done. Killed at any point, the job is
restarted with the same command and finishes what is left: interrupted inputs are redone and
their outputs replaced under the same names, so none is lost or duplicated.
"""

from __future__ import annotations

import concurrent.futures
from concurrent.futures.process import BrokenProcessPool
import json
import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..errors import ConfigError, InputError, OcrforgeError
from ..runtime.ocr import OcrOptions, make_ocr, ocr_metadata
from .manifest import Item, Manifest

MANIFEST_NAME = ".ocrforge-batch.sqlite"
SUMMARY_NAME = "_batch_summary.json"
TMP_DIR = ".ocrforge-tmp"
INPUT_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".pdf"}


@dataclass(frozen=True)
class BatchConfig:
    output_dir: Path
    formats: Tuple[str, ...] = ("txt", "json")
    workers: int = 1
    ocr: OcrOptions = field(default_factory=OcrOptions)
    ocr_factory: Optional[str] = None  # "module:function"; None = the shipped pipeline
    use_ray: bool = False
    ray_address: Optional[str] = None  # None = start a local Ray; "auto" = join the running cluster
    retry_errors: bool = False
    # Times an input may kill its worker process (alone in it) before it is recorded as an error.
    # Jobs killed from outside (kill -9, a lost node) count nothing against their inputs.
    max_crashes: int = 2

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if self.max_crashes < 1:
            raise ConfigError(f"max_crashes must be >= 1, got {self.max_crashes}")


@dataclass(frozen=True)
class Task:
    """What a worker needs for one input (plain data: it crosses process boundaries)."""

    item_id: int
    input: str
    out_base: str  # absolute path of the outputs without their extension
    formats: Tuple[str, ...]
    tmp_dir: str  # where outputs are written before being renamed into place (same file system)


@dataclass(frozen=True)
class TaskResult:
    item_id: int
    ok: bool
    outputs: Tuple[str, ...] = ()
    pages: int = 0
    error: Optional[str] = None


@dataclass(frozen=True)
class BatchSummary:
    total: int
    done: int
    errors: int
    pending: int
    pages: int
    seconds: float
    processed_now: int

    @property
    def ok(self) -> bool:
        return self.errors == 0 and self.pending == 0


# ------------------------------------------------------------------------------------ inputs


def discover_inputs(source: Path, exclude: Optional[Path] = None) -> List[Tuple[str, str]]:
    """(absolute input path, output stem) for a folder (searched recursively) or a list file.

    A folder's stems keep its sub-folders (``scans/a.pdf`` -> ``scans/a``), so outputs mirror
    the input tree (files under ``exclude``, the output folder, are skipped); a list file (one path per line, ``#`` comments; relative paths are taken
    from the current directory) gives each file's own stem.
    """
    source = Path(source)
    if source.is_dir():
        found = []
        skip = Path(exclude).resolve() if exclude is not None else None
        for path in sorted(source.rglob("*")):
            if skip is not None and (path.resolve() == skip or skip in path.resolve().parents):
                continue
            rel = path.relative_to(source)
            if path.is_file() and path.suffix.lower() in INPUT_SUFFIXES and not any(
                    part.startswith(".") for part in rel.parts):
                found.append((str(path.resolve()), str(rel.with_suffix("")).replace(os.sep, "/")))
        return found
    if source.is_file():
        try:
            lines = source.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: not a text list of input files ({exc.reason})") from None
        entries = []
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                path = Path(line).expanduser()
                entries.append((str(path.resolve()), path.stem or "input"))
        return entries
    raise ConfigError(f"{source}: no such folder or list file")


# ------------------------------------------------------------------------------------ worker side


def process_task(ocr: Any, task: Task) -> TaskResult:
    """Read one input and write its outputs atomically; any failure becomes an error result."""
    from ..document import Document
    from ..formats import parse_formats

    try:
        writers = parse_formats(",".join(task.formats))
        want_images = any(w.name == "pdf" for w in writers)
        pages, images = [], []
        if not os.path.isfile(task.input):
            raise InputError(f"{task.input}: no such file")
        for page_image, page in ocr.read_pages(task.input):
            pages.append(page)
            if want_images:
                images.append(page_image.image)
        doc = Document(pages=pages, source=task.input, metadata=ocr_metadata(ocr))
        outputs = _write_outputs(doc, writers, images if want_images else None, Path(task.out_base),
                                 Path(task.tmp_dir))
        return TaskResult(task.item_id, True, tuple(outputs), len(pages))
    except OcrforgeError as exc:
        return TaskResult(task.item_id, False, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a batch accounts for every input, whatever happened
        where = traceback.extract_tb(exc.__traceback__)[-1:]
        loc = f" at {where[0].filename}:{where[0].lineno}" if where else ""
        return TaskResult(task.item_id, False, error=f"internal error: {type(exc).__name__}: {exc}{loc}")


def _write_outputs(doc: Any, writers, images, out_base: Path, tmp_dir: Path) -> List[str]:
    """Each format to a temporary name beside its target, fsync'd, then renamed over the target.

    A reader (or a resumed job) never sees a half-written output, and rewriting an input's
    outputs replaces them instead of adding copies.
    """
    out_base.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    token = f"{os.getpid()}-{time.monotonic_ns()}"
    final_paths: List[str] = []
    for writer in writers:
        target = out_base.with_name(out_base.name + writer.extension)
        tmp_target = tmp_dir / f"{token}-{target.name}"
        written = writer.write(doc, tmp_target, images if writer.name == "pdf" else None)
        for tmp_path in written:
            final = target.parent / tmp_path.name[len(token) + 1:]
            with open(tmp_path, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp_path, final)
            final_paths.append(str(final))
    _fsync_dir(out_base.parent)
    return final_paths


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# One OCR per worker process, built by the pool's initializer: a process pool gives no other
# place to keep per-process state, and rebuilding the OCR per input would reload the models.
_WORKER_OCR: Any = None


def _init_worker(options: OcrOptions, factory: Optional[str]) -> None:
    global _WORKER_OCR
    os.environ.setdefault("OMP_NUM_THREADS", str(options.threads))
    _WORKER_OCR = make_ocr(options, factory)


def _run_in_worker(task: Task) -> TaskResult:
    return process_task(_WORKER_OCR, task)


# ------------------------------------------------------------------------------------ runners

Progress = Callable[[TaskResult], None]


class LocalRunner:
    """A process pool with at most ``max_in_flight`` inputs submitted (marked running) at once.

    When a worker process dies (out-of-memory kill, a crash in native code), every input in
    flight fails with it and none can be blamed, so all go back to the queue through
    ``on_lost(task, why, isolated=False)``; ``isolated=True`` only when the dead worker had that
    input alone, which is how a retry run with ``max_in_flight=1`` finds the culprit.
    """

    def __init__(self, config: BatchConfig, max_in_flight: Optional[int] = None) -> None:
        self.config = config
        self.max_in_flight = max_in_flight or 2 * config.workers

    def run(self, tasks: Iterator[Task], on_start: Callable[[Task], None], on_result: Progress,
            on_lost: Callable[[Task, str, bool], None]) -> None:
        cfg = self.config
        tasks = iter(tasks)
        while True:
            pool = concurrent.futures.ProcessPoolExecutor(max_workers=min(cfg.workers, self.max_in_flight),
                                                          initializer=_init_worker,
                                                          initargs=(cfg.ocr, cfg.ocr_factory))
            broken = False
            in_flight: Dict[concurrent.futures.Future, Task] = {}
            try:
                while True:
                    while len(in_flight) < self.max_in_flight:
                        task = next(tasks, None)
                        if task is None:
                            break
                        on_start(task)
                        in_flight[pool.submit(_run_in_worker, task)] = task
                    if not in_flight:
                        return
                    done, _ = concurrent.futures.wait(in_flight, return_when=concurrent.futures.FIRST_COMPLETED)
                    alone = len(in_flight) == 1
                    lost = []
                    for fut in done:
                        task = in_flight.pop(fut)
                        try:
                            on_result(fut.result())
                        except BrokenProcessPool:
                            broken = True
                            lost.append(task)
                    if broken:
                        lost.extend(in_flight.values())
                        in_flight.clear()
                        for task in lost:
                            on_lost(task, "worker process died (out of memory or crashed) while reading this input",
                                    alone)
                        break
            finally:
                pool.shutdown(wait=not broken, cancel_futures=True)
            # The pool broke: a fresh one for the inputs not yet submitted.


class RayRunner:
    """Ray actors, one OCR each, fed through ``ray.util.ActorPool``."""

    def __init__(self, config: BatchConfig) -> None:
        self.config = config

    def run(self, tasks: Iterator[Task], on_start: Callable[[Task], None], on_result: Progress,
            on_lost: Callable[[Task, str, bool], None]) -> None:
        try:
            import ray
            from ray.util import ActorPool
        except ImportError as exc:
            raise ConfigError(f"--ray needs Ray installed (pip install 'ray'): {exc}") from None
        cfg = self.config
        started_here = False
        if not ray.is_initialized():
            if cfg.ray_address:
                ray.init(address=cfg.ray_address, log_to_driver=False, logging_level=logging.WARNING)
            else:
                ray.init(num_cpus=cfg.workers, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
            started_here = True
        try:
            actor_cls = ray.remote(num_cpus=1)(_RayOcrWorker)
            actors = [actor_cls.remote(cfg.ocr, cfg.ocr_factory) for _ in range(cfg.workers)]
            pool = ActorPool(actors)
            pending: Dict[int, Task] = {}
            for task in tasks:
                on_start(task)
                pending[task.item_id] = task
                pool.submit(lambda actor, t: actor.process.remote(t), task)
                while pool.has_next() and len(pending) >= 2 * cfg.workers:
                    self._collect(pool, pending, on_result, on_lost)
            while pool.has_next():
                self._collect(pool, pending, on_result, on_lost)
        finally:
            if started_here:
                ray.shutdown()

    @staticmethod
    def _collect(pool, pending: Dict[int, Task], on_result: Progress, on_lost) -> None:
        import ray

        try:
            result: TaskResult = pool.get_next_unordered()
        except ray.exceptions.RayActorError as exc:  # the actor died; its input is not accounted yet
            raise OcrforgeError(f"a Ray worker died: {exc}") from exc
        pending.pop(result.item_id, None)
        on_result(result)


class _RayOcrWorker:
    def __init__(self, options: OcrOptions, factory: Optional[str]) -> None:
        self.ocr = make_ocr(options, factory)

    def process(self, task: Task) -> TaskResult:
        return process_task(self.ocr, task)


# ------------------------------------------------------------------------------------ the job


def run_batch(source: Path, config: BatchConfig, progress: Optional[Callable[[int, int, TaskResult], None]] = None,
              require_manifest: bool = False) -> BatchSummary:
    """Run (or resume) the job writing into ``config.output_dir``; returns its summary."""
    from ..formats import parse_formats

    start = time.monotonic()
    parse_formats(",".join(config.formats))  # unknown formats fail before anything is written
    out = Path(config.output_dir)
    manifest_path = out / MANIFEST_NAME
    if require_manifest and not manifest_path.exists():
        raise ConfigError(f"--resume: {out} has no batch manifest ({MANIFEST_NAME})")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create output directory {out}: {exc.strerror or exc}") from exc
    inputs = discover_inputs(Path(source), exclude=out)
    manifest = Manifest(manifest_path)
    try:
        manifest.bind(config.formats)
        manifest.add(inputs)
        manifest.requeue_interrupted(retry_errors=config.retry_errors)
        _clean_tmp(out / TMP_DIR)
        todo = manifest.pending()
        total = sum(manifest.counts().values())
        finished = [total - len(todo)]
        processed = [0]

        def tasks() -> Iterator[Task]:
            for item in todo:
                yield Task(item.id, item.input, str((out / item.out_stem).resolve()), tuple(config.formats),
                           str((out / TMP_DIR).resolve()))


        def on_start(task: Task) -> None:
            manifest.mark_running(task.item_id)

        def on_result(result: TaskResult) -> None:
            if result.ok:
                manifest.mark_done(result.item_id, result.outputs, result.pages)
            else:
                manifest.mark_error(result.item_id, result.error or "unknown error")
            finished[0] += 1
            processed[0] += 1
            if progress is not None:
                progress(finished[0], total, result)

        retry: List[Task] = []
        deaths: Dict[int, int] = {}

        def on_lost(task: Task, why: str, isolated: bool) -> None:
            if isolated:
                deaths[task.item_id] = deaths.get(task.item_id, 0) + 1
                if deaths[task.item_id] >= config.max_crashes:
                    on_result(TaskResult(task.item_id, False, error=f"{why} ({deaths[task.item_id]} times)"))
                    return
            manifest.release(task.item_id)
            retry.append(task)

        runner = RayRunner(config) if config.use_ray else LocalRunner(config)
        runner.run(tasks(), on_start, on_result, on_lost)
        while retry:  # inputs whose worker died: again, one at a time, so a culprit is found
            again, retry[:] = list(retry), []
            LocalRunner(config, max_in_flight=1).run(iter(again), on_start, on_result, on_lost)
        counts = manifest.counts()
        summary = BatchSummary(total=sum(counts.values()), done=counts["done"], errors=counts["error"],
                               pending=counts["pending"] + counts["running"], pages=manifest.pages_done(),
                               seconds=time.monotonic() - start, processed_now=processed[0])
        _write_summary(out, manifest, summary)
        return summary
    finally:
        manifest.close()


def _clean_tmp(tmp: Path) -> None:
    """Leftovers of a killed run: partial files that never got renamed into place."""
    if tmp.is_dir():
        for leftover in tmp.iterdir():
            try:
                leftover.unlink()
            except OSError:
                pass


def _write_summary(out: Path, manifest: Manifest, summary: BatchSummary) -> None:
    errors = [{"input": item.input, "error": item.error} for item in manifest.items() if item.state == "error"]
    data = {"total": summary.total, "done": summary.done, "errors": summary.errors, "pending": summary.pending,
            "pages": summary.pages, "error_list": errors}
    tmp = out / (SUMMARY_NAME + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(tmp, out / SUMMARY_NAME)


def items_of(output_dir: Path) -> List[Item]:
    """The manifest rows of a job (for tests, benchmarks and status tools)."""
    manifest = Manifest(Path(output_dir) / MANIFEST_NAME)
    try:
        return manifest.items()
    finally:
        manifest.close()


__all__ = ["BatchConfig", "BatchSummary", "Task", "TaskResult", "discover_inputs", "items_of", "process_task",
           "run_batch", "MANIFEST_NAME", "SUMMARY_NAME"]

