"""Real Chinese running text rendered clean in every Chinese face of the catalogue, training and held-out:
separates "the model has not seen this face" from "the model has not seen these characters".

    python benchmarks/bench_zh_faces.py --lines 300 --threads 2 --out results/zh_faces.json

Texts: the first --lines clauses of `bench_decoding.zh_real_texts` (held out of the LM corpus; the same
ones the decoding benchmark reads), each rendered whole by `bench_decoding.render_line` in each face
(`ocrforge.data.fonts.available_fonts`), greedy decoding, CER per face; a face reads only the texts it has
every glyph of (Droid Sans Fallback, CJK only, reads the ASCII-free ones).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=300)
    ap.add_argument("--model", help="recognizer ONNX (default: the shipped one)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--faces", nargs="*", help="only faces whose name contains one of these")
    ap.add_argument("--out")
    args = ap.parse_args(argv)

    from ocrforge.data.fonts import available_fonts
    from ocrforge.postprocess.ctc import GreedyDecoder
    from ocrforge.recognition.predictor import DEFAULT_MODEL, TextRecognizer

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_decoding import cer, render_line, zh_real_texts

    rec = TextRecognizer(args.model or DEFAULT_MODEL, threads=args.threads, calibration="none")
    greedy = GreedyDecoder(rec.charset)
    texts = [rec.charset.normalize(t) for t in zh_real_texts(args.lines)]
    texts = [t for t in texts if rec.charset.covers(t)]
    rows = []
    for face in available_fonts(None, ("zh",)):
        if args.faces and not any(f in face.name for f in args.faces):
            continue
        # a face that lacks a glyph draws a box (Droid Sans Fallback has no ASCII at all): such a line
        # measures the font, not the reader, so each face reads only the texts it covers
        mine = [t for t in texts if face.covers(t)]
        if not mine:
            continue
        hyps = [r.text for r in rec.recognize([render_line(t, face.path, index=face.index) for t in mine], greedy)]
        row = {"face": face.name, "style": face.style, "held_out": face.held_out, "lines": len(mine),
               "cer": round(cer(mine, hyps), 4)}
        rows.append(row)
        print(json.dumps(row, ensure_ascii=False), flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    return 0 if rows else 1


if __name__ == "__main__":
    raise SystemExit(main())
