"""``ocrforge batch INPUT_DIR|LIST -o OUT``: OCR many files; re-run the same command to resume."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import ConfigError, FormatError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_parser(subparsers) -> argparse.ArgumentParser:
    from ..serving.cli import add_ocr_options  # argparse helpers only: imports no serving stack

    p = subparsers.add_parser(
        "batch", help="OCR a folder or list of files as a resumable batch job",
        description="Read every image/PDF in INPUT (a folder, searched recursively, or a text file listing "
                    "paths) into OUT/<name><ext> per format. A manifest in OUT records each input's state, "
                    "so running the same command again after a crash or kill resumes where it stopped. "
                    "Exit code 1 if any input failed (see OUT/_batch_summary.json).")
    p.add_argument("input", metavar="INPUT_DIR|LIST")
    p.add_argument("-o", "--output-dir", required=True, metavar="OUT")
    p.add_argument("-f", "--format", default="txt,json", metavar="FORMATS",
                   help="comma list of txt,json,tsv,hocr,alto,page,pdf (default txt,json)")
    default_workers = max(1, (os.cpu_count() or 1) // 2)
    p.add_argument("--workers", type=_positive_int, default=default_workers, metavar="N",
                   help=f"worker processes (or Ray actors), each with its own OCR (default {default_workers})")
    p.add_argument("--resume", action="store_true",
                   help="require an existing job in OUT (without it an existing job is resumed too)")
    p.add_argument("--retry-errors", action="store_true", help="also redo inputs that ended in an error")
    p.add_argument("--ray", action="store_true", help="run the workers as Ray actors")
    p.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster ('auto' = the running one); "
                                                         "default: start a local Ray")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_ocr_options(p)
    p.set_defaults(func=run, threads=1)
    return p


def run(args) -> int:
    from ..formats import parse_formats
    from ..runtime.ocr import OcrOptions, load_factory
    from .job import BatchConfig, run_batch

    try:
        formats = tuple(w.name for w in parse_formats(args.format))
    except FormatError as exc:  # a bad option: usage error (exit 2), like the read command
        raise ConfigError(str(exc)) from None
    if args.ocr_factory:
        load_factory(args.ocr_factory)
    if args.ray_address and not args.ray:
        raise ConfigError("--ray-address needs --ray")
    options = OcrOptions(det_model=args.det_model, rec_model=args.rec_model, threads=args.threads,
                         preprocess=args.preprocess, dpi=args.dpi, views=args.views)
    config = BatchConfig(output_dir=Path(args.output_dir), formats=formats, workers=args.workers, ocr=options,
                         ocr_factory=args.ocr_factory, use_ray=args.ray, ray_address=args.ray_address,
                         retry_errors=args.retry_errors)
    show = not args.quiet and sys.stderr.isatty()
    with _Progress(show) as progress:
        summary = run_batch(Path(args.input), config, progress=progress.update, require_manifest=args.resume)
    rate = summary.pages / summary.seconds if summary.seconds > 0 else 0.0
    print(f"ocrforge batch: {summary.done}/{summary.total} done, {summary.errors} errors, {summary.pending} pending; "
          f"{summary.processed_now} inputs this run in {summary.seconds:.1f} s ({rate:.2f} pages/s overall)",
          file=sys.stderr)
    return 0 if summary.ok else 1


class _Progress:
    """A rich progress bar on a terminal; errors are printed as they happen either way."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar = None
        self._task = None

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self._bar = Progress("batch", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=True)
            self._bar.__enter__()
        return self

    def update(self, finished: int, total: int, result) -> None:
        if not result.ok:
            line = f"ocrforge: error: {result.error}"
            if self._bar is not None:
                self._bar.console.print(line, markup=False, highlight=False)
            else:
                print(line, file=sys.stderr, flush=True)
        if self._bar is not None:
            if self._task is None:
                self._task = self._bar.add_task("batch", total=total, completed=finished)
            self._bar.update(self._task, completed=finished, total=total)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False
