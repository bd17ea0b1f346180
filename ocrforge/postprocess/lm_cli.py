"""``ocrforge lm``: build and inspect character n-gram language models.

    ocrforge lm build --corpus a.txt b.txt --order 5 --out lm.bin [--prune 1 2 3] [--max-ngrams N]
    ocrforge lm info lm.bin
    ocrforge lm score lm.bin "some text" ...
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import OcrforgeError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("lm", help="build / inspect character n-gram language models")
    sub = p.add_subparsers(dest="lm_command", required=True)

    b = sub.add_parser("build", help="estimate a character n-gram model (modified Kneser-Ney) from text files")
    b.add_argument("--corpus", nargs="+", required=True, type=Path, help="UTF-8 text files, one line per sentence")
    b.add_argument("--order", type=int, default=5)
    b.add_argument("--out", required=True, type=Path)
    b.add_argument("--prune", nargs="+", type=int, default=[1],
                   help="minimum count to keep an n-gram, for orders 2,3,... (the last value repeats)")
    b.add_argument("--max-ngrams", type=int, default=None, help="raise the pruning until the model has at most this many n-grams")
    b.set_defaults(func=_build)

    i = sub.add_parser("info", help="print a model's order, sizes and metadata")
    i.add_argument("model", type=Path)
    i.set_defaults(func=_info)

    s = sub.add_parser("score", help="per-character perplexity of lines of text under a model")
    s.add_argument("model", type=Path)
    s.add_argument("text", nargs="+")
    s.set_defaults(func=_score)
    return p


def _build(args) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .lm import BuildConfig, build_lm, read_corpus_lines

    for f in args.corpus:
        if not f.is_file():
            raise OcrforgeError(f"corpus file not found: {f}")
    t0 = time.time()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                  TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task("reading", total=1.0)

        def progress(stage: str, frac: float) -> None:
            bar.update(task, description=stage, completed=frac)

        lm = build_lm(read_corpus_lines(args.corpus),
                      BuildConfig(order=args.order, prune=args.prune, max_ngrams=args.max_ngrams),
                      progress=progress, meta={"corpus": [f.name for f in args.corpus]})
        bar.update(task, description="writing", completed=1.0)
        lm.save(args.out)
    size = args.out.stat().st_size
    print(f"{args.out}: order {lm.order}, n-grams {lm.num_ngrams}, {size / 1e6:.2f} MB, {time.time() - t0:.1f} s")
    return 0


def _info(args) -> int:
    from .lm import CharNgramLM

    lm = CharNgramLM.load(args.model)
    print(f"order {lm.order}; n-grams per order {lm.num_ngrams}; {args.model.stat().st_size / 1e6:.2f} MB")
    for k, v in sorted(lm.meta.items()):
        print(f"  {k}: {v}")
    return 0


def _score(args) -> int:
    from .lm import CharNgramLM

    lm = CharNgramLM.load(args.model)
    for line in args.text:
        print(f"{lm.perplexity([line]):10.2f}  {line}")
    return 0


def main(argv=None) -> int:
    """Stand-alone entry (``python -m ocrforge.postprocess.lm_cli``) until cli.py lists ``lm``."""
    parser = argparse.ArgumentParser(prog="ocrforge")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except OcrforgeError as exc:
        print(f"ocrforge lm: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
