"""Pages end to end in the conditions they arrive in, beside the peers: the same SROIE eval receipts
as they are, in dark mode, under a side light, shrunk to a third, noisy and in low light
(``make_page_variants.py``), read by every engine with ocrbench ``--tasks pages``.

    python benchmarks/bench_page_variants.py --limit 20 --threads 2 --out results/variants
    python benchmarks/bench_page_variants.py ... --ocrforge-root /tmp/old_checkout --name ocrforge-old \\
        --engines ocrforge   # another checkout of ocrforge (e.g. before a change) on the same pages
    python benchmarks/bench_page_variants.py --src ~/.cache/ocrforge/bench/zh_pages --limit 24 \\
        --tesseract-lang chi_sim --out results/variants_zh   # any SROIE-layout set, all its ids

Writes one ocrbench report per variant and engine under ``--out`` and prints page token F1
(case-insensitive), character F1 and detection F1; ``summary.json`` gathers every report in ``--out``
(so runs of other engines or checkouts into the same folder add up). Pages ``as_is`` are read from ../shared directly;
the variants are written once under ``--data-root`` (outside the repository) and reused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_page_variants  # noqa: E402
from bench_recognition import REPO, SROIE, run_engine  # noqa: E402

VARIANTS = ["as_is", *make_page_variants.VARIANTS]


def variant_data(variant: str, data_root: Path, limit: int, src: Path = SROIE) -> tuple:
    """(folder, ocrbench split) holding the variant's pages; written on first use. SROIE's pages are
    its eval split (ids % 5 == 4); another set's are all its ids."""
    split = "mod:5:4" if src == SROIE else "all"
    if variant == "as_is":
        return src, split
    folder = data_root / f"{'sroie' if src == SROIE else src.name}_{variant}_{limit}"
    if not (folder / "img").is_dir():
        select = ["--ids-mod", "5:4"] if src == SROIE else []
        code = make_page_variants.main(["--variant", variant, "--src", str(src), *select,
                                        "--limit", str(limit), "--out", str(folder)])
        if code:
            raise SystemExit(f"bench_page_variants: could not write the {variant} pages")
    return folder, "all"


def scores(report: dict) -> dict:
    pages = report["pages"]
    return {"token_f1_ci": round(100 * pages["e2e_tokens_ci"]["f1"], 1), "char_f1": round(100 * pages["e2e_chars_ci"]["f1"], 1),
            "det_f1": round(100 * pages["detection"]["f1"], 1), "ms_median": pages.get("ms_per_page_median")}


def _peer_opts(engine: str, args) -> list:
    return [f"lang={args.tesseract_lang}"] if engine == "tesseract" and args.tesseract_lang else []


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--engines", default="ocrforge,rapidocr,tesseract")
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="results/variants")
    ap.add_argument("--data-root", default="~/.cache/ocrforge/bench")
    ap.add_argument("--src", default=str(SROIE), help="the pages (SROIE layout); default SROIE's eval receipts")
    ap.add_argument("--peers-python", default="/tmp/venv-peers/bin/python")
    ap.add_argument("--ocrforge-root", default=str(REPO), help="the checkout whose ocrforge is read")
    ap.add_argument("--name", default="ocrforge", help="the ocrforge engine's name in the reports")
    ap.add_argument("--ocrforge-opt", action="append", default=[], help="OCR(...) option for ocrbench's -o")
    ap.add_argument("--tesseract-lang", default=None, help="e.g. chi_sim for Chinese pages (default: ocrbench's)")
    args = ap.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        print(f"bench_page_variants: unknown variant(s) {unknown}; known: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    root = Path(args.ocrforge_root).resolve()
    out.mkdir(parents=True, exist_ok=True)
    data_root = Path(args.data_root).expanduser()
    table = {}
    for variant in variants:
        data, split = variant_data(variant, data_root, args.limit, Path(args.src).expanduser().resolve())
        for engine in [e for e in args.engines.split(",") if e]:
            ours = engine == "ocrforge"
            name = args.name if ours else engine
            python = sys.executable if ours else args.peers_python
            report = run_engine(python, engine, data, split, out / f"{variant}__{name}.json", args.threads,
                                args.ocrforge_opt if ours else _peer_opts(engine, args), name=name, limit=args.limit,
                                tasks="pages", root=root if ours else REPO, quiet=True)
            table.setdefault(variant, {})[name] = scores(report)
            print(f"{variant:9s} {name:16s} " + "  ".join(f"{k} {v}" for k, v in table[variant][name].items()),
                  flush=True)
    # every report in the folder, so runs of other engines or checkouts into it add up
    summary: dict = {}
    for report in sorted(out.glob("*__*.json")):
        variant, name = report.stem.split("__", 1)
        if variant in VARIANTS:
            summary.setdefault(variant, {})[name] = scores(json.loads(report.read_text()))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
