"""Would calibration groups by line length help Chinese lines? Greedy raw scores on the calibration's fit
sets, isotonic maps fitted per group, ECE on the held-out sets.

    python benchmarks/bench_calibration_groups.py --fit-lines 2000 --eval-lines 1000 --threads 2 \
        --out results/calibration_groups.json

Fit: synthetic bill lines (seed 2024) + real clauses past the 2,000 the benchmarks read (the shipped
calibration's fit data); evaluation: bill lines seed 12345 + the first real clauses (bench_decoding's sets).
Reported, each as ECE on the evaluation bills / real clauses:
  * `pooled`: one map over every fit line;
  * `split_N`: lines with < N CJK characters and the rest, one map each, every line included;
  * `shipped_grouping`: lines with < min_cjk_chars CJK characters through the shipped file's Latin ("other")
    map (as TextRecognizer does), the rest through one map (`cjk`) or two split at N (`cjk_split_N`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, Sequence

import numpy as np


def outcomes(rec, texts: Sequence[str]):
    """(raw greedy score, right?, CJK characters in the output) per rendered line the charset covers."""
    from bench_decoding import rendered_samples

    from ocrforge.document import is_cjk_char
    from ocrforge.postprocess.calibration import is_correct
    from ocrforge.postprocess.ctc import GreedyDecoder

    samples = rendered_samples("zh", texts, rec.charset, fake=False)
    res = rec.recognize([s.crop for s in samples], GreedyDecoder(rec.charset))
    return (np.array([r.confidence for r in res]), np.array([is_correct(r.text, s.text) for r, s in zip(res, samples)]),
            np.array([sum(map(is_cjk_char, r.text)) for r in res]))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fit-lines", type=int, default=2000, help="bill lines and real clauses each")
    ap.add_argument("--eval-lines", type=int, default=1000)
    ap.add_argument("--cuts", type=int, nargs="*", default=[6, 8, 10, 12, 14, 16, 20])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_decoding import zh_real_texts, zh_texts

    from ocrforge.postprocess.calibration import calibration_path, ece, fit_calibrator, ReadingCalibration
    from ocrforge.recognition.predictor import DEFAULT_MODEL, TextRecognizer

    rec = TextRecognizer(DEFAULT_MODEL, threads=args.threads, calibration="none")
    fits = [outcomes(rec, zh_texts(args.fit_lines, 2024)), outcomes(rec, zh_real_texts(args.fit_lines, skip=2000))]
    S, Y, N = (np.concatenate([f[i] for f in fits]) for i in range(3))
    evals = {"bills": outcomes(rec, zh_texts(args.eval_lines)), "real": outcomes(rec, zh_real_texts(args.eval_lines))}
    shipped = ReadingCalibration.load(calibration_path(DEFAULT_MODEL), model_path=DEFAULT_MODEL)
    latin = shipped.decoders["greedy"]["line"]["other"]

    def fit_split(mask, cut):
        """Maps for lines of ``mask`` below / at or above ``cut`` CJK characters (cut None: one map)."""
        if cut is None:
            one = fit_calibrator(S[mask], Y[mask], "isotonic")
            return lambda s, n: one(s)
        lo, hi = mask & (N < cut), mask & (N >= cut)
        a, b = fit_calibrator(S[lo], Y[lo], "isotonic"), fit_calibrator(S[hi], Y[hi], "isotonic")
        return lambda s, n: np.where(n < cut, a(s), b(s))

    def report(fn, latin_below=None) -> Dict[str, float]:
        out = {}
        for name, (s, y, n) in evals.items():
            c = fn(s, n)
            if latin_below is not None:
                c = np.where(n >= latin_below, c, latin(s))
            out[name] = round(ece(c, y), 4)
        return out

    everything = np.ones(len(S), bool)
    result = {"fit_lines": int(len(S)), "eval_lines": {k: int(len(v[0])) for k, v in evals.items()},
              "eval_accuracy": {k: round(float(v[1].mean()), 4) for k, v in evals.items()},
              "pooled": report(fit_split(everything, None))}
    for cut in args.cuts:
        result[f"split_{cut}"] = report(fit_split(everything, cut))
    m = shipped.min_cjk_chars
    cjk = N >= m
    grouping = {"cjk": report(fit_split(cjk, None), latin_below=m)}
    for cut in args.cuts:
        if cut > m:
            grouping[f"cjk_split_{cut}"] = report(fit_split(cjk, cut), latin_below=m)
    result["shipped_grouping"] = grouping
    s, y, n = evals["bills"]
    few = n < m
    result["bills_without_chinese"] = {"lines": int(few.sum()), "accuracy": round(float(y[few].mean()), 4) if few.any() else None,
                                       "ece_latin_map": round(ece(latin(s[few]), y[few]), 4) if few.any() else None}
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
