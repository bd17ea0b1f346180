"""``ocrforge train finetune DATA... --out RUN``: the shipped recognizer fine-tuned on your own lines.

One command from labelled data to a model the reader uses (``--rec-model RUN/model_int8.onnx``):

1. read the data as it is: SROIE-style folders (``img/`` + ``box/`` csv), PaddleOCR label files
   (``path<TAB>text``) or line LMDBs (deep-text-recognition-benchmark layout); lines with characters
   outside the charset are counted and left out, never trained on a wrong label;
2. keep ``val_fraction`` of the lines apart (by a hash of source and position, so a resumed run
   and a re-run split the same way) and write both parts as LMDBs in the run folder;
3. train from the shipped weights (``training.base_weights``) on those lines, with a share of
   synthetic lines rendered on the fly so the model keeps what it knew (``synth_ratio``), on the
   usual resumable run (checkpoints every few minutes, ``--resume``);
4. export the best checkpoint (lowest validation CER; with ``blend`` < 1 a point between it and the
   starting weights, ``training.blend``) to ONNX with the shipped INT8 head, fit its
   confidence calibration on the validation lines (``MODEL.calib.json``: the shipped file belongs to
   the shipped model's hash), and read the validation lines with the model the run started from
   (exported and quantized the same way) and the new one: the report says which is better, and how
   both read clean synthetic lines (what was forgotten).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from ..errors import InputError

Log = Callable[[str], None]


@dataclass
class FinetuneOptions:
    sources: List[str]
    out: str
    steps: int = 1000
    val_fraction: float = 0.1
    lr: float = 2e-4
    synth_ratio: float = 0.5  # batches of synthetic lines rendered on the fly (needs the fonts); 0: none
    real_augment: float = 0.5
    # > 0: the synthetic batches also match the base model's own posteriors (knowledge distillation),
    # so what the new lines do not show is forgotten more slowly than with the CTC loss alone
    distill: float = 1.0
    freeze_bn_stats: bool = True  # keep the base model's batch-norm statistics (small CPU batches are noisy)
    # share of the fine-tuned weights in the exported model, the rest the base's (training.blend):
    # part-way back toward the base gives back much of what the fine-tune forgot
    blend: float = 1.0
    casefold: bool = False  # the labels ignore case (SROIE's are all capitals): score and train case-blind
    base: Optional[str] = None  # weights archive (.npz) or training checkpoint; None: the shipped recognizer
    threads: Optional[int] = None  # None: the cores the rendering worker leaves free
    seed: int = 0
    max_minutes: Optional[float] = None
    tokens_per_batch: int = 4000  # a CPU-sized batch (the GPU recipes use 10,000)
    int8: str = "head"  # as the shipped model; "none": FP32 only

    def validate(self) -> "FinetuneOptions":
        if not self.sources:
            raise InputError("give at least one data source (folder, label file or LMDB)")
        if self.steps < 1:
            raise InputError("--steps must be at least 1")
        if not 0.0 < self.val_fraction < 1.0:
            raise InputError("--val-fraction must be between 0 and 1")
        if not 0.0 <= self.synth_ratio < 1.0:
            raise InputError("--synth-ratio must be in [0, 1)")
        if self.distill < 0:
            raise InputError("--distill must be >= 0")
        if not 0.0 < self.blend <= 1.0:
            raise InputError("--blend must be in (0, 1]")
        if self.int8 not in ("head", "dynamic", "none"):
            raise InputError("--int8 must be head, dynamic or none")
        return self


# ------------------------------------------------------------------------------------------
# Data: whatever the user has -> train / val line LMDBs in the run folder
# ------------------------------------------------------------------------------------------


def source_kind(path: Path) -> str:
    """sroie (img/ + box/), lmdb (data.mdb) or paddle (a label file)."""
    if path.is_dir():
        if (path / "data.mdb").is_file() or any(path.glob("*/data.mdb")):  # one LMDB or a folder of shards
            return "lmdb"
        if (path / "img").is_dir() and (path / "box").is_dir():
            return "sroie"
        raise InputError(f"{path}: a folder must hold img/ and box/ (SROIE layout) or data.mdb (a line LMDB)")
    if path.is_file():
        return "paddle"
    raise InputError(f"data not found: {path}")


def iter_source(path: Path, kind: str, seed: int, on_skip=None) -> Iterator[Tuple[np.ndarray, str, dict]]:
    from ..data.rec_datasets import iter_paddle_labels, iter_sroie_lines, open_line_sources

    if kind == "sroie":
        yield from iter_sroie_lines(path, "all", pad_range=(1, 5), seed=seed)
    elif kind == "paddle":
        yield from iter_paddle_labels(path, on_skip=on_skip)
    else:
        for src in open_line_sources(str(path)):
            for key, _, text, meta in src.index():
                yield src.image(key), text, dict(meta)


def in_validation(source: str, index: int, fraction: float) -> bool:
    """A fixed, order-independent split: the same line is always on the same side."""
    return zlib.crc32(f"{source}\0{index}".encode()) % 10000 < fraction * 10000


@dataclass
class PreparedData:
    train: str
    val: str
    train_lines: int
    val_lines: int
    skipped: int  # lines with characters outside the charset (or empty labels)
    missing_chars: List[str] = field(default_factory=list)  # a few of those characters, to show the user
    unreadable: int = 0  # label rows whose image could not be read (or had no text)

    def to_dict(self) -> dict:
        return asdict(self)


def prepare_data(opts: FinetuneOptions, charset, log: Log) -> PreparedData:
    """Split and write the user's lines once; a resumed run with the same sources reuses them."""
    from ..data.rec_datasets import write_line_lmdb

    out = Path(opts.out).expanduser() / "data"
    marker = out / "prepared.json"
    key = {"sources": [str(Path(s).expanduser().resolve()) for s in opts.sources],
           "val_fraction": opts.val_fraction, "seed": opts.seed}
    if marker.is_file():
        done = json.loads(marker.read_text())
        if done.get("key") == key:
            log(f"data: reusing {out} ({done['data']['train_lines']} train / {done['data']['val_lines']} val lines)")
            return PreparedData(**done["data"])
    kinds = [(Path(s).expanduser(), source_kind(Path(s).expanduser())) for s in opts.sources]
    missing, unread, counts = set(), [], {"skipped": 0}

    def lines(part: str):
        """The usable lines of one side of the split, streamed (two passes rather than every image of a
        large data set in memory); the first pass counts what is left out."""
        first = part == "train"
        for path, kind in kinds:
            skip = (lambda row, why: unread.append(f"{row} ({why})")) if first else None
            for i, (img, text, meta) in enumerate(iter_source(path, kind, opts.seed, on_skip=skip)):
                norm = charset.normalize(text).strip()
                if not norm or not charset.covers(norm):
                    if first:
                        counts["skipped"] += 1
                        missing.update(ch for ch in norm if not charset.covers(ch))
                    continue
                if in_validation(str(path), i, opts.val_fraction) == (part == "val"):
                    yield img, norm, (dict(meta, casefold=True) if opts.casefold else meta)

    for part in ("train", "val"):  # a half-written part from a killed run is rewritten whole
        target = out / part
        if target.exists():
            for f in target.iterdir():
                f.unlink()
    written = {part: write_line_lmdb(out / part, lines(part)) for part in ("train", "val")}
    skipped = counts["skipped"]
    if unread:
        log(f"data: {len(unread)} label rows left out, e.g. {'; '.join(unread[:3])}")
    if not written["train"] or not written["val"]:
        raise InputError(f"{written['train']} training and {written['val']} validation lines usable in "
                         f"{', '.join(opts.sources)} ({skipped + len(unread)} left out): need both "
                         "(more data, or another --val-fraction)")
    data = PreparedData(str(out / "train"), str(out / "val"), written["train"], written["val"], skipped,
                        sorted(missing)[:20], len(unread))
    marker.write_text(json.dumps({"key": key, "data": data.to_dict()}, ensure_ascii=False, indent=1))
    log(f"data: {data.train_lines} train / {data.val_lines} val lines"
        + (f"; {skipped} left out (characters outside the charset, e.g. {''.join(data.missing_chars[:10])})" if skipped else ""))
    return data


# ------------------------------------------------------------------------------------------
# Train, export, compare
# ------------------------------------------------------------------------------------------


def train_config(opts: FinetuneOptions, data: PreparedData, base: Path, architecture: str):
    from .rec_config import RecTrainConfig

    return RecTrainConfig(
        model=architecture or "crnn_mobilenetv3_small",
        init_from=str(base),
        synth=[],
        synth_online_workers=1 if opts.synth_ratio > 0 else 0,
        real=[data.train],
        real_ratio=1.0 - opts.synth_ratio,
        real_augment=opts.real_augment,
        case_neutral_fold=opts.casefold,
        distill_from=str(base) if opts.distill > 0 and opts.synth_ratio > 0 else None,  # it needs synthetic batches
        distill_weight=opts.distill,
        freeze_bn_stats=opts.freeze_bn_stats,
        val_synth=None,
        val_real=[data.val],
        val_real_casefold=opts.casefold,
        val_lines=min(1000, data.val_lines),
        tokens_per_batch=opts.tokens_per_batch,
        max_batch=128,
        lr=opts.lr,
        warmup_steps=min(100, max(1, opts.steps // 10)),
        restart_steps=opts.steps,
        restart_mult=1,
        min_lr=opts.lr / 20,
        max_steps=opts.steps,
        max_minutes=opts.max_minutes,
        threads=training_threads(opts),
        checkpoint_minutes=5.0,
        val_every=max(1, min(250, opts.steps // 6)),
        log_every=max(1, min(20, opts.steps // 10)),
        seed=opts.seed,
        out=str(Path(opts.out).expanduser() / "train"),
    )


def training_threads(opts: FinetuneOptions) -> int:
    if opts.threads:
        return opts.threads
    return max(1, (os.cpu_count() or 1) - (1 if opts.synth_ratio > 0 else 0))


def base_path(opts: FinetuneOptions) -> Path:
    from .base_weights import shipped_base_weights

    path = Path(opts.base).expanduser() if opts.base else shipped_base_weights()
    if not path.is_file():
        raise InputError(f"base weights not found: {path}")
    return path


def run_base(source: Path, out: Path) -> Path:
    """The run's own copy of the weights it started from, made when the run starts: distillation after a
    resume and a later ``--blend`` then use those weights even once the package, and the shipped archive
    with it, has been upgraded (blending with another model's weights would be a different, unmeasured model)."""
    copy = out / f"base{source.suffix}"
    if not copy.is_file():
        tmp = copy.with_name(copy.name + ".tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, copy)
    return copy


def base_architecture(path: Path) -> str:
    if path.suffix == ".npz":
        from .base_weights import load_base_weights

        return load_base_weights(path)[0]
    import torch

    return str(torch.load(path, map_location="cpu", weights_only=False).get("train_config", {}).get("model", ""))


VAL_LIMIT = 2000  # validation lines read for the comparison and the calibration fit
CALIBRATED_KINDS = ("greedy", "beam", "beam_lm", "auto")


def _val_lines(val_lmdb: str) -> Tuple[List[np.ndarray], List[str]]:
    from ..data.rec_datasets import LmdbLines

    src = LmdbLines(Path(val_lmdb))
    records = src.index()[:VAL_LIMIT]
    return [src.image(k) for k, *_ in records], [t for _, _, t, _ in records]


def read_crops(model_path: Optional[Path], crops: List[np.ndarray], threads: int, kinds: Tuple[str, ...] = ("auto",)
               ) -> Dict[str, list]:
    """{decoder kind: raw readings} of a recognizer (None: the shipped one); one model pass serves every
    decoder. Chunked as ``TextRecognizer.recognize`` chunks, so the texts are the ones the reader gives
    (decoders see raw scores; calibration only maps confidences)."""
    from ..postprocess.beam import DecoderOptions, make_decoder
    from ..postprocess.ctc import decode_lines
    from ..recognition.predictor import RECOGNIZE_CHUNK, TextRecognizer

    rec = TextRecognizer(str(model_path) if model_path else None, threads=threads, calibration="none")
    decoders = {k: make_decoder(rec.charset, DecoderOptions(kind=k)) for k in kinds}
    readings: Dict[str, list] = {k: [] for k in kinds}
    for i in range(0, len(crops), RECOGNIZE_CHUNK):  # posteriors are large: a chunk at a time
        probs = rec.predict_probs(crops[i:i + RECOGNIZE_CHUNK])
        for k, dec in decoders.items():
            readings[k] += decode_lines(dec, probs)
    return readings


FORGETTING_LINES = 300  # clean synthetic lines in the training faces: seconds to render and read
FORGETTING_SEED = 77


def clean_synthetic_lines(count: int, seed: int = FORGETTING_SEED) -> Tuple[List[np.ndarray], List[str]]:
    """(crops, texts) of ``count`` lines from the line synthesizer in its training faces, without the
    hard-sample degradations: what a fine-tune's synthetic batches are drawn from. Raises where the
    fonts are not installed."""
    from ..data.synth_lines import LineSynthConfig, LineSynthesizer

    synth = LineSynthesizer(LineSynthConfig(seed=seed, hard_ratio=0.0))
    samples = [synth.sample(i) for i in range(count)]
    return [s.image for s in samples], [s.text for s in samples]


@dataclass
class Comparison:
    """The start model and the fine-tuned one on the same lines, each model loaded once."""
    refs: List[str]  # validation references
    readings: Dict[str, list]  # the fine-tuned model's raw readings of them, every CALIBRATED_KINDS decoder
    start_texts: List[str]  # the start model's texts (default decoder) of the same lines
    # the clean synthetic lines in the training faces, read by both ({"start": .., "finetuned": ..}
    # line metrics); None where the fonts are not installed
    synthetic_lines: Optional[Dict[str, dict]]


def compare_models(start: Optional[Path], tuned: Path, val_lmdb: str, threads: int,
                   forgetting_lines: int = FORGETTING_LINES) -> Comparison:
    """Both models read the validation lines and ``forgetting_lines`` clean synthetic lines in one pass
    each: the validation lines say which is better on the user's data, the synthetic ones what the
    fine-tune forgot (what the start model was trained on and the user's data may not show)."""
    crops, refs = _val_lines(val_lmdb)
    try:
        synth_crops, synth_refs = clean_synthetic_lines(forgetting_lines) if forgetting_lines else ([], [])
    except Exception:  # noqa: BLE001 - no fonts: the report simply has no such row
        synth_crops, synth_refs = [], []
    n = len(crops)
    tuned_read = read_crops(tuned, crops + synth_crops, threads, CALIBRATED_KINDS)
    start_texts = [r.text for r in read_crops(start, crops + synth_crops, threads)["auto"]]
    synthetic = None
    if synth_refs:
        synthetic = {"start": line_metrics(synth_refs, start_texts[n:], casefold=False),
                     "finetuned": line_metrics(synth_refs, [r.text for r in tuned_read["auto"][n:]], casefold=False)}
    return Comparison(refs, {k: v[:n] for k, v in tuned_read.items()}, start_texts[:n], synthetic)


def export_model(checkpoint: Path, fp32_path: Path, int8: str, metadata: Dict[str, str]) -> Path:
    """``checkpoint`` as ONNX at ``fp32_path``, then quantized as ``--int8`` says ("none": FP32): the model
    the reader is given."""
    from ..export.onnx_rec import export_recognizer, int8_path, quantize_recognizer

    fp32 = export_recognizer(checkpoint, fp32_path, extra_metadata=metadata)
    return quantize_recognizer(fp32, int8_path(fp32), int8) if int8 != "none" else fp32


def export_start_model(base: Path, chosen: Path, out: Path, int8: str, source: Path) -> Path:
    """The weights the run started from, exported and quantized as the fine-tuned model is, so the two
    are compared like for like (the shipped ONNX is only the start where ``--base`` was not given, and
    its precision need not match ``--int8``)."""
    from .blend import blend_checkpoint

    ckpt = blend_checkpoint(base, chosen, 0.0, out / "start.pt")  # weight 0: the base, in chosen's format
    return export_model(ckpt, out / "start.onnx", int8, {"start_of_finetune": source.name})


def line_metrics(refs: List[str], hyps: List[str], casefold: bool) -> Dict[str, float]:
    """CER and line accuracy of the default decoder's texts (``auto``, as the pipeline reads)."""
    from ..postprocess.synthetic import cer

    if casefold:
        refs, hyps = [r.upper() for r in refs], [h.upper() for h in hyps]
    return {"cer": cer(refs, hyps), "line_accuracy": float(np.mean([r == h for r, h in zip(refs, hyps)])),
            "lines": len(refs)}


def fit_model_calibration(model_path: Path, refs: List[str], readings: Dict[str, list], casefold: bool,
                          log: Log) -> Optional[dict]:
    """Confidence maps for the new model (``MODEL.calib.json``, found by the reader like the shipped
    model's), fitted on its raw ``readings`` of the validation lines (``compare_models``, every
    ``CALIBRATED_KINDS`` decoder): the shipped file names the shipped model's hash and would be refused. The
    ECE it reports is two-fold (maps fitted on one half, measured on the other); the file is then
    fitted on all of them. None (raw scores stay) when the lines cannot support a fit."""
    from ..errors import ConfigError
    from ..postprocess.calibration import _file_sha256, calibration_path, ece, fit_reading_calibration, is_correct

    def fit(idx, **info):
        return fit_reading_calibration([({k: [v[i] for i in idx] for k, v in readings.items()}, [refs[i] for i in idx],
                                         casefold)], **info)

    halves = [list(range(0, len(refs), 2)), list(range(1, len(refs), 2))]
    raw, calibrated, right = [], [], []
    try:
        for a, b in (halves, halves[::-1]):
            cal = fit(a)
            for i in b:
                r = readings["auto"][i]
                raw.append(r.confidence)
                calibrated.append(cal.line(r.decoder or "auto", r.text, r.confidence, list(r.char_scores)))
                right.append(is_correct(r.text, refs[i], casefold))
        cal = fit(range(len(refs)), model=model_path.name, model_sha256=_file_sha256(model_path),
                  fitted_on={"finetune_validation_lines": len(refs)},
                  correct={"line": "the line equals its reference" + (" (case-insensitive)" if casefold else ""),
                           "word": "the output word aligns to an identical reference word"},
                  word_score="min char peak probability")
    except ConfigError as exc:
        log(f"confidences stay raw decoder scores: {exc}")
        return None
    path = cal.save(calibration_path(model_path))
    result = {"file": str(path), "line_ece_auto_raw": ece(np.array(raw), np.array(right)),
              "line_ece_auto_calibrated_two_fold": ece(np.array(calibrated), np.array(right))}
    log(f"calibration {path.name}: line ECE (default decoder, two-fold) {result['line_ece_auto_raw']:.3f} raw -> "
        f"{result['line_ece_auto_calibrated_two_fold']:.3f} calibrated")
    return result


def finetune(opts: FinetuneOptions, resume: bool = False, log: Log = print) -> dict:
    from ..recognition.charset import load_charset
    from ..postprocess.calibration import _file_sha256
    from .blend import blend_checkpoint
    from .rec import train

    opts = opts.validate()
    out = Path(opts.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    source = base_path(opts)
    base = run_base(source, out)
    if opts.synth_ratio > 0:  # before minutes of data preparation, not after
        _check_fonts(log)
    data = prepare_data(opts, load_charset("v1"), log)
    cfg = train_config(opts, data, base, base_architecture(base))
    last = train(cfg, resume=resume, log=log)
    best = Path(cfg.out) / "best.pt"
    chosen = best if best.is_file() else last
    if opts.blend < 1.0:
        chosen = blend_checkpoint(base, chosen, opts.blend, Path(cfg.out) / f"blend_{opts.blend:g}.pt")
        log(f"blended: {opts.blend:g} x fine-tuned + {1 - opts.blend:g} x the starting weights ({base})")
    model = export_model(chosen, out / "model.onnx", opts.int8,
                         {"finetuned_from": f"{source.name} sha256:{_file_sha256(base)}", "blend": f"{opts.blend:g}"})
    log(f"exported {chosen.name} -> {model}")
    threads = opts.threads or os.cpu_count() or 1
    start_model = export_start_model(base, chosen, out, opts.int8, source)
    seen = compare_models(start_model, Path(model), data.val, threads)
    calibration = fit_model_calibration(Path(model), seen.refs, seen.readings, opts.casefold, log)
    after = line_metrics(seen.refs, [r.text for r in seen.readings["auto"]], opts.casefold)
    before = line_metrics(seen.refs, seen.start_texts, opts.casefold)
    report = {
        "options": asdict(replace(opts, sources=[str(s) for s in opts.sources])),
        "data": data.to_dict(),
        "checkpoint": str(chosen),
        "model": str(model),
        "start": {"weights": str(source), "model": str(start_model)},
        "validation": {"start": before, "finetuned": after},
        "calibration": calibration,
        "synthetic_lines": seen.synthetic_lines,
        "better": after["cer"] < before["cer"],
        "minutes": round((time.time() - started) / 60, 1),
    }
    (out / "finetune_report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
    verdict = "better" if report["better"] else "NOT better: keep the model you started from (more data or steps?)"
    log(f"validation CER ({after['lines']} lines): start ({source.name}) {before['cer']:.2%} -> fine-tuned "
        f"{after['cer']:.2%}: {verdict}")
    if seen.synthetic_lines:
        s, f = seen.synthetic_lines["start"]["cer"], seen.synthetic_lines["finetuned"]["cer"]
        log(f"clean synthetic lines in the training faces ({seen.synthetic_lines['start']['lines']}): start {s:.2%} -> "
            f"fine-tuned {f:.2%}" + (" (forgotten; --resume --blend 0.5 or lower gives some back)" if f > s + 0.002 else ""))
    log(f"use it: ocrforge read IMAGE --rec-model {model}")
    return report


def _check_fonts(log: Log) -> None:
    """Synthetic lines need the fonts scripts/install_system_deps.sh installs; say so at once,
    not from inside a rendering worker."""
    from ..data.fonts import require_fonts

    try:
        require_fonts()
    except Exception as exc:  # noqa: BLE001 - whatever is missing, the user's remedy is the same
        raise InputError(f"synthetic lines need the training fonts ({exc}); install them with "
                         "scripts/install_system_deps.sh or pass --synth-ratio 0") from None


# ------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("finetune", help="fine-tune the shipped recognizer on your own labelled lines")
    p.add_argument("sources", nargs="+", metavar="DATA",
                   help="SROIE-style folder (img/, box/), PaddleOCR label file (path<TAB>text) or line LMDB")
    p.add_argument("--out", required=True, help="run folder: data, checkpoints, model.onnx, finetune_report.json")
    p.add_argument("--steps", type=int, default=1000, help="training steps (default 1000: ~45 min on 2 CPU cores)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="lines kept apart to measure the result (0.1)")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--synth-ratio", type=float, default=0.5,
                   help="share of batches of synthetic lines, so the model keeps what it knew (0: none)")
    p.add_argument("--distill", type=float, default=1.0,
                   help="weight of a distillation loss toward the base model on the synthetic batches, so the "
                        "model keeps more of what it read well (0: none; ~+15%% time)")
    p.add_argument("--freeze-bn-stats", action=argparse.BooleanOptionalAction, default=True,
                   help="keep the base model's batch-norm running statistics (default: keep)")
    p.add_argument("--blend", type=float, default=1.0,
                   help="share of the fine-tuned weights in the exported model, the rest the base's "
                        "(1: the fine-tuned model; lower gives back more of what it forgot; with --resume, "
                        "re-exports a finished run)")
    p.add_argument("--casefold", action="store_true", help="labels ignore case (e.g. SROIE's capitals)")
    p.add_argument("--base", help="start from these weights (.npz archive or checkpoint) instead of the shipped ones")
    p.add_argument("--int8", choices=["head", "dynamic", "none"], default="head")
    p.add_argument("--threads", type=int, help="training threads (default: the cores the rendering worker leaves free)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-minutes", type=float, help="stop this invocation after so many minutes (resume later)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out with the same schedule")
    p.set_defaults(func=_run)


def _run(args) -> int:
    opts = FinetuneOptions(sources=list(args.sources), out=args.out, steps=args.steps, val_fraction=args.val_fraction,
                           lr=args.lr, synth_ratio=args.synth_ratio, distill=args.distill,
                           freeze_bn_stats=args.freeze_bn_stats, blend=args.blend, casefold=args.casefold, base=args.base,
                           int8=args.int8, threads=args.threads, seed=args.seed, max_minutes=args.max_minutes)
    finetune(opts, resume=args.resume, log=lambda m: print(m, flush=True))
    return 0
