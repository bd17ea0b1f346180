"""Command line: ``ocrforge read``, ``ocrforge recognize`` and the commands other modules register.

Every failure the user can cause (bad file, bad option, missing model) ends as ONE line on stderr
and a non-zero exit code, never a traceback (set OCRFORGE_DEBUG=1 to see one). With several
inputs each ends with a result or an error line, the others go on, and the exit code is 1 if any
failed. Exit codes: 0 ok, 1 some input failed, 2 bad usage, 70 internal error, 130 interrupted.

Commands living in other modules are listed in ``COMMANDS`` and imported only when chosen, so
``ocrforge read`` never imports PyTorch or the serving stack.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import __version__
from .errors import ConfigError, OcrforgeError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 70, 130
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"}


@dataclass(frozen=True)
class Command:
    """A command defined in other modules, each exposing ``add_parser(subparsers)`` that adds its
    parser with ``set_defaults(func=callable(args) -> int)``.

    Plain command: the one module adds ``NAME`` itself (e.g. ``lm``). Group (``group=True``): the
    CLI makes ``ocrforge NAME`` and each module adds a subcommand under it (``train det``,
    ``train rec``; ``synth lines``, ``synth pages``).
    """

    name: str
    modules: Tuple[str, ...]
    help: str
    group: bool = False


# Commands from other modules, imported only when chosen (or their own --help is asked for), so
# `ocrforge read` never imports PyTorch. Add a module to its group, or one line per new command.
COMMANDS: List[Command] = [
    Command("synth", ("ocrforge.data.synth_lines", "ocrforge.data.synth_pages"), "generate synthetic training data",
            group=True),
    Command("data", ("ocrforge.data.rec_datasets",), "prepare labelled data for training", group=True),
    Command("train", ("ocrforge.training.det", "ocrforge.training.rec", "ocrforge.training.finetune"), "train models (needs the [train] extra)",
            group=True),
    Command("export", ("ocrforge.export.onnx_rec", "ocrforge.detection.export", "ocrforge.export.mobile"), "export trained models to ONNX / INT8", group=True),
    Command("lm", ("ocrforge.postprocess.lm_cli",), "build / inspect character n-gram language models"),
    Command("serve", ("ocrforge.serving.cli",), "run the HTTP / gRPC OCR service (needs the [serve] extra)"),
    Command("batch", ("ocrforge.batch.cli",), "OCR a folder or list of files as a resumable batch job"),
]


class UsageError(Exception):
    """A bad command line (reported as one line, exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage + message and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ------------------------------------------------------------------------------------ options


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _max_pixels(text: str) -> Optional[int]:
    """A pixel count ("100000000", "100e6", "100M"); 0 or "none" lifts the limit."""
    t = text.strip().lower()
    if t in ("0", "none", "off"):
        return None
    mult = 1
    if t.endswith("m"):
        t, mult = t[:-1], 1_000_000
    try:
        value = int(float(t) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a pixel count such as 100000000 or 100M, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive pixel count, got {text!r}")
    return value


def _dpi(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 36 <= value <= 1200:
        raise argparse.ArgumentTypeError(f"dpi must be between 36 and 1200, got {text!r}")
    return value


def _add_model_options(p: argparse.ArgumentParser, detection: bool = True) -> None:
    if detection:
        p.add_argument("--det-model", metavar="PATH", help="detection model (.onnx); default: the shipped one")
    p.add_argument("--rec-model", metavar="PATH", help="recognition model (.onnx); default: the shipped one")
    p.add_argument("--threads", type=_positive_int, default=2, metavar="N",
                   help="ONNX Runtime threads (default 2)")
    p.add_argument("--decoder", choices=["greedy", "beam", "beam_lm", "auto"], default="auto",
                   help="CTC decoding: auto (default: greedy, and beam search with the character LM on lines with "
                        "Chinese or low confidence), greedy, beam search, or beam search with the LM on every line")
    p.add_argument("--lm", metavar="PATH", help="character n-gram LM for beam_lm (default: the shipped zh+en one)")
    p.add_argument("--words", metavar="FILE", help="word list (one per line, e.g. product names) to favour in beam_lm")
    p.add_argument("--pattern", metavar="NAME",
                   help="restrict text to a field pattern: digits, integer, amount, date, time, invoice_number, phone")
    p.add_argument("--allow", metavar="CHARS", help="only these characters may be read")
    p.add_argument("--deny", metavar="CHARS", default="", help="these characters are never read")
    p.add_argument("--views", type=int, choices=range(0, 5), default=0, metavar="N",
                   help="view fusion: read each unsure line (confidence < 0.8) again in N other views (0-4) and vote; "
                        "2 cuts line CER by ~15-20 %% for ~1.5-2.5x the recognition time (default 0: off)")
    p.add_argument("--fusion-model", action="append", default=[], metavar="PATH", dest="fusion_models",
                   help="model fusion: another recognizer .onnx of the same charset that also reads each unsure line "
                        "(confidence < --fusion-threshold); the posteriors are averaged (repeat for more models)")
    p.add_argument("--fusion-threshold", type=float, default=0.8, metavar="T",
                   help="lines below this confidence are read by the fusion models too (default 0.8)")
    p.add_argument("--calibration", default="auto", metavar="auto|none|PATH",
                   help="confidences: auto (default) maps raw scores through the recognizer's .calib.json, so a "
                        "line's confidence is its chance of being read exactly right; none reports raw scores; "
                        "or a calibration file of your own")


def _add_read(sub) -> None:
    p = sub.add_parser(
        "read", help="read images and PDFs into text and document formats",
        description="Read images (JPEG, PNG, BMP, WebP, TIFF) and PDFs. With no -o, the first "
                    "format is written to stdout; with -o DIR, every format goes to DIR/<input stem>.<ext>.",
    )
    p.add_argument("inputs", nargs="*", metavar="INPUT", help="image or PDF files; '-' reads stdin")
    p.add_argument("-o", "--output-dir", metavar="OUTDIR", help="write <stem>.<ext> files here")
    p.add_argument("-f", "--format", default="txt", metavar="FORMATS",
                   help="comma list of txt,json,tsv,hocr,alto,page,pdf (default txt)")
    p.add_argument("--pages", metavar="RANGE", help="pages to read, e.g. 1-3,5 (default: all)")
    p.add_argument("--dpi", type=_dpi, default=300, help="PDF render resolution (default 300)")
    p.add_argument("--preprocess", default="auto", metavar="STEPS",
                   help="auto, none, or a comma list of steps (deskew,binarize,...)")
    p.add_argument("--max-pixels", type=_max_pixels, default=100_000_000, metavar="N",
                   help="refuse pages with more pixels (default 100M; 0 = no limit)")
    _add_model_options(p)
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per input: {\"lines\": [{\"box\", \"text\", \"confidence\"}]}")
    p.add_argument("--crops", metavar="DIR",
                   help="recognize the single-line images in DIR instead (with --json: ocrbench protocol)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_read)


def _add_recognize(sub) -> None:
    p = sub.add_parser("recognize", help="recognize pre-cut single-line images",
                       description="Recognize images that each hold one text line; prints one line of text per image.")
    p.add_argument("images", nargs="+", metavar="LINE_IMAGE")
    p.add_argument("--json", action="store_true",
                   help="print {\"lines\": [{\"image\", \"text\", \"confidence\"}]}")
    _add_model_options(p, detection=False)
    p.set_defaults(func=cmd_recognize)


def build_parser(selected: Optional[str] = None) -> argparse.ArgumentParser:
    """The full parser. Only the command named ``selected`` is imported from its module."""
    parser = _Parser(prog="ocrforge", description="Offline OCR for printed Chinese and English documents, "
                                                  "receipts and bills.")
    parser.add_argument("--version", action="version", version=f"ocrforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_read(sub)
    _add_recognize(sub)
    for cmd in COMMANDS:
        if cmd.name != selected:
            sub.add_parser(cmd.name, help=cmd.help, add_help=False)  # listed, not imported
            continue
        target = sub
        if cmd.group:
            group = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
            target = group.add_subparsers(dest=f"{cmd.name}_command", metavar="WHAT", required=True)
        for module_name in cmd.modules:
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise ConfigError(f"command '{cmd.name}' is not available: {exc} "
                                  f"(install the extra it needs, e.g. pip install 'ocrforge[train]')") from exc
            module.add_parser(target)
    return parser


# ------------------------------------------------------------------------------------ output helpers


class _Reporter:
    """Progress on stderr while work is long, only when stdout is a terminal."""

    def __init__(self, total_inputs: int, enabled: bool):
        self.enabled = enabled
        self._progress = None
        self._task = None
        self.total = total_inputs

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), console=Console(stderr=True), transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task("reading", total=self.total)
        return self

    def page(self, name: str, page_no: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=f"{name} page {page_no}")

    def done_input(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def error(self, message: str) -> None:
        line = f"ocrforge: error: {message}"
        if self._progress is not None:
            self._progress.console.print(line, markup=False, highlight=False)
        else:
            print(line, file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)
        return False


def _decoder_options(args) -> Any:
    if not (args.lm or args.words or args.pattern or args.allow or args.deny):
        return args.decoder
    from .postprocess.beam import DecoderOptions

    words: List[str] = []
    if args.words:
        try:
            words = [w.strip() for w in Path(args.words).read_text(encoding="utf-8").splitlines() if w.strip()]
        except OSError as exc:
            raise ConfigError(f"cannot read word list {args.words}: {exc.strerror}") from None
    return DecoderOptions(kind=args.decoder, lm_path=args.lm, words=words, pattern=args.pattern,
                          allow=args.allow, deny=args.deny)


def _make_ocr(args) -> Any:
    from .pipeline import OCR

    kwargs: Dict[str, Any] = {"threads": args.threads, "rec_model": args.rec_model, "decoder": _decoder_options(args),
                              "calibration": args.calibration, "views": args.views,
                              "fusion_models": tuple(args.fusion_models), "fusion_threshold": args.fusion_threshold}
    if hasattr(args, "det_model"):
        kwargs.update(det_model=args.det_model, preprocess=args.preprocess, max_pixels=args.max_pixels,
                      dpi=args.dpi)
    return OCR(**kwargs)


def _bench_lines(doc) -> Dict[str, Any]:
    lines = []
    for page in doc.pages:
        for line in page.lines():
            lines.append({"box": [[round(x, 1), round(y, 1)] for x, y in line.polygon], "text": line.text,
                          "confidence": round(float(line.confidence), 4), "page": page.index})
    return {"source": doc.source, "lines": lines}


def _unique_stem(name: str, used: Dict[str, int]) -> str:
    stem = "stdin" if name == "-" else (Path(name).stem or "input")
    n = used.get(stem, 0)
    used[stem] = n + 1
    return stem if n == 0 else f"{stem}-{n + 1}"


def _write_stdout(data: bytes, out: IO[bytes]) -> None:
    out.write(data)
    if data and not data.endswith(b"\n"):
        out.write(b"\n")
    out.flush()


# ------------------------------------------------------------------------------------ commands


def _recognize_files(ocr, paths: Sequence[str], report: Callable[[str], None]) -> List[Tuple[str, Optional[Tuple[str, float]]]]:
    """(path, (text, confidence)) per path; None where the image could not be read."""
    from .io import load_image

    images, ok_paths, results = [], [], {}
    for path in paths:
        try:
            images.append(load_image(path, max_pixels=getattr(ocr.config, "max_pixels", None)))
            ok_paths.append(path)
        except OcrforgeError as exc:
            report(str(exc))
            results[path] = None
    if images:
        for path, res in zip(ok_paths, ocr.recognize(images)):
            results[path] = res
    return [(p, results[p]) for p in paths]


def cmd_recognize(args) -> int:
    ocr = _make_ocr(args)
    failed = False

    def report(msg: str) -> None:
        nonlocal failed
        failed = True
        print(f"ocrforge: error: {msg}", file=sys.stderr, flush=True)

    results = _recognize_files(ocr, args.images, report)
    if args.json:
        lines = [{"image": os.path.basename(p), "text": r[0], "confidence": round(r[1], 4)}
                 for p, r in results if r is not None]
        print(json.dumps({"lines": lines}, ensure_ascii=False), flush=True)
    else:
        for _, r in results:
            if r is not None:
                print(r[0], flush=True)
    return EXIT_FAILED if failed else EXIT_OK


def _read_crops(args, ocr) -> int:
    folder = Path(args.crops)
    if not folder.is_dir():
        raise ConfigError(f"--crops {args.crops}: not a directory")
    paths = sorted(str(p) for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    failed = False

    def report(msg: str) -> None:
        nonlocal failed
        failed = True
        print(f"ocrforge: error: {msg}", file=sys.stderr, flush=True)

    results = _recognize_files(ocr, paths, report)
    lines = [{"image": os.path.basename(p), "text": r[0] if r else "", "confidence": round(r[1], 4) if r else 0.0}
             for p, r in results]
    if args.json:
        print(json.dumps({"lines": lines}, ensure_ascii=False), flush=True)
    else:
        for line in lines:
            print(line["text"], flush=True)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_read(args) -> int:
    from .document import Document
    from .formats import parse_formats

    if args.crops and args.inputs:
        raise UsageError("give INPUT files or --crops DIR, not both")
    if not args.crops and not args.inputs:
        raise UsageError("no INPUT given (see 'ocrforge read --help')")
    try:
        writers = parse_formats(args.format)
    except OcrforgeError as exc:
        raise UsageError(str(exc)) from exc
    out_dir = Path(args.output_dir) if args.output_dir else None
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create output directory {out_dir}: {exc.strerror or exc}") from exc
    if args.pages:
        from .io import parse_page_spec

        parse_page_spec(args.pages, 10**9)  # a malformed range fails before any work
    ocr = _make_ocr(args)
    if args.crops:
        return _read_crops(args, ocr)

    stdout = sys.stdout.buffer
    if out_dir is None and len(writers) > 1 and not args.json:
        print(f"ocrforge: note: only {writers[0].name} goes to stdout; use -o DIR to write "
              f"{', '.join(w.name for w in writers[1:])}", file=sys.stderr)
    need_images = any(w.name == "pdf" for w in writers) and (out_dir is not None or writers[0].name == "pdf")
    stdin_used = False
    used_stems: Dict[str, int] = {}
    failed = 0
    show = not args.quiet and sys.stdout.isatty() and sys.stderr.isatty()
    with _Reporter(len(args.inputs), enabled=show) as rep:
        for name in args.inputs:
            try:
                source: Any = name
                if name == "-":
                    if stdin_used:
                        raise ConfigError("'-' (stdin) given more than once")
                    stdin_used = True
                    source = sys.stdin.buffer.read()
                pages, images = [], []
                for page_image, page in ocr.read_pages(source, pages=args.pages, dpi=args.dpi):
                    rep.page(name, page_image.index + 1)
                    pages.append(page)
                    if need_images:
                        images.append(page_image.image)
                doc = Document(pages=pages, source="<stdin>" if name == "-" else name, metadata=ocr.metadata())
                if args.json:
                    _write_stdout(json.dumps(_bench_lines(doc), ensure_ascii=False).encode("utf-8"), stdout)
                if out_dir is not None:
                    stem = _unique_stem(name, used_stems)
                    for w in writers:
                        w.write(doc, out_dir / f"{stem}{w.extension}", images if w.name == "pdf" else None)
                elif not args.json:
                    w = writers[0]
                    _write_stdout(w.to_bytes(doc, images if w.name == "pdf" else None), stdout)
            except OcrforgeError as exc:
                failed += 1
                rep.error(str(exc) if name in str(exc) else f"{name}: {exc}")
            finally:
                rep.done_input()
    return EXIT_FAILED if failed else EXIT_OK


# ------------------------------------------------------------------------------------ entry point


def _selected_command(argv: Sequence[str]) -> Optional[str]:
    for token in argv:
        if not token.startswith("-"):
            return token
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = bool(os.environ.get("OCRFORGE_DEBUG"))
    try:
        parser = build_parser(_selected_command(argv))
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help / --version print and exit 0
            return int(exc.code or 0)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"ocrforge: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OcrforgeError as exc:
        if debug:
            raise
        print(f"ocrforge: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("ocrforge: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `ocrforge read x.pdf | head`: the reader left; nothing more to say.
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the promise is one line, never a traceback
        if debug:
            raise
        print(f"ocrforge: internal error: {type(exc).__name__}: {exc} (OCRFORGE_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
