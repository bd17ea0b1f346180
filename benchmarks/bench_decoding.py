"""Decoding benchmark: greedy vs beam vs beam+LM (CER, decode time), fusion gain, calibration ECE.

    OMP_NUM_THREADS=1 python benchmarks/bench_decoding.py \
        --sroie /work/shared/data/sroie --split mod:5:4 --zh-lines 300 [--model rec.onnx] \
        [--fusion-model rec_other.onnx [--fusion-model rec_third.onnx]] [--lm ocrforge/models/lm_zh_en.bin] [--out results.json]

Data: SROIE line crops (axis-aligned box of each annotated quad; the receipts whose integer id
satisfies ``id % M in (R, ...)`` for ``--split mod:M:R[,R...]``) and synthetic Chinese lines rendered
with the installed CJK fonts (texts from Faker zh_CN + receipt templates; ``--zh-seed`` 12345 is the
held-out set, a seed the LM corpus does not use). ``--fake`` replaces the recognizer by synthetic
posteriors with look-alike confusions, to check the script itself (the test suite runs it that way).

Calibration: a line is right when it equals its reference (case-insensitive on SROIE, whose
transcripts are all capitals), a word when it aligns to an identical reference word. Each set and
decoder reports ECE of the raw scores and of the calibration the recognizer ships
(``rec_x.calib.json``, or ``--calibration FILE``), for lines and words, with the threshold table
(threshold -> kept fraction -> accuracy of the kept lines) of the calibrated line confidences.

Refitting the shipped calibration (training data only: SROIE ids % 5 in 1,2,3 and Chinese lines of
another seed), then checking it on the held-out sets:

    python benchmarks/bench_decoding.py --fit-calibration ocrforge/models/rec_crnn_mobilenetv3_small.calib.json \
        --method isotonic --split mod:5:1,2,3 --sroie-lines 100000 --zh-lines 2000 --zh-seed 2024
    python benchmarks/bench_decoding.py --split mod:5:4 --sroie-lines 100000 --zh-lines 300
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ocrforge.postprocess.beam import BeamConfig, BeamSearchDecoder, SelectiveLMDecoder  # noqa: E402
from ocrforge.errors import ConfigError, ModelError  # noqa: E402
from ocrforge.postprocess.calibration import (CALIBRATORS, DEFAULT_MIN_CJK_CHARS, ReadingCalibration,  # noqa: E402
                                              fit_reading_calibration, line_input, reading_outcomes as outcomes,
                                              _file_sha256, calibration_path, ece, reliability, threshold_table)
from ocrforge.postprocess.ctc import DecodeResult, GreedyDecoder, decode_lines  # noqa: E402
from ocrforge.postprocess.fusion import average_posteriors, vote_texts  # noqa: E402
from ocrforge.postprocess.lm import load_lm  # noqa: E402
from ocrforge.postprocess.synthetic import cer, confuse, spell_posteriors  # noqa: E402
from ocrforge.recognition.charset import load_charset  # noqa: E402


@dataclass
class Sample:
    source: str  # "sroie" | "zh" | "zh_real"
    text: str
    crop: object  # uint8 image, or the text itself for --fake


def parse_split(spec: str) -> Tuple[int, Tuple[int, ...]]:
    """``mod:5:4`` -> (5, (4,)); ``mod:5:1,2,3`` -> (5, (1, 2, 3))."""
    try:
        kind, m, rs = spec.split(":")
        assert kind == "mod"
        return int(m), tuple(int(r) for r in rs.split(","))
    except (ValueError, AssertionError):
        raise SystemExit(f"bench_decoding: --split must look like mod:5:4 or mod:5:1,2,3, got {spec!r}") from None


def sroie_samples(root: Path, split: Tuple[int, Tuple[int, ...]], limit: int, charset, load_images: bool,
                  pad: int = 0) -> List[Sample]:
    """Annotated lines of the split's receipts; crops are each quad's axis-aligned box, ``pad`` px
    wider on every side (ocrbench's line task pads 2)."""
    import cv2

    m, residues = split
    out: List[Sample] = []
    for box in sorted((root / "box").glob("*.csv")):
        try:
            if int(box.stem) % m not in residues:
                continue
        except ValueError:
            continue
        img = cv2.imread(str(root / "img" / f"{box.stem}.jpg")) if load_images else None
        with box.open(encoding="utf-8", errors="replace") as fh:
            for row in csv.reader(fh):
                if len(row) < 9:
                    continue
                text = ",".join(row[8:]).strip()
                if not text or not charset.covers(text):
                    continue
                crop = text
                if load_images:
                    pts = np.array([float(v) for v in row[:8]]).reshape(4, 2)
                    x0, y0 = np.floor(pts.min(0)).astype(int) - pad
                    x1, y1 = np.ceil(pts.max(0)).astype(int) + pad
                    x0, y0 = max(x0, 0), max(y0, 0)
                    crop = img[y0:y1, x0:x1].copy()  # a copy: the receipt image can go
                    if crop.size == 0 or crop.shape[0] < 4 or crop.shape[1] < 4:
                        continue
                out.append(Sample("sroie", charset.normalize(text), crop))
                if len(out) >= limit:
                    return out
    return out


def zh_texts(n: int, seed: int = 12345) -> List[str]:
    import random

    from faker import Faker

    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    makers = [fake.company, fake.address, fake.name, lambda: f"合计：¥{rng.uniform(1, 999):.2f}",
              lambda: f"开票日期：{fake.date(pattern='%Y年%m月%d日')}", lambda: f"电话：{fake.phone_number()}",
              lambda: f"{fake.word()}{fake.word()} {rng.randint(1, 9)} {rng.uniform(1, 99):.2f}"]
    return [rng.choice(makers)()[:24] for _ in range(n)]


REAL_EVAL_TEXTS = 2000  # zh_real_texts' first 2,000: this benchmark's sets and make_zh_pages' pages


def zh_real_texts(n: int, seed: int = 4242, skip: int = 0) -> List[str]:
    """Real Chinese running text: one clause run (4-30 characters) from each of n sentences that the
    shipped LM's corpus holds out (People's Daily 1998 and product reviews, ``lm_corpus.held_out_real_text``),
    full-width ASCII made half-width 60 % of the time as in the recognizer's text bank."""
    import random

    from ocrforge.data.corpus import _half_width
    from ocrforge.data.lm_corpus import _clauses, held_out_real_text

    rng = random.Random(seed)
    sentences = held_out_real_text()
    rng.shuffle(sentences)
    out: List[str] = []
    for s in sentences:
        clause = next(iter(_clauses(s, rng)), "")
        clause = (_half_width(clause) if rng.random() < 0.6 else clause).strip()
        if len(clause) >= 4 and any("\u4e00" <= ch <= "\u9fff" for ch in clause):
            out.append(clause)
        if len(out) >= n + skip:
            break
    return out[skip:]


@lru_cache(maxsize=8)
def simplified_chinese_face(font_path: str) -> int:
    """Index of the Simplified Chinese face in a font collection (.ttc), 0 for a single font.

    Noto Sans CJK's collection starts with its Japanese face, whose glyphs for many hanzi are the
    Japanese forms; read as Chinese they are misspellings (sessions 1-5 rendered these sets in it)."""
    from PIL import ImageFont

    for index in range(16):
        try:
            family = ImageFont.truetype(font_path, 12, index=index).getname()[0]
        except OSError:
            break
        if family.endswith(" SC") and "Mono" not in family:
            return index
    return 0


def render_line(text: str, font_path: str, height: int = 40, index: Optional[int] = None) -> np.ndarray:
    """Black text at 0.75 x ``height`` on white, its ink centred vertically and half a height of margin
    each side. (Until session 6 the text was drawn from the top at 0.1 x height: a CJK face's ascent
    pushed the bottom ~3 px of every hanzi off the 40-px canvas, and the Chinese CERs measured on these
    lines were those of clipped glyphs.)"""
    from PIL import Image, ImageDraw, ImageFont

    face = simplified_chinese_face(font_path) if index is None else index
    font = ImageFont.truetype(font_path, int(height * 0.75), index=face)
    left, top, right, bottom = font.getbbox(text)
    w = int(right) + height
    im = Image.new("L", (w, height), 255)
    ImageDraw.Draw(im).text((height // 2, (height - (bottom - top)) / 2 - top), text, font=font, fill=0)
    return np.asarray(im)


def rendered_samples(source: str, texts: Sequence[str], charset, fake: bool) -> List[Sample]:
    """Texts the charset covers as line images in the CJK font (as the text itself with ``--fake``);
    none without a CJK font."""
    font = None if fake else find_cjk_font()
    out: List[Sample] = []
    for t in texts:
        t = charset.normalize(t)
        if not charset.covers(t):
            continue
        if fake:
            out.append(Sample(source, t, t))
        elif font:
            out.append(Sample(source, t, render_line(t, font)))
    return out


def find_cjk_font() -> Optional[str]:
    for p in ["/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
              "/usr/share/fonts/truetype/arphic/uming.ttc"]:
        if Path(p).exists():
            return p
    hits = sorted(Path("/usr/share/fonts").rglob("*CJK*")) if Path("/usr/share/fonts").exists() else []
    return str(hits[0]) if hits else None


class FakeRecognizer:
    """Posteriors that spell the crop's text with look-alike confusions (the crop *is* the text)."""

    def __init__(self, charset, seed: int, rate: float = 0.25):
        self.charset, self.rng, self.rate = charset, np.random.default_rng(seed), rate

    def predict_probs(self, crops: Sequence[str]) -> List[np.ndarray]:
        return [spell_posteriors(t, self.charset, confuse(t, self.charset, self.rate, self.rng), noise=0.02, rng=self.rng)
                for t in crops]


def load_recognizer(path: Optional[str], threads: int):
    try:
        from ocrforge.recognition.predictor import TextRecognizer
    except ImportError as exc:
        raise SystemExit(f"bench_decoding: no recognizer available ({exc}); use --fake to test the script") from None
    # Only its posteriors are used here; calibration is applied (or fitted) by this script, and a model whose
    # .calib.json is stale must still load to be refitted.
    return TextRecognizer(model_path=path, threads=threads, calibration="none")


@dataclass
class SetRun:
    """Every decoder's results on one set, read batch by batch (posteriors of a 20,000-line set
    would not fit in memory); ``kept`` holds the posteriors of the lines ``keep`` asked for."""

    results: Dict[str, List[DecodeResult]]
    decode_s: Dict[str, float]  # CPU seconds per decoder
    model_s: float
    kept: Dict[int, np.ndarray]


def run_set(rec, decoders: Dict, crops: Sequence, keep=None, batch: int = 32) -> SetRun:
    """CPU seconds (process time: wall clock on a shared machine measures the neighbours too;
    run with --threads 1 so model and decoding time compare)."""
    run = SetRun({name: [] for name in decoders}, {name: 0.0 for name in decoders}, 0.0, {})
    for start in range(0, len(crops), batch):
        t0 = time.process_time()
        probs = rec.predict_probs(crops[start : start + batch])
        run.model_s += time.process_time() - t0
        for name, dec in decoders.items():
            t0 = time.process_time()
            run.results[name] += decode_lines(dec, probs)
            run.decode_s[name] += time.process_time() - t0
        if keep is not None:
            for j, p in enumerate(probs):
                if keep(run.results, start + j):
                    run.kept[start + j] = p
    return run


def cer_case_insensitive(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """CER with case folded: the fair one on SROIE, whose transcripts are capitals."""
    return cer([r.upper() for r in refs], [h.upper() for h in hyps])


def run_decoder(decoder, probs: List[np.ndarray]) -> Tuple[List[str], List[float], float]:
    t0 = time.process_time()
    res = decode_lines(decoder, probs)
    return [r.text for r in res], [r.confidence for r in res], time.process_time() - t0


def predict(rec, crops, batch: int = 32) -> Tuple[List[np.ndarray], float]:
    t0 = time.process_time()
    out: List[np.ndarray] = []
    for i in range(0, len(crops), batch):
        out += rec.predict_probs(crops[i : i + batch])
    return out, time.process_time() - t0


def calibrated(cal: ReadingCalibration, kinds: Sequence[str], level: str, raw: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """Each item through the map of its decoder kind and script group (as TextRecognizer applies them)."""
    out = np.empty(len(raw))
    g, k = np.asarray(groups), np.asarray(kinds)
    for kind in np.unique(k):
        for name, fn in cal.decoders[str(kind)][level].items():
            m = (g == name) & (k == kind)
            if m.any():
                out[m] = fn(raw[m])
    return out


THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)


def calibration_report(kind: str, outs: Dict[str, Tuple[list, list, list, list]], cal: Optional[ReadingCalibration],
                       line_inputs: Optional[Sequence[float]] = None) -> Dict:
    """ECE and threshold tables of ``outs`` (``reading_outcomes``) raw and through ``cal``; a line's
    map reads ``line_inputs`` where given (``ReadingCalibration.line_scores``), else its raw score."""
    rep: Dict = {}
    for level, (raw, ok, groups, kinds) in outs.items():
        raw, ok = np.asarray(raw, np.float64), np.asarray(ok, bool)
        if raw.size == 0:
            rep[level] = {"count": 0}
            continue
        e: Dict = {"count": int(raw.size), "accuracy": float(ok.mean()), "ece_raw": ece(raw, ok)}
        if cal is not None and all(cal.covers(k) for k in set(kinds)):
            x = np.asarray(line_inputs, np.float64) if level == "line" and line_inputs is not None else raw
            after = calibrated(cal, kinds, level, x, groups)
            e["ece_calibrated"] = ece(after, ok)
            e["mean_calibrated"] = float(after.mean())
            e["groups"] = {g: int(n) for g, n in zip(*np.unique(np.asarray(groups), return_counts=True))}
            if level == "line":
                e["thresholds"] = threshold_table(after, ok, THRESHOLDS)
                e["reliability"] = reliability(after, ok)
        if level == "line":
            e["thresholds_raw"] = threshold_table(raw, ok, THRESHOLDS)
        rep[level] = e
    return rep


def add_set_arguments(ap: argparse.ArgumentParser, zh_real_lines: int) -> None:
    """The evaluation / fit sets' options, shared with bench_views.py."""
    ap.add_argument("--sroie", type=Path, default=Path("/work/shared/data/sroie"))
    ap.add_argument("--split", default="mod:5:4")
    ap.add_argument("--sroie-lines", type=int, default=2000)
    ap.add_argument("--zh-lines", type=int, default=300)
    ap.add_argument("--zh-seed", type=int, default=12345, help="12345 is the held-out set; fit on another seed")
    ap.add_argument("--zh-real-lines", type=int, default=zh_real_lines,
                    help="real Chinese sentences the LM corpus holds out (news, reviews), rendered")
    ap.add_argument("--zh-real-skip", type=int, default=0,
                    help=f"skip the first K of them; a calibration fit must skip the {REAL_EVAL_TEXTS:,} evaluation ones")


def load_samples(args, charset, fake: bool = False, sroie_pad: int = 0) -> List[Sample]:
    """The sets ``add_set_arguments`` asked for: SROIE lines (when the data is there), rendered Chinese
    bill lines (source "zh") and real clauses ("zh_real")."""
    samples: List[Sample] = []
    if args.sroie_lines > 0 and (args.sroie / "box").is_dir():
        samples += sroie_samples(args.sroie, parse_split(args.split), args.sroie_lines, charset, load_images=not fake,
                                 pad=sroie_pad)
    if args.zh_lines > 0:
        samples += rendered_samples("zh", zh_texts(args.zh_lines, args.zh_seed), charset, fake)
    if args.zh_real_lines > 0:
        samples += rendered_samples("zh_real", zh_real_texts(args.zh_real_lines, skip=args.zh_real_skip), charset, fake)
    return samples


def held_out_in_fit(args) -> Optional[str]:
    """Why fitting a calibration on these sets would fit on held-out data, or None when it would not."""
    if args.zh_seed == 12345 and args.zh_lines > 0:
        return "--fit-calibration on --zh-seed 12345 would fit on the held-out Chinese set"
    if args.zh_real_lines > 0 and args.zh_real_skip < REAL_EVAL_TEXTS:
        return (f"--fit-calibration on the first {REAL_EVAL_TEXTS:,} real clauses would fit on the evaluation ones "
                f"(use --zh-real-skip {REAL_EVAL_TEXTS})")
    if args.sroie_lines > 0 and (args.sroie / "box").is_dir() and 4 in parse_split(args.split)[1]:
        return "--fit-calibration on SROIE ids % 5 == 4 would fit on the eval receipts"
    return None


def default_model_path(model: Optional[str]) -> Path:
    from ocrforge.recognition.predictor import DEFAULT_MODEL

    return Path(model) if model else DEFAULT_MODEL


def fit_calibration(args, runs: Dict[str, Tuple[SetRun, List[str]]], decoders: Dict, n_lines: Dict[str, int]) -> int:
    """Pool every set's (raw score, right?) per decoder, level and script group; fit; write the file."""
    # each decoder's maps are fitted on its own readings (auto's as a whole: the fallback for
    # readings that carry no decoder kind)
    sets = [({name: run.results[name] for name in decoders}, refs, source == "sroie") for source, (run, refs) in runs.items()]
    info: Dict = {"fitted_on": {"sroie_split": args.split if "sroie" in runs else None,
                                "zh_seed": args.zh_seed if "zh" in runs else None,
                                "zh_real_skip": args.zh_real_skip if "zh_real" in runs else None, "lines": n_lines},
                  "correct": {"line": "the line equals its reference (case-insensitive on SROIE)",
                              "word": "the output word aligns to an identical reference word"},
                  "word_score": "min char peak probability",
                  "command": "python benchmarks/bench_decoding.py " + " ".join(shlex.quote(a) for a in args.argv)}
    if not args.fake:
        model = default_model_path(args.model)
        info.update(model=model.name, model_sha256=_file_sha256(model))
    try:
        cal = fit_reading_calibration(sets, args.method, min_cjk_chars=args.min_cjk_chars,
                                      long_cjk_chars=args.long_cjk_chars, **info)
    except ConfigError as exc:
        print(f"bench_decoding: {exc}", file=sys.stderr)
        return 2
    path = cal.save(args.fit_calibration)
    print(f"bench_decoding: wrote {path} ({args.method}; {cal.info['counts']}; pooled groups: {cal.info['pooled']})",
          file=sys.stderr)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="greedy vs beam vs beam+LM decoding benchmark")
    add_set_arguments(ap, zh_real_lines=0)
    ap.add_argument("--model", default=None, help="recognizer ONNX (default: the shipped one)")
    ap.add_argument("--fusion-model", action="append", default=[],
                    help="another recognizer for fusion on low-confidence lines (repeat for more: with three or more "
                         "readings the vote has a majority)")
    ap.add_argument("--fusion-threshold", type=float, default=0.8)
    ap.add_argument("--fusion-calibration", action="append", default=[],
                    help="each --fusion-model's .calib.json, in order (default: beside the model): the vote then weighs "
                         "calibrated confidences")
    ap.add_argument("--fake-fusion-models", type=int, default=1, help="with --fake: how many fake other models")
    ap.add_argument("--lm", default=None, help="character LM (default: the shipped one)")
    ap.add_argument("--alpha", type=float, default=BeamConfig.alpha)
    ap.add_argument("--beta", type=float, default=BeamConfig.beta)
    ap.add_argument("--lm-floor", default=str(BeamConfig.lm_floor),
                    help="lowest LM log-probability of a character ('none': no floor)")
    ap.add_argument("--beam", type=int, default=BeamConfig.beam_width)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fake", action="store_true", help="synthetic posteriors instead of a recognizer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calibration", default=None,
                    help="calibration file to evaluate (default: the model's .calib.json; 'none' for raw scores only)")
    ap.add_argument("--fit-calibration", type=Path, default=None, metavar="OUT",
                    help="fit a calibration on these sets (training data only) and write it to OUT instead of reporting")
    ap.add_argument("--method", choices=sorted(CALIBRATORS), default="isotonic", help="with --fit-calibration")
    ap.add_argument("--min-cjk-chars", type=int, default=DEFAULT_MIN_CJK_CHARS,
                    help="with --fit-calibration: lines with this many CJK characters get the Chinese maps")
    ap.add_argument("--long-cjk-chars", type=int, default=8,
                    help="with --fit-calibration: Chinese lines with this many CJK characters get maps of their own "
                         "(8: bench_calibration_groups' choice; 0: one map for every Chinese line)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    args.long_cjk_chars = args.long_cjk_chars or None
    args.argv = list(sys.argv[1:] if argv is None else argv)

    refused = held_out_in_fit(args) if args.fit_calibration else None
    if refused:
        print(f"bench_decoding: {refused}", file=sys.stderr)
        return 2

    charset = load_charset()
    samples = load_samples(args, charset, fake=args.fake)
    if not samples:
        print("bench_decoding: no samples (check --sroie / --zh-lines)", file=sys.stderr)
        return 2

    rec = FakeRecognizer(charset, args.seed) if args.fake else load_recognizer(args.model, args.threads)
    lm = load_lm(args.lm)
    lm_floor = None if str(args.lm_floor).lower() == "none" else float(args.lm_floor)
    cfg = BeamConfig(beam_width=args.beam, alpha=args.alpha, beta=args.beta, lm_floor=lm_floor)
    # built as make_decoder builds them for `--decoder NAME` (beam without LM keeps beta, as there),
    # so the calibration fitted here is the one the pipeline's decoders need
    decoders = {"greedy": GreedyDecoder(charset), "beam": BeamSearchDecoder(charset, None, cfg),
                "beam_lm": BeamSearchDecoder(charset, lm, cfg)}
    decoders["auto"] = SelectiveLMDecoder(decoders["greedy"], decoders["beam_lm"])

    cal: Optional[ReadingCalibration] = None
    cal_note = "none"
    if not args.fit_calibration:
        try:
            if args.calibration and args.calibration.lower() != "none":
                cal = ReadingCalibration.load(args.calibration)
            elif args.calibration is None and not args.fake and calibration_path(default_model_path(args.model)).is_file():
                cal = ReadingCalibration.load(calibration_path(default_model_path(args.model)), default_model_path(args.model))
        except ModelError as exc:
            print(f"bench_decoding: {exc}", file=sys.stderr)
            return 2
        cal_note = cal.source if cal else "none"

    fusion = bool(args.fusion_model or args.fake) and not args.fit_calibration
    if len(args.fusion_calibration) > len(args.fusion_model):
        print("bench_decoding: more --fusion-calibration files than --fusion-model", file=sys.stderr)
        return 2
    n_others = args.fake_fusion_models if args.fake else len(args.fusion_model)
    other_cals: List[Optional[ReadingCalibration]] = [None] * n_others
    if fusion and args.fusion_model and cal is not None:
        for k, model in enumerate(args.fusion_model):
            given = args.fusion_calibration[k] if k < len(args.fusion_calibration) else None
            path = Path(given) if given else calibration_path(model)
            try:
                other_cals[k] = ReadingCalibration.load(path, model) if path.is_file() else None
            except ModelError as exc:
                print(f"bench_decoding: {exc}", file=sys.stderr)
                return 2
    elif fusion and args.fake:
        other_cals = [cal] * n_others

    def low_greedy(results, i):
        return results["greedy"][i].confidence < args.fusion_threshold

    runs: Dict[str, Tuple[SetRun, List[str]]] = {}
    for source in sorted({s.source for s in samples}):
        subset = [s for s in samples if s.source == source]
        runs[source] = (run_set(rec, decoders, [s.crop for s in subset], keep=low_greedy if fusion else None),
                        [s.text for s in subset])
    if args.fit_calibration:
        return fit_calibration(args, runs, decoders, {k: len(r[1]) for k, r in runs.items()})

    report: Dict = {"config": {"alpha": args.alpha, "beta": args.beta, "lm_floor": lm_floor, "beam": args.beam, "split": args.split,
                               "zh_seed": args.zh_seed, "fake": args.fake, "lm": args.lm or "shipped",
                               "calibration": cal_note}, "sets": {}}
    for source, (run, refs) in runs.items():
        subset = [s for s in samples if s.source == source]
        n = len(refs)
        entry: Dict = {"lines": n, "model_ms_per_line": 1000 * run.model_s / n}
        for name in decoders:
            hyps = [r.text for r in run.results[name]]
            groups_args = dict(min_cjk_chars=cal.min_cjk_chars if cal else DEFAULT_MIN_CJK_CHARS, kind=name,
                               long_cjk_chars=cal.long_cjk_chars if cal else None)
            outs = outcomes(run.results[name], refs, source == "sroie", **groups_args)
            # what each line's map reads (the decoder's score, or greedy's weakest character)
            inputs = [line_input(cal.line_scores, r.decoder or name, r.confidence, list(r.char_scores))
                      for r in run.results[name]] if cal else None
            # SROIE transcripts are capitals only: the case-insensitive CER is the fair one there.
            entry[name] = {"cer": cer(refs, hyps), "cer_case_insensitive": cer_case_insensitive(refs, hyps),
                           "line_acc": float(np.mean([h == r for h, r in zip(hyps, refs)])),
                           "decode_ms_per_line": 1000 * run.decode_s[name] / n,
                           "calibration": calibration_report(name, outs, cal, inputs)}
        g, b = entry["greedy"], entry["beam_lm"]
        entry["beam_lm_vs_greedy"] = {
            "cer_relative_reduction": (g["cer"] - b["cer"]) / g["cer"] if g["cer"] > 0 else 0.0,
            "cer_case_insensitive_relative_reduction": ((g["cer_case_insensitive"] - b["cer_case_insensitive"])
                                                        / g["cer_case_insensitive"] if g["cer_case_insensitive"] > 0 else 0.0),
            "total_time_ratio": (entry["model_ms_per_line"] + b["decode_ms_per_line"])
            / max(1e-9, entry["model_ms_per_line"] + g["decode_ms_per_line"])}
        if fusion:
            others = ([FakeRecognizer(charset, args.seed + 1 + k) for k in range(n_others)] if args.fake
                      else [load_recognizer(m, args.threads) for m in args.fusion_model])
            low = sorted(run.kept)
            if low:
                t2, p_others = 0.0, []
                for other in others:
                    p, t = predict(other, [subset[i].crop for i in low])
                    p_others.append(p)
                    t2 += t
                fused = [average_posteriors([run.kept[i]] + [p[j] for p in p_others]) for j, i in enumerate(low)]
                lrefs = [refs[i] for i in low]
                before = [run.results["greedy"][i].text for i in low]
                # the same lines by beam + LM without the other models: what fusion must beat to help "further"
                mine = [run.results["beam_lm"][i] for i in low]
                before_lm = [r.text for r in mine]
                after, _, _ = run_decoder(decoders["greedy"], fused)
                after_lm, _, _ = run_decoder(decoders["beam_lm"], fused)
                # aligned voting (ROVER) over each model's own beam + LM reading, weighted by its confidence:
                # with two models each disputed slot goes to the surer one, so a second model that is
                # worse on some text (and knows it) is outvoted there rather than averaged in; with three or
                # more, agreeing models outvote a sure but lone one (calibrated confidences when every model
                # has its map: raw scores of two models need not mean the same)
                theirs = [decode_lines(decoders["beam_lm"], p) for p in p_others]
                calibrated_vote = cal is not None and all(c is not None for c in other_cals)

                def weight(c: Optional[ReadingCalibration], r: DecodeResult) -> float:
                    conf = c.line("beam_lm", r.text, r.confidence, list(r.char_scores)) if calibrated_vote else r.confidence
                    return max(conf, 1e-3)

                voted = [vote_texts([(a.text, weight(cal, a))] + [(t[j].text, weight(c, t[j])) for t, c in zip(theirs, other_cals)])[0]
                         for j, a in enumerate(mine)]
                other_lm = [[r.text for r in t] for t in theirs]
                readings = [("before", before), ("beam_lm_before", before_lm), ("fused_greedy", after),
                            ("fused_beam_lm", after_lm), ("second_model_beam_lm", other_lm[0]), ("voted_beam_lm", voted)]
                entry["fusion"] = {"low_conf_lines": len(low), "models": 1 + len(others),
                                   "cer_before": cer(lrefs, before), "cer_beam_lm_before": cer(lrefs, before_lm),
                                   "cer_fused_greedy": cer(lrefs, after), "cer_fused_beam_lm": cer(lrefs, after_lm),
                                   "cer_second_model_beam_lm": cer(lrefs, other_lm[0]),
                                   "cer_other_models_beam_lm": [cer(lrefs, o) for o in other_lm],
                                   "cer_voted_beam_lm": cer(lrefs, voted),
                                   "vote_weights": "calibrated" if calibrated_vote else "raw",
                                   "cer_case_insensitive": {k: cer_case_insensitive(lrefs, v) for k, v in readings},
                                   "extra_model_ms_per_fused_line": 1000 * t2 / len(low)}
        report["sets"][source] = entry

    text = json.dumps(report, indent=1, ensure_ascii=False)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    for source, e in report["sets"].items():
        print(f"\n{source}: {e['lines']} lines, model {e['model_ms_per_line']:.1f} CPU ms/line; calibration {cal_note}",
              file=sys.stderr)
        for name in decoders:
            d = e[name]
            c = d["calibration"]
            ln, wd = c["line"], c["word"]
            after = (f" -> {ln['ece_calibrated']:.3f} (words {wd.get('ece_raw', float('nan')):.3f} -> "
                     f"{wd.get('ece_calibrated', float('nan')):.3f})") if "ece_calibrated" in ln else ""
            print(f"  {name:8s} CER {d['cer']:.4f} (case-insens. {d['cer_case_insensitive']:.4f})  line acc {d['line_acc']:.3f} (right {ln['accuracy']:.3f})  "
                  f"decode {d['decode_ms_per_line']:.2f} CPU ms/line  line ECE {ln['ece_raw']:.3f}{after}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
