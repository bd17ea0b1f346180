"""FP32 vs INT8 recognizer: same greedy text (parity), CER of each, lines/s — on SROIE dev crops, and on
rendered Chinese lines (bill lines and real running text, as in bench_decoding).

    python benchmarks/bench_rec_quant.py --fp32 ocrforge/models/rec_crnn_mobilenetv3_small.onnx \
        --int8 ocrforge/models/rec_crnn_mobilenetv3_small_int8.onnx \
        --lines ~/.cache/ocrforge/data/sroie_val_lines --limit 100000 --zh-lines 1000 --threads 2

`--lines` is a line LMDB (`ocrforge data prepare --kind sroie --split mod:5:4`); SROIE labels are capitals,
so SROIE CER is case-insensitive. Chinese sets: bills = Faker/template lines (seed 12345), real = clauses the
LM corpus holds out, both rendered whole in Noto Sans CJK SC. The two models read each set alternately, three
times, and the best time counts (the machine's speed drifts). The issue's ship rule: INT8 only if the greedy
text is identical on >= 99 % of dev lines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fp32", required=True)
    ap.add_argument("--int8", required=True)
    ap.add_argument("--lines", default="~/.cache/ocrforge/data/sroie_val_lines")
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--zh-lines", type=int, default=0, help="also this many rendered Chinese bill and real lines each")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out")
    args = ap.parse_args(argv)

    from ocrforge.data.rec_datasets import open_line_sources
    from ocrforge.postprocess.ctc import GreedyDecoder
    from ocrforge.recognition.predictor import TextRecognizer

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_decoding import cer, cer_case_insensitive, rendered_samples, zh_real_texts, zh_texts

    models = {name: TextRecognizer(path, threads=args.threads, calibration="none")
              for name, path in (("fp32", args.fp32), ("int8", args.int8))}
    greedy = GreedyDecoder(models["fp32"].charset)
    sets = {}
    if args.limit > 0:
        src = open_line_sources(args.lines)[0]
        recs = src.index()[: args.limit]
        sets["sroie"] = ([src.image(k) for k, *_ in recs], [t for _, _, t, _ in recs], True)
    if args.zh_lines > 0:
        for name, texts in (("zh_bills", zh_texts(args.zh_lines)), ("zh_real", zh_real_texts(args.zh_lines))):
            samples = rendered_samples(name, texts, models["fp32"].charset, fake=False)
            sets[name] = ([s.crop for s in samples], [s.text for s in samples], False)
    out = {}
    for set_name, (imgs, gts, casefold) in sets.items():
        error_rate = cer_case_insensitive if casefold else cer
        row = {"lines": len(imgs)}
        texts, best = {}, {}
        for r in models.values():
            r.recognize(imgs[:16], greedy)  # warm-up
        for _ in range(args.repeats):
            for name, r in models.items():
                t = time.perf_counter()
                texts[name] = [x.text for x in r.recognize(imgs, greedy)]
                best[name] = min(best.get(name, 1e9), time.perf_counter() - t)
        for name in models:
            row[name] = {"cer": round(error_rate(gts, texts[name]), 4), "lines_per_s": round(len(imgs) / best[name], 1)}
        row["same_text"] = round(sum(a == b for a, b in zip(texts["fp32"], texts["int8"])) / max(1, len(imgs)), 4)
        out[set_name] = row
        print(set_name, json.dumps(row), flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
