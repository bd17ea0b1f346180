"""How far the LM may push against the image: the `auto` decoder with a floor on the LM's per-character
log-probability (`BeamConfig.lm_floor`), swept, beside greedy.

    python benchmarks/bench_lm_floor.py --sets tune --floors none,-6,-7,-8,-9,-10      # choose here
    python benchmarks/bench_lm_floor.py --sets heldout --floors none,-8,-9,-10         # then check here

`tune` holds training-side data only: 1,500 synthetic lines with Chinese in them, in the *training* faces
(seed 31337, the synthesizer's kind mix, 12 % hard), SROIE ids % 5 == 1 (first 1,500 crops), 1,000 seed-2024
bill lines and 1,000 real clauses past the 2,000 evaluation ones (bench_decoding's fit sets). `heldout` holds
the evaluation sets: `zh_heldout` (held-out faces, benchmarks/make_line_sets.py; its crops here are the whole
line image less 6 px of its 8-px margin), SROIE ids % 5 == 4 (all crops, 0 px), seed-12345 bill lines and the
993 evaluation clauses. CER in %, SROIE case-insensitive; synthetic sets also split into uniform-GB2312 lines
(`zh_rare`) and the rest. Posteriors are computed once per set (one thread) and decoded with every floor.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_decoding as bd  # noqa: E402
from ocrforge.postprocess.beam import BeamConfig, BeamSearchDecoder, SelectiveLMDecoder  # noqa: E402
from ocrforge.postprocess.ctc import GreedyDecoder, decode_lines  # noqa: E402
from ocrforge.postprocess.lm import load_lm  # noqa: E402
from ocrforge.postprocess.synthetic import cer  # noqa: E402
from ocrforge.recognition.charset import load_charset  # noqa: E402

SROIE = ROOT.parent / "shared" / "data" / "sroie"


def training_face_lines(count: int, seed: int = 31337):
    from ocrforge.data.synth_lines import LineSynthConfig, LineSynthesizer

    syn = LineSynthesizer(LineSynthConfig(seed=seed, hard_ratio=0.12))
    texts, crops, kinds, i = [], [], [], 0
    while len(texts) < count:
        s = syn.sample(i)
        i += 1
        if any("\u4e00" <= ch <= "\u9fff" for ch in s.text):
            texts.append(s.text), crops.append(s.image), kinds.append(s.kind)
    return texts, crops, kinds


def zh_heldout_lines(root: Path):
    import cv2

    tags = json.loads((root / "tags.json").read_text(encoding="utf-8"))
    texts, crops, kinds = [], [], []
    for sid in sorted(tags):
        img = cv2.imread(str(root / "img" / f"{sid}.png"), cv2.IMREAD_GRAYSCALE)
        texts.append((root / "box" / f"{sid}.csv").read_text(encoding="utf-8").strip().split(",", 8)[8])
        crops.append(img[6:-6, 6:-6])
        kinds.append(tags[sid]["kind"])
    return texts, crops, kinds


def sweep(name: str, texts: List[str], probs, floors, lm, charset, kinds: Optional[List[str]] = None) -> Dict:
    score = bd.cer_case_insensitive if name == "sroie" else cer
    greedy = GreedyDecoder(charset)
    row: Dict = {"lines": len(texts), "greedy": 100 * score(texts, [r.text for r in decode_lines(greedy, probs)])}
    rare = np.array([k == "zh_rare" for k in kinds]) if kinds else None
    for floor in floors:
        dec = SelectiveLMDecoder(greedy, BeamSearchDecoder(charset, lm, BeamConfig(lm_floor=floor)))
        hyp = [r.text for r in decode_lines(dec, probs)]
        entry = {"cer": 100 * score(texts, hyp)}
        if rare is not None and rare.any():
            for part, mask in (("zh_rare", rare), ("rest", ~rare)):
                entry[part] = 100 * cer([t for t, m in zip(texts, mask) if m], [h for h, m in zip(hyp, mask) if m])
        row[f"auto floor={floor}"] = entry
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", choices=["tune", "heldout"], default="heldout")
    ap.add_argument("--floors", default="none,-9")
    ap.add_argument("--model", default=None, help="recognizer ONNX (default: the shipped one)")
    ap.add_argument("--bench-data", default="~/.cache/ocrforge/bench")
    ap.add_argument("--synth-lines", type=int, default=1500)
    ap.add_argument("--out", default=None, help="JSON report")
    args = ap.parse_args(argv)
    floors = [None if f.strip().lower() == "none" else float(f) for f in args.floors.split(",")]
    charset, lm = load_charset("v1"), load_lm(None)
    rec = bd.load_recognizer(args.model, 1)
    report: Dict = {"sets": args.sets, "model": args.model or "shipped", "floors": floors, "results": {}}

    def run(name, texts, crops, kinds=None):
        probs, _ = bd.predict(rec, crops)  # one set's posteriors at a time: all four would not fit in memory
        report["results"][name] = row = sweep(name, texts, probs, floors, lm, charset, kinds)
        print(name, json.dumps(row, default=lambda v: round(v, 2)), flush=True)

    if args.sets == "tune":
        run("synth_train_faces", *training_face_lines(args.synth_lines))
        sets = argparse.Namespace(sroie=SROIE, split="mod:5:1", sroie_lines=1500, zh_lines=1000, zh_seed=2024,
                                  zh_real_lines=1000, zh_real_skip=bd.REAL_EVAL_TEXTS)
    else:
        run("zh_heldout", *zh_heldout_lines(Path(args.bench_data).expanduser() / "zh_heldout"))
        sets = argparse.Namespace(sroie=SROIE, split="mod:5:4", sroie_lines=100000, zh_lines=1000, zh_seed=12345,
                                  zh_real_lines=993, zh_real_skip=0)
    samples = bd.load_samples(sets, charset)
    for source in ("sroie", "zh", "zh_real"):
        chosen = [s for s in samples if s.source == source]
        if chosen:
            run(source, [s.text for s in chosen], [s.crop for s in chosen])
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, default=lambda v: round(v, 3)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
