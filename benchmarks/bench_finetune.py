"""Does a fine-tuned recognizer still read what it did not train on? (`ocrforge train finetune`'s other half.)

    python benchmarks/bench_finetune.py --model RUN/model_int8.onnx [--model OTHER.onnx ...] [--json OUT]

Reads, with each model and the shipped one, the default `auto` decoder and the model's own calibration:
the SROIE eval receipts' lines (ids % 5 == 4; cut at 0 px and at 2 px as ocrbench does; case-insensitive),
the held-out Chinese bill lines (seed 12345) and real Chinese clauses of the decoding benchmark (rendered in a
training face), and clean synthetic lines in the training fonts (what a fine-tune's synthetic batches are drawn
from; seed 77). Prints CER per model and set; none of these lines is in a fine-tune's data unless the user put
it there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_decoding as bd  # noqa: E402


def synthetic_samples(n: int):
    """The lines `train finetune`'s report reads for forgetting (``clean_synthetic_lines``, seed 77); none,
    with a message, where the training fonts are not installed."""
    from ocrforge.training.finetune import clean_synthetic_lines

    try:
        crops, texts = clean_synthetic_lines(n)
    except Exception as exc:  # noqa: BLE001 - no fonts: the other sets still run
        print(f"bench_finetune: no synthetic lines ({exc})", file=sys.stderr)
        return []
    return [bd.Sample("synth", text, crop) for crop, text in zip(crops, texts)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", default=[], help="a recognizer .onnx (repeat); the shipped one is always read")
    ap.add_argument("--sroie", type=Path, default=Path("/work/shared/data/sroie"))
    ap.add_argument("--zh-lines", type=int, default=1000, help="held-out Chinese bill lines (seed 12345)")
    ap.add_argument("--zh-real-lines", type=int, default=1000)
    ap.add_argument("--synth-lines", type=int, default=300, help="clean synthetic lines in the training fonts (seed 77)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the table here")
    args = ap.parse_args(argv)

    from ocrforge.postprocess.beam import DecoderOptions, make_decoder
    from ocrforge.recognition.charset import load_charset
    from ocrforge.recognition.predictor import TextRecognizer

    for m in args.model:
        if not Path(m).is_file():
            print(f"bench_finetune: model not found: {m}", file=sys.stderr)
            return 2
    cs = load_charset()
    split = bd.parse_split("mod:5:4")
    sets = {}
    if (args.sroie / "box").is_dir():
        sets["sroie_eval_0px"] = (bd.sroie_samples(args.sroie, split, 100000, cs, True, pad=0), True)
        sets["sroie_eval_2px"] = (bd.sroie_samples(args.sroie, split, 100000, cs, True, pad=2), True)
    if args.zh_lines > 0:
        sets["zh_bills"] = (bd.rendered_samples("zh", bd.zh_texts(args.zh_lines), cs, False), False)
    if args.zh_real_lines > 0:
        sets["zh_real"] = (bd.rendered_samples("zh_real", bd.zh_real_texts(args.zh_real_lines), cs, False), False)
    if args.synth_lines > 0:
        samples = synthetic_samples(args.synth_lines)
        if samples:
            sets["synth_train_fonts"] = (samples, False)
    table = {}
    for name in ["shipped", *args.model]:
        rec = TextRecognizer(None if name == "shipped" else name, threads=args.threads)
        decoder = make_decoder(rec.charset, DecoderOptions(kind="auto"))
        for set_name, (samples, casefold) in sets.items():
            t = time.perf_counter()
            hyps = [r.text for r in rec.recognize([x.crop for x in samples], decoder=decoder)]
            refs = [x.text for x in samples]
            value = round(100 * (bd.cer_case_insensitive if casefold else bd.cer)(refs, hyps), 2)
            table.setdefault(name, {})[set_name] = {"lines": len(samples), "cer_percent": value}
            print(f"{name}\t{set_name}\t{len(samples)} lines\tCER {value:.2f} %\t{time.perf_counter() - t:.0f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
