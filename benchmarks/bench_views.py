"""View fusion benchmark: line CER, accuracy, confidence ECE and recognition time with 0..4 views.

    python benchmarks/bench_views.py --views 0,2,4 --split mod:5:4 --sroie-lines 100000 \
        --zh-lines 600 --zh-real-lines 600 --threads 2 --out results/views.json

Each set is read by the shipped recognizer with the pipeline's decoder (``--decoder``, default auto:
beam search with the LM on Chinese and unsure lines) and its calibration, once
per ``--views`` count (``TextRecognizer(views=N)``: lines with confidence < 0.8 are read again in N
other views of the crop and the texts voted on; ``recognition.views``). Sets as in
``bench_decoding.py``: SROIE line crops (``--split``; boxes padded ``--sroie-pad`` px as ocrbench's
line task does) and rendered Chinese bill lines (``--zh-seed``) and real clauses (``--zh-real-skip``).
A line is right when it equals its reference (case-insensitive on SROIE). Time is CPU seconds of the
recognizer calls (process time, so neighbours on a shared machine do not count).

Fitting the fused lines' confidence maps (the ``views`` kind of the model's calibration file) on
training data only, then checking them on the held-out sets as above:

    python benchmarks/bench_views.py --fit-calibration ocrforge/models/rec_crnn_mobilenetv3_small_int8.calib.json \
        --split mod:5:1,2,3 --sroie-lines 100000 --zh-lines 2000 --zh-seed 2024 --zh-real-lines 2000 --zh-real-skip 2000
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_decoding import add_set_arguments, held_out_in_fit, load_samples  # noqa: E402
from ocrforge.errors import ConfigError  # noqa: E402
from ocrforge.pipeline import DEFAULT_DECODER  # noqa: E402
from ocrforge.postprocess.beam import DecoderOptions, make_decoder  # noqa: E402
from ocrforge.postprocess.calibration import (CALIBRATORS, ReadingCalibration, ece, is_correct,  # noqa: E402
                                              word_outcomes)
from ocrforge.postprocess.synthetic import cer  # noqa: E402
from ocrforge.recognition.predictor import DEFAULT_MODEL, VIEW_THRESHOLD, VIEWS_KIND, TextRecognizer  # noqa: E402
from ocrforge.recognition.views import VIEW_ORDER  # noqa: E402
from ocrforge.document import split_words  # noqa: E402


SET_NAMES = {"sroie": "sroie", "zh": "zh_bills", "zh_real": "zh_real"}  # bench_decoding's sources


def load_sets(args, charset) -> Dict[str, Tuple[list, List[str], bool]]:
    """name -> (crops, references, case-insensitive?)"""
    sets: Dict[str, Tuple[list, List[str], bool]] = {}
    for sample in load_samples(args, charset, sroie_pad=args.sroie_pad):
        crops, refs, _ = sets.setdefault(SET_NAMES[sample.source], ([], [], sample.source == "sroie"))
        crops.append(sample.crop)
        refs.append(sample.text)
    return sets


def read(rec: TextRecognizer, dec, crops: list, views: int, batch: int = 64) -> Tuple[list, float]:
    out, t0 = [], time.process_time()
    for i in range(0, len(crops), batch):  # the pipeline's calls are page-sized, not set-sized
        out += rec.recognize(crops[i : i + batch], dec, views=views)
    return out, time.process_time() - t0


def per_word_scores(text: str, words: Optional[Sequence[float]]) -> List[float]:
    """Each character scored by its word's confidence, so that ``word_outcomes`` (which scores a word
    by its weakest character) sees the given word scores."""
    scores = [1.0] * len(text)
    for (s, e), w in zip(split_words(text), words or []):
        scores[s:e] = [float(w)] * (e - s)
    return scores if words is not None else []


def report_set(rec: TextRecognizer, dec, crops: list, refs: List[str], casefold: bool, counts: Sequence[int]) -> Dict:
    rows: Dict[str, Dict] = {}
    base_s = None
    for n in counts:
        res, secs = read(rec, dec, crops, n)
        base_s = secs if n == 0 else base_s
        hyps = [r.text for r in res]
        conf = np.array([r.confidence for r in res])
        right = np.array([is_correct(h, ref, casefold) for h, ref in zip(hyps, refs)])
        fused = np.array([r.decoder == VIEWS_KIND for r in res])
        ref_cmp = [r.upper() for r in refs] if casefold else refs
        hyp_cmp = [h.upper() for h in hyps] if casefold else hyps
        row = {"views": list(VIEW_ORDER[:n]), "lines": len(refs), "cer": cer(ref_cmp, hyp_cmp),
               "line_accuracy": float(right.mean()), "line_ece": ece(conf, right), "cpu_s": secs,
               "fused_share": float(fused.mean())}
        if fused.any():
            row["fused_lines"] = {"accuracy": float(right[fused].mean()), "mean_confidence": float(conf[fused].mean()),
                                  "ece": ece(conf[fused], right[fused])}
        if base_s:
            row["time_vs_plain"] = secs / base_s
        rows[str(n)] = row
        print(f"  views={n}: CER {row['cer']:.4f}  acc {row['line_accuracy']:.3f}  ECE {row['line_ece']:.3f}  "
              f"fused {row['fused_share']:.2f}  {secs:.1f} CPU s", file=sys.stderr, flush=True)
    return rows


def fit_views(args, rec: TextRecognizer, dec, sets, cal: ReadingCalibration) -> int:
    """Fit the ``views`` maps on the fused lines of these (training) sets and write them into the file."""
    outcomes: Dict[str, Dict[str, Tuple[list, list]]] = {"line": {}, "word": {}}
    n_fused = {}
    for name, (crops, refs, casefold) in sets.items():
        res, _ = read(rec, dec, crops, args.fit_views)
        n_fused[name] = 0
        for r, ref in zip(res, refs):
            if r.decoder != VIEWS_KIND:
                continue
            n_fused[name] += 1
            g = cal.group(r.text)
            acc = outcomes["line"].setdefault(g, ([], []))
            acc[0].append(r.raw_confidence)
            acc[1].append(is_correct(r.text, ref, casefold))
            ws, wy = word_outcomes(r.text, per_word_scores(r.text, r.word_confidences), ref, casefold)
            acc = outcomes["word"].setdefault(g, ([], []))
            acc[0].extend(ws)
            acc[1].extend(wy)
    try:
        fitted = ReadingCalibration.fit({VIEWS_KIND: outcomes}, args.method, min_cjk_chars=cal.min_cjk_chars,
                                        long_cjk_chars=cal.long_cjk_chars)
    except ConfigError as exc:
        print(f"bench_views: {exc}", file=sys.stderr)
        return 2
    cal.decoders[VIEWS_KIND] = fitted.decoders[VIEWS_KIND]
    cal.info["views_fit"] = {
        "views": list(VIEW_ORDER[: args.fit_views]), "threshold": VIEW_THRESHOLD, "decoder": args.decoder,
        "method": args.method,
        "score": "line: the best calibrated confidence among the readings of the winning text; "
                 "word: that reading's calibrated word confidence",
        "fitted_on": {"sroie_split": args.split if "sroie" in sets else None, "sroie_pad": args.sroie_pad,
                      "zh_seed": args.zh_seed if "zh_bills" in sets else None,
                      "zh_real_skip": args.zh_real_skip if "zh_real" in sets else None},
        "fused_lines": n_fused, "pooled": fitted.info.get("pooled", []),
        "command": "python benchmarks/bench_views.py " + " ".join(shlex.quote(a) for a in args.argv)}
    path = cal.save(args.fit_calibration)
    print(f"bench_views: wrote the {VIEWS_KIND} maps into {path} (fused lines {n_fused})", file=sys.stderr)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="view fusion: CER, accuracy, ECE and time with 0..4 views")
    add_set_arguments(ap, zh_real_lines=300)
    ap.add_argument("--sroie-pad", type=int, default=2, help="px added around each SROIE box (ocrbench: 2)")
    ap.add_argument("--views", default="0,2,4", help="comma list of view counts to compare (0 = plain)")
    ap.add_argument("--model", default=None, help="recognizer ONNX (default: the shipped one)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--decoder", choices=["greedy", "beam", "beam_lm", "auto"], default=DEFAULT_DECODER)
    ap.add_argument("--view-threshold", type=float, default=VIEW_THRESHOLD,
                    help="lines below this confidence are read again (not with --fit-calibration: the maps are fitted at the default)")
    ap.add_argument("--fit-calibration", type=Path, default=None, metavar="FILE",
                    help="fit the fused lines' maps on these sets (training data only) into FILE, the model's calibration")
    ap.add_argument("--fit-views", type=int, default=2, help="with --fit-calibration: views the maps are fitted with")
    ap.add_argument("--method", choices=sorted(CALIBRATORS), default="isotonic")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        counts = [int(v) for v in args.views.split(",")]
    except ValueError:
        print(f"bench_views: --views must be a comma list of integers, got {args.views!r}", file=sys.stderr)
        return 2
    if any(not 0 <= n <= len(VIEW_ORDER) for n in counts + [args.fit_views]):
        print(f"bench_views: view counts must be 0-{len(VIEW_ORDER)}", file=sys.stderr)
        return 2
    model = Path(args.model) if args.model else DEFAULT_MODEL
    if args.fit_calibration:
        refused = held_out_in_fit(args)
        if refused:
            print(f"bench_views: {refused}", file=sys.stderr)
            return 2
        cal = ReadingCalibration.load(args.fit_calibration, model_path=model)
        # the readings are scored as the recognizer scores them before any views map
        cal.decoders.pop(VIEWS_KIND, None)
        rec = TextRecognizer(model, threads=args.threads, calibration=cal)
        dec = make_decoder(rec.charset, DecoderOptions(kind=args.decoder))
        return fit_views(args, rec, dec, load_sets(args, rec.charset), cal)
    rec = TextRecognizer(model, threads=args.threads, view_threshold=args.view_threshold)
    dec = make_decoder(rec.charset, DecoderOptions(kind=args.decoder))
    sets = load_sets(args, rec.charset)
    if not sets:
        print("bench_views: no lines to read (no SROIE data and no Chinese sets asked for)", file=sys.stderr)
        return 1
    report = {"model": model.name, "calibration": rec.calibration_note, "threads": args.threads, "decoder": args.decoder,
              "view_threshold": args.view_threshold,
              "sets": {}, "command": "python benchmarks/bench_views.py " + " ".join(shlex.quote(a) for a in args.argv)}
    for name, (crops, refs, casefold) in sets.items():
        print(f"{name}: {len(refs)} lines", file=sys.stderr, flush=True)
        report["sets"][name] = report_set(rec, dec, crops, refs, casefold, counts)
    text = json.dumps(report, indent=1, ensure_ascii=False)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
