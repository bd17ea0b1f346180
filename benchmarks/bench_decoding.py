"""Decoding benchmark: greedy vs beam vs beam+LM (CER, decode time), fusion gain, calibration ECE.

    OMP_NUM_THREADS=1 python benchmarks/bench_decoding.py \
        --sroie /work/shared/data/sroie --split mod:5:4 --zh-lines 300 [--model rec.onnx] \
        [--fusion-model rec_other.onnx] [--lm ocrforge/models/lm_zh_en.bin] [--out results.json]

Data: SROIE line crops (axis-aligned box of each annotated quad; the receipts whose integer id
satisfies ``id % M == R`` for ``--split mod:M:R``) and synthetic Chinese lines rendered with the
installed CJK fonts (texts from Faker zh_CN + receipt templates with a seed the LM corpus does
not use). ``--fake`` replaces the recognizer by synthetic posteriors with look-alike confusions, to
check the script itself (the test suite runs it that way).

Calibration: a temperature is fitted on even-indexed lines (correct = exact line match) and ECE
is reported on odd-indexed ones, before and after, with the threshold table (accuracy vs kept).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ocrforge.postprocess.beam import BeamConfig, BeamSearchDecoder, SelectiveLMDecoder  # noqa: E402
from ocrforge.postprocess.calibration import TemperatureCalibrator, ece, threshold_table  # noqa: E402
from ocrforge.postprocess.ctc import GreedyDecoder  # noqa: E402
from ocrforge.postprocess.fusion import average_posteriors  # noqa: E402
from ocrforge.postprocess.lm import load_lm  # noqa: E402
from ocrforge.postprocess.synthetic import cer, confuse, spell_posteriors  # noqa: E402
from ocrforge.recognition.charset import load_charset  # noqa: E402


@dataclass
class Sample:
    source: str  # "sroie" | "zh"
    text: str
    crop: object  # uint8 image, or the text itself for --fake


def parse_split(spec: str) -> Tuple[int, int]:
    try:
        kind, m, r = spec.split(":")
        assert kind == "mod"
        return int(m), int(r)
    except (ValueError, AssertionError):
        raise SystemExit(f"bench_decoding: --split must look like mod:5:4, got {spec!r}") from None


def sroie_samples(root: Path, split: Tuple[int, int], limit: int, charset, load_images: bool) -> List[Sample]:
    import cv2

    m, r = split
    out: List[Sample] = []
    for box in sorted((root / "box").glob("*.csv")):
        try:
            if int(box.stem) % m != r:
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
                    x0, y0 = np.floor(pts.min(0)).astype(int)
                    x1, y1 = np.ceil(pts.max(0)).astype(int)
                    x0, y0 = max(x0, 0), max(y0, 0)
                    crop = img[y0:y1, x0:x1]
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


def render_line(text: str, font_path: str, height: int = 40) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(font_path, int(height * 0.75))
    w = int(font.getlength(text)) + height
    im = Image.new("L", (w, height), 255)
    ImageDraw.Draw(im).text((height // 2, height * 0.1), text, font=font, fill=0)
    return np.asarray(im)


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
    return TextRecognizer(model_path=path, threads=threads)


def run_decoder(decoder, probs: List[np.ndarray]) -> Tuple[List[str], List[float], float]:
    """Texts, confidences and the CPU seconds spent (process time: wall clock on a shared
    machine measures the neighbours too)."""
    t0 = time.process_time()
    res = [decoder.decode(p) for p in probs]
    return [r.text for r in res], [r.confidence for r in res], time.process_time() - t0


def predict(rec, crops, batch: int = 16) -> Tuple[List[np.ndarray], float]:
    t0 = time.process_time()  # CPU seconds; run with --threads 1 so this is comparable to decoding
    out: List[np.ndarray] = []
    for i in range(0, len(crops), batch):
        out += rec.predict_probs(crops[i : i + batch])
    return out, time.process_time() - t0


def calibration_report(conf: np.ndarray, correct: np.ndarray) -> Dict:
    fit, held = np.arange(len(conf)) % 2 == 0, np.arange(len(conf)) % 2 == 1
    if fit.sum() < 10 or held.sum() < 10 or correct[fit].all() or not correct[fit].any():
        return {"note": "too few lines (or no errors) to fit a calibration"}
    cal = TemperatureCalibrator.fit(conf[fit], correct[fit])
    after = cal(conf[held])
    return {"temperature": cal.temperature, "bias": cal.bias, "ece_before": ece(conf[held], correct[held]),
            "ece_after": ece(after, correct[held]), "thresholds": threshold_table(after, correct[held])}


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description="greedy vs beam vs beam+LM decoding benchmark")
    ap.add_argument("--sroie", type=Path, default=Path("/work/shared/data/sroie"))
    ap.add_argument("--split", default="mod:5:4")
    ap.add_argument("--sroie-lines", type=int, default=2000)
    ap.add_argument("--zh-lines", type=int, default=300)
    ap.add_argument("--model", default=None, help="recognizer ONNX (default: the shipped one)")
    ap.add_argument("--fusion-model", default=None, help="a second recognizer for fusion on low-confidence lines")
    ap.add_argument("--fusion-threshold", type=float, default=0.8)
    ap.add_argument("--lm", default=None, help="character LM (default: the shipped one)")
    ap.add_argument("--alpha", type=float, default=BeamConfig.alpha)
    ap.add_argument("--beta", type=float, default=BeamConfig.beta)
    ap.add_argument("--beam", type=int, default=BeamConfig.beam_width)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fake", action="store_true", help="synthetic posteriors instead of a recognizer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    charset = load_charset()
    split = parse_split(args.split)
    samples: List[Sample] = []
    if args.sroie_lines > 0 and (args.sroie / "box").is_dir():
        samples += sroie_samples(args.sroie, split, args.sroie_lines, charset, load_images=not args.fake)
    if args.zh_lines > 0:
        font = None if args.fake else find_cjk_font()
        for t in zh_texts(args.zh_lines):
            t = charset.normalize(t)
            if not charset.covers(t):
                continue
            if args.fake:
                samples.append(Sample("zh", t, t))
            elif font:
                samples.append(Sample("zh", t, render_line(t, font)))
    if not samples:
        print("bench_decoding: no samples (check --sroie / --zh-lines)", file=sys.stderr)
        return 2

    rec = FakeRecognizer(charset, args.seed) if args.fake else load_recognizer(args.model, args.threads)
    lm = load_lm(args.lm)
    cfg = BeamConfig(beam_width=args.beam, alpha=args.alpha, beta=args.beta)
    decoders = {"greedy": GreedyDecoder(charset),
                "beam": BeamSearchDecoder(charset, None, BeamConfig(beam_width=args.beam, alpha=0.0, beta=0.0)),
                "beam_lm": BeamSearchDecoder(charset, lm, cfg)}
    decoders["auto"] = SelectiveLMDecoder(decoders["greedy"], decoders["beam_lm"])

    report: Dict = {"config": {"alpha": args.alpha, "beta": args.beta, "beam": args.beam, "split": args.split,
                               "fake": args.fake, "lm": args.lm or "shipped"}, "sets": {}}
    for source in sorted({s.source for s in samples}):
        subset = [s for s in samples if s.source == source]
        refs = [s.text for s in subset]
        probs, t_model = predict(rec, [s.crop for s in subset])
        entry: Dict = {"lines": len(subset), "model_ms_per_line": 1000 * t_model / len(subset)}
        greedy_conf = None
        for name, dec in decoders.items():
            hyps, confs, secs = run_decoder(dec, probs)
            entry[name] = {"cer": cer(refs, hyps), "line_acc": float(np.mean([h == r for h, r in zip(hyps, refs)])),
                           "decode_ms_per_line": 1000 * secs / len(subset)}
            if name == "greedy":
                greedy_conf = np.array(confs)
            correct = np.array([h == r for h, r in zip(hyps, refs)])
            entry[name]["calibration"] = calibration_report(np.array(confs), correct)
        g, b = entry["greedy"], entry["beam_lm"]
        entry["beam_lm_vs_greedy"] = {
            "cer_relative_reduction": (g["cer"] - b["cer"]) / g["cer"] if g["cer"] > 0 else 0.0,
            "total_time_ratio": (entry["model_ms_per_line"] + b["decode_ms_per_line"])
            / max(1e-9, entry["model_ms_per_line"] + g["decode_ms_per_line"])}
        if args.fusion_model or args.fake:
            other = FakeRecognizer(charset, args.seed + 1) if args.fake else load_recognizer(args.fusion_model, args.threads)
            low = [i for i, c in enumerate(greedy_conf) if c < args.fusion_threshold]
            if low:
                p2, t2 = predict(other, [subset[i].crop for i in low])
                fused = [average_posteriors([probs[i], q]) for i, q in zip(low, p2)]
                lrefs = [refs[i] for i in low]
                before, _, _ = run_decoder(decoders["greedy"], [probs[i] for i in low])
                after, _, _ = run_decoder(decoders["greedy"], fused)
                after_lm, _, _ = run_decoder(decoders["beam_lm"], fused)
                entry["fusion"] = {"low_conf_lines": len(low), "cer_before": cer(lrefs, before),
                                   "cer_fused_greedy": cer(lrefs, after), "cer_fused_beam_lm": cer(lrefs, after_lm),
                                   "extra_model_ms_per_fused_line": 1000 * t2 / len(low)}
        report["sets"][source] = entry

    text = json.dumps(report, indent=1, ensure_ascii=False)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    print(text)
    for source, e in report["sets"].items():
        print(f"\n{source}: {e['lines']} lines, model {e['model_ms_per_line']:.1f} CPU ms/line", file=sys.stderr)
        for name in decoders:
            d = e[name]
            print(f"  {name:8s} CER {d['cer']:.4f}  line acc {d['line_acc']:.3f}  decode {d['decode_ms_per_line']:.2f} CPU ms/line",
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
