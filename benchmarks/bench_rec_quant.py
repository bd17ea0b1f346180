"""FP32 vs INT8 recognizer on held-out real lines: same greedy text (parity), CER of each, lines/s.

    python benchmarks/bench_rec_quant.py --fp32 rec.onnx --int8 rec.int8.onnx \
        --lines ~/.cache/ocrforge/data/sroie_val_lines --limit 1000 --threads 2

`--lines` is a line LMDB (`ocrforge data prepare --kind sroie --split mod:5:4`); SROIE labels are capitals,
so CER is case-insensitive. The issue's ship rule: INT8 only if the greedy text is identical on >= 99 %.
"""

from __future__ import annotations

import argparse
import json
import time


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fp32", required=True)
    ap.add_argument("--int8", required=True)
    ap.add_argument("--lines", default="~/.cache/ocrforge/data/sroie_val_lines")
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    from rapidfuzz.distance import Levenshtein

    from ocrforge.data.rec_datasets import open_line_sources
    from ocrforge.recognition.predictor import TextRecognizer

    src = open_line_sources(args.lines)[0]
    recs = src.index()[: args.limit]
    imgs = [src.image(k) for k, *_ in recs]
    gts = [t for _, _, t, _ in recs]
    out = {"lines": len(imgs)}
    texts = {}
    for name, path in (("fp32", args.fp32), ("int8", args.int8)):
        r = TextRecognizer(path, threads=args.threads)
        r.recognize(imgs[:16])  # warm-up
        t = time.perf_counter()
        res = r.recognize(imgs)
        dt = time.perf_counter() - t
        texts[name] = [x.text for x in res]
        errs = sum(Levenshtein.distance(p.upper(), g.upper()) for p, g in zip(texts[name], gts))
        out[name] = {"cer_ci": round(errs / max(1, sum(map(len, gts))), 4), "lines_per_s": round(len(imgs) / dt, 1)}
    out["same_text"] = round(sum(a == b for a, b in zip(texts["fp32"], texts["int8"])) / max(1, len(imgs)), 4)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
