"""Which number should greedy's line calibration read? ECE of isotonic maps fitted on each candidate.

    python benchmarks/bench_line_scores.py --threads 1 --out results/line_scores13.json

Greedy's confidence is a length-normalised average (geometric mean of the character peaks times the
blank frames' mean peak). A line is wrong as soon as one character is, so a map of that average learnt
on one mix of line lengths and domains (20,000 SROIE lines, mostly Latin) misjudges another (synthetic
bill lines; Latin-only ones read through the SROIE-dominated "other" map). Candidates, each a function of
one greedy reading:

  decoder        the confidence as it is (what the maps read before session 13);
  weakest_char   the weakest character's peak times the blank confidence (``calibration.LINE_SCORES``);
  product        the product of the character peaks times the blank confidence;
  min_only       the weakest character's peak alone;
  prod_margin    the product of each character's top-1 minus top-2 probability (needs the posteriors,
                 which the reader does not keep: reported for comparison only);
  min_margin     the smallest such margin (likewise).

For each, isotonic maps per script group (``line_group``: other / cjk / cjk_long at 3 and 8 CJK
characters, as shipped) are fitted on the calibration's fit sets pooled (SROIE ids % 5 in 1,2,3; bill
lines of seed 2024; real clauses past the first 2,000) and

  * ``cv``: two-fold cross-validation within the fit sets (``--repeats`` random halvings), ECE of each
    fit set's held-out half: the choice is made on these;
  * ``heldout``: ECE on the evaluation sets (SROIE ids % 5 == 4, bill lines of seed 12345, the first
    1,000 real clauses), maps fitted on all fit lines: the check.

``--fake`` reads the texts through bench_decoding's synthetic posteriors (for the test suite).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (str(ROOT), str(Path(__file__).resolve().parent)):
    if p not in sys.path:
        sys.path.insert(0, p)

import bench_decoding as bd  # noqa: E402
from ocrforge.postprocess.calibration import (LINE_SCORES, active_groups, ece, fit_group_maps,  # noqa: E402
                                              is_correct, line_group)
from ocrforge.postprocess.ctc import greedy_decode  # noqa: E402

GROUP_CUTS = (3, 8)  # min_cjk_chars, long_cjk_chars of the shipped calibration


def reading_features(probs: np.ndarray, charset) -> dict:
    """One greedy reading and the posteriors' numbers the candidates need."""
    r = greedy_decode(probs, charset)
    srt = np.sort(probs, 1)
    margin = srt[:, -1] - srt[:, -2]
    frames = np.asarray(r.char_frames, int)
    return {"text": r.text, "confidence": r.confidence, "char_scores": list(r.char_scores),
            "margins": margin[frames].tolist() if len(frames) else []}


def _blank(f: dict) -> float:
    """Greedy's blank confidence, recovered from its score (confidence = geometric mean x blank)."""
    cs = np.maximum(np.asarray(f["char_scores"], np.float64), 1e-9)
    return f["confidence"] / float(np.exp(np.log(cs).mean())) if len(cs) else f["confidence"]


SCORES: Dict[str, Callable[[dict], float]] = {
    "decoder": lambda f: LINE_SCORES["decoder"](f["confidence"], f["char_scores"]),
    "weakest_char": lambda f: LINE_SCORES["weakest_char"](f["confidence"], f["char_scores"]),
    "product": lambda f: float(np.prod(f["char_scores"])) * _blank(f) if f["char_scores"] else f["confidence"],
    "min_only": lambda f: float(min(f["char_scores"])) if f["char_scores"] else f["confidence"],
    "prod_margin": lambda f: float(np.prod(f["margins"])) if f["margins"] else f["confidence"],
    "min_margin": lambda f: float(min(f["margins"])) if f["margins"] else f["confidence"],
}


def collect(rec, samples: Sequence, casefold: bool, batch: int = 64) -> List[dict]:
    """Features of every sample's greedy reading, with ``right`` (posteriors are not kept)."""
    out: List[dict] = []
    for start in range(0, len(samples), batch):
        chunk = samples[start : start + batch]
        for s, p in zip(chunk, rec.predict_probs([c.crop for c in chunk])):
            f = reading_features(p, rec.charset)
            f["right"] = is_correct(f["text"], s.text, casefold)
            out.append(f)
    return out


def _arrays(feats: Sequence[dict], score: Callable[[dict], float]):
    s = np.array([score(f) for f in feats], np.float64)
    y = np.array([f["right"] for f in feats], bool)
    g = np.array([line_group(f["text"], *GROUP_CUTS) for f in feats])
    return s, y, g


def _fit(parts) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Maps per script group on the pooled (scores, right, groups) parts, fitted as the shipped files'
    are (``calibration.fit_group_maps``: isotonic; a group too small or without both outcomes takes
    the map of all groups)."""
    s, y, g = (np.concatenate([p[i] for p in parts]) for i in range(3))
    maps, _ = fit_group_maps({name: (s[g == name], y[g == name]) for name in np.unique(g)}, "isotonic",
                             active_groups(GROUP_CUTS[1]))

    def apply(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
        out = np.empty(len(scores))
        for name, fn in maps.items():  # line_group gives every line one of these groups
            m = groups == name
            if m.any():
                out[m] = fn(scores[m])
        return out

    return apply


def score_table(fit: Dict[str, List[dict]], evals: Dict[str, List[dict]], scores: Sequence[str],
                repeats: int = 10, seed: int = 0) -> Dict[str, dict]:
    """Per candidate: two-fold CV ECE of each fit set (mean, std over repeats; worst set) and the
    held-out ECE of each evaluation set (and of its groups) with maps fitted on all fit lines."""
    table: Dict[str, dict] = {}
    for name in scores:
        fn = SCORES[name]
        data = {k: _arrays(v, fn) for k, v in fit.items()}
        rng = np.random.default_rng(seed)
        cv: Dict[str, List[float]] = {k: [] for k in data}
        for _ in range(repeats):
            folds = {k: rng.permutation(len(v[0])) % 2 for k, v in data.items()}
            for half in (0, 1):
                apply = _fit([tuple(a[folds[k] != half] for a in v) for k, v in data.items()])
                for k, (s, y, g) in data.items():
                    m = folds[k] == half
                    cv[k].append(ece(apply(s[m], g[m]), y[m]))
        apply = _fit(list(data.values()))
        held: Dict[str, dict] = {}
        for k, feats in evals.items():
            s, y, g = _arrays(feats, fn)
            c = apply(s, g)
            groups = {str(n): {"lines": int((g == n).sum()), "accuracy": round(float(y[g == n].mean()), 4),
                               "ece": round(ece(c[g == n], y[g == n]), 4)} for n in np.unique(g)}
            held[k] = {"ece": round(ece(c, y), 4), "groups": groups}
        means = {k: float(np.mean(v)) for k, v in cv.items()}
        table[name] = {"cv": {k: {"mean": round(means[k], 4), "std": round(float(np.std(v)), 4)} for k, v in cv.items()},
                       "cv_worst": round(max(means.values()), 4), "cv_mean": round(float(np.mean(list(means.values()))), 4),
                       "heldout": held, "heldout_worst": round(max(h["ece"] for h in held.values()), 4),
                       "reader_can_compute": name not in ("prod_margin", "min_margin")}
    return table


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="recognizer ONNX (default: the shipped one)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sroie", type=Path, default=Path("/work/shared/data/sroie"))
    ap.add_argument("--sroie-lines", type=int, default=100000, help="per split")
    ap.add_argument("--zh-lines", type=int, default=2000, help="fit bill lines and real clauses each (evaluation: half)")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--scores", default=",".join(SCORES))
    ap.add_argument("--fake", action="store_true", help="synthetic posteriors instead of a recognizer")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    names = [s for s in args.scores.split(",") if s]
    unknown = [s for s in names if s not in SCORES]
    if unknown:
        raise SystemExit(f"bench_line_scores: unknown score {unknown[0]!r}; choose from {', '.join(SCORES)}")
    charset = bd.load_charset()
    rec = bd.FakeRecognizer(charset, seed=0) if args.fake else bd.load_recognizer(args.model, args.threads)
    if args.fake:
        rec.charset = charset
    n_eval = max(1, args.zh_lines // 2)
    plans = {
        "fit": {"sroie": ("mod:5:1,2,3", None), "bills": (2024, args.zh_lines), "real": (2000, args.zh_lines)},
        "eval": {"sroie": ("mod:5:4", None), "bills": (12345, n_eval), "real": (0, n_eval)},
    }
    feats: Dict[str, Dict[str, List[dict]]] = {"fit": {}, "eval": {}}
    for side, sets in plans.items():
        for name, (where, n) in sets.items():
            if name == "sroie":
                if args.fake or not (args.sroie / "box").is_dir():
                    continue
                samples = bd.sroie_samples(args.sroie, bd.parse_split(where), args.sroie_lines, charset, load_images=True)
            elif name == "bills":
                samples = bd.rendered_samples("zh", bd.zh_texts(n, where), charset, args.fake)
            else:
                samples = bd.rendered_samples("zh_real", bd.zh_real_texts(n, skip=where), charset, args.fake)
            feats[side][name] = collect(rec, samples, casefold=name == "sroie")
            print(f"bench_line_scores: {side} {name}: {len(samples)} lines", file=sys.stderr)
    table = score_table(feats["fit"], feats["eval"], names, args.repeats)
    report = {"model": args.model or "shipped", "fake": args.fake,
              "lines": {side: {k: len(v) for k, v in sets.items()} for side, sets in feats.items()},
              "accuracy": {side: {k: round(float(np.mean([f["right"] for f in v])), 4) for k, v in sets.items()}
                           for side, sets in feats.items()},
              "scores": table}
    text = json.dumps(report, indent=1)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    for name, row in table.items():
        cv = "  ".join(f"{k} {v['mean']:.4f}±{v['std']:.4f}" for k, v in row["cv"].items())
        held = "  ".join(f"{k} {v['ece']:.4f}" for k, v in row["heldout"].items())
        print(f"{name:13s} CV {cv}  (worst {row['cv_worst']:.4f})   held out {held}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
