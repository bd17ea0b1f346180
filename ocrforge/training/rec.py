"""Recognition training: CRNN + CTC on synthetic and real lines, on CPU or CUDA, resumable.

    ocrforge train rec --config configs/rec_mobilenetv3_small.yaml [--resume]

Batches follow the batch_size x sequence_length ≈ tokens_per_batch rule: lines are bucketed by
width and each batch takes as many lines of one bucket as fit the token budget. Real lines whose
transcripts are case-folded (SROIE) get a case-folded CTC loss: upper and lower case of a letter
share probability mass, so the model is not taught to write lower-case print as capitals.
"""

from __future__ import annotations

import csv
import json
import math
import random
import sys
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from ..data.real_augment import LineAugment, build_real_line_augment
from ..data.rec_datasets import LmdbLines, open_line_sources
from ..postprocess.ctc import greedy_decode
from ..recognition.charset import Charset, load_charset
from ..recognition.model import CRNN, build_model
from ..recognition.preprocess import pad_batch
from .rec_config import RecTrainConfig
from .run import ScalarLog, StopOnSignal, add_run_arguments, init_weights_from, load_run_config, save_checkpoint


# ------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------


def bucket_of(width: int, cfg: RecTrainConfig) -> int:
    """The width bucket a line belongs to: its width rounded up to bucket_width, capped at max_width."""
    return min(cfg.max_width, int(math.ceil(width / cfg.bucket_width) * cfg.bucket_width))


def batch_size_for(width: int, cfg: RecTrainConfig, width_stride: int) -> int:
    """Lines of this (bucket) width per batch: batch x frames ~ tokens_per_batch, capped at max_batch."""
    return max(1, min(cfg.max_batch, cfg.tokens_per_batch // max(1, width // width_stride)))


class BucketSampler:
    """Endless stream of (source, [records]) batches, one width bucket per batch."""

    def __init__(self, records: List[Tuple[int, int, int, str, dict]], cfg: RecTrainConfig, rng: random.Random,
                 width_stride: int = 4):
        self.cfg = cfg
        self.width_stride = width_stride
        self.rng = rng
        self.buckets: Dict[int, List] = {}
        for rec in records:
            self.buckets.setdefault(bucket_of(rec[2], cfg), []).append(rec)
        self.keys = sorted(self.buckets)
        self.sizes = [len(self.buckets[k]) for k in self.keys]
        self.queues: Dict[int, List] = {k: [] for k in self.keys}
        self.total = sum(self.sizes)

    def batch_size(self, width: int) -> int:
        return batch_size_for(width, self.cfg, self.width_stride)

    def next(self) -> List:
        width = self.rng.choices(self.keys, self.sizes)[0]
        n = self.batch_size(width)
        q = self.queues[width]
        out = []
        while len(out) < n:
            if not q:
                q.extend(self.buckets[width])
                self.rng.shuffle(q)
                if len(q) < n - len(out) and len(q) == len(out):  # bucket smaller than a batch
                    break
            out.append(q.pop())
            if len(out) >= len(self.buckets[width]):
                break
        return out


class OnlineSynthBatches(torch.utils.data.IterableDataset):
    """Endless width-bucketed batches of freshly rendered lines: one LineSynthesizer per DataLoader
    worker, so a many-core machine feeds a GPU without LMDB shards written ahead.

    Worker w of n renders sample indices first_index + w, + w + n, ...; a resumed run passes a
    first_index past the samples already seen, so it does not replay them."""

    def __init__(self, cfg: RecTrainConfig, width_stride: int, first_index: int):
        self.cfg = cfg
        self.width_stride = width_stride
        self.first_index = first_index

    def __iter__(self):
        import cv2

        from ..data.corpus import DEFAULT_MIX
        from ..data.synth_lines import LineSynthConfig, LineSynthesizer

        cv2.setNumThreads(1)  # one process per core already; OpenCV's own pool would oversubscribe
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        kinds = self.cfg.synth_kinds
        mix = {k: v for k, v in DEFAULT_MIX.items() if kinds is None or k in kinds}
        synth = LineSynthesizer(LineSynthConfig(mix=mix, seed=self.cfg.seed, texts=self.cfg.synth_texts,
                                                hard_ratio=self.cfg.synth_hard_ratio,
                                                small_print_ratio=self.cfg.synth_small_print_ratio))
        buckets: Dict[int, List] = {}
        index = self.first_index + wid
        while True:
            s = synth.sample(index)
            index += nw
            b = bucket_of(s.image.shape[1], self.cfg)
            bucket = buckets.setdefault(b, [])
            bucket.append(s)
            if len(bucket) >= batch_size_for(b, self.cfg, self.width_stride):
                x, widths = pad_batch([ln.image[:, : self.cfg.max_width] for ln in bucket])
                yield x, widths, [ln.text for ln in bucket], [{"kind": ln.kind, "hard": ln.hard} for ln in bucket]
                buckets[b] = []


class LineBatch(NamedTuple):
    x: torch.Tensor  # (N, 1, 32, W) float
    widths: List[int]
    labels: List[List[int]]
    casefold: torch.Tensor  # (N,) bool: transcripts without case (SROIE)
    texts: List[str]
    metas: List[dict]
    real: bool  # drawn from the real sources (else synthetic)


class LineMix:
    """Synthetic and real line sources mixed by batch ratio."""

    def __init__(self, cfg: RecTrainConfig, charset: Charset, rng: random.Random, width_stride: int = 4,
                 first_index: int = 0, pin_memory: bool = False):
        self.cfg = cfg
        self.width_stride = width_stride
        self.charset = charset
        self.rng = rng
        self.sources: List[LmdbLines] = []
        self.online = None
        if cfg.synth_online_workers > 0:
            loader = torch.utils.data.DataLoader(
                OnlineSynthBatches(cfg, width_stride, first_index), batch_size=None,
                num_workers=cfg.synth_online_workers, prefetch_factor=4, persistent_workers=True,
                pin_memory=pin_memory, multiprocessing_context="spawn")  # spawn: safe beside an initialised CUDA
            self.online = iter(loader)
            self.echo_pool: List = []
            self.synth = None
        else:
            # no synthetic source at all: a fine-tune on real lines only (training.finetune)
            self.synth = self._load(cfg.synth, cfg.synth_kinds) if cfg.synth else None
        self.real = self._load(cfg.real) if cfg.real else None
        if self.online is None and self.synth is None and self.real is None:
            raise ValueError("no training lines: give synth or real line LMDBs")
        self.real_augment = build_real_line_augment(cfg.real_augment) if cfg.real_augment > 0 else None

    def close(self) -> None:
        """Stop the rendering workers while the interpreter is whole (left to garbage collection at
        exit, they die mid-teardown with 'terminate called without an active exception')."""
        if self.online is not None:
            shutdown = getattr(self.online, "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()
            self.online = None

    def describe(self) -> str:
        synth = (f"synthetic lines rendered online by {self.cfg.synth_online_workers} workers" if self.online is not None
                 else f"{self.synth.total} synthetic lines" if self.synth is not None else "no synthetic lines")
        return synth + (f", {self.real.total} real lines" if self.real else "")

    def _usable(self, text: str, width: int, meta: dict, kinds) -> bool:
        # `covers`: a line with characters outside the charset would be trained on a wrong label.
        return (bool(self.charset.encode(text)) and self.charset.covers(text) and width <= self.cfg.max_width * 1.25
                and (kinds is None or meta.get("kind") in kinds))

    def _load(self, paths: Sequence[str], kinds=None) -> BucketSampler:
        records = []
        for p in paths:
            for src in open_line_sources(p):
                sid = len(self.sources)
                self.sources.append(src)
                for key, width, text, meta in src.index():
                    if self._usable(text, width, meta, kinds):
                        records.append((sid, key, width, text, meta))
        if not records:
            raise ValueError(f"no usable lines in {list(paths)}")
        return BucketSampler(records, self.cfg, self.rng, self.width_stride)

    def refresh_synth(self) -> None:
        """Pick up shards written since the run started (synthesis runs beside training)."""
        if self.online is not None:
            return
        self.sources = [s for s in self.sources]
        known = {str(s.path) for s in self.sources}
        fresh = []
        for p in self.cfg.synth:
            try:
                for src in open_line_sources(p):
                    if str(src.path) not in known:
                        fresh.append(src)
            except FileNotFoundError:
                pass
        if not fresh:
            return
        records = [r for b in self.synth.buckets.values() for r in b]
        for src in fresh:
            sid = len(self.sources)
            self.sources.append(src)
            records += [(sid, k, w, t, m) for k, w, t, m in src.index() if self._usable(t, w, m, self.cfg.synth_kinds)]
        self.synth = BucketSampler(records, self.cfg, self.rng, self.width_stride)

    def next_batch(self):
        use_real = self.real is not None and (self.rng.random() < self.cfg.real_ratio
                                              or (self.online is None and self.synth is None))
        if self.online is not None and not use_real:
            x, widths, texts, metas = self._next_online()
            x = x if isinstance(x, torch.Tensor) else torch.from_numpy(x)
            labels = [self.charset.encode(t) for t in texts]
            return LineBatch(x, list(widths), labels, torch.zeros(len(texts), dtype=torch.bool), list(texts),
                             list(metas), False)
        recs = (self.real if use_real else self.synth).next()
        return LineBatch(*self.collate(recs, augment=self.real_augment if use_real else None), use_real)

    def _next_online(self):
        """Data echoing (Choi et al., 2019): when rendering cannot keep up with the GPU, a rendered
        batch is reused about `synth_echo` times, drawn at random from the last 64, not in a row."""
        if self.cfg.synth_echo <= 1 or not self.echo_pool or self.rng.random() < 1.0 / self.cfg.synth_echo:
            batch = next(self.online)
            if self.cfg.synth_echo > 1:
                self.echo_pool.append(batch)
                del self.echo_pool[:-64]
            return batch
        return self.rng.choice(self.echo_pool)

    def collate(self, recs, augment: Optional[LineAugment] = None):
        imgs = [self.sources[s].image(k) for s, k, _, _, _ in recs]
        if augment is not None:
            imgs = [augment(img, self.rng) for img in imgs]
        imgs = [img[:, : self.cfg.max_width] for img in imgs]
        x, widths = pad_batch(imgs)
        labels = [self.charset.encode(t) for _, _, _, t, _ in recs]
        casefold = torch.tensor([bool(m.get("casefold")) for *_, m in recs])
        return torch.from_numpy(x), widths, labels, casefold, [t for _, _, _, t, _ in recs], [m for *_, m in recs]


# ------------------------------------------------------------------------------------------
# Losses
# ------------------------------------------------------------------------------------------


def case_fold_index(charset: Charset) -> Tuple[torch.Tensor, torch.Tensor]:
    upper, lower = [], []
    for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if c in charset and c.lower() in charset:
            upper.append(charset.index[c])
            lower.append(charset.index[c.lower()])
    return torch.tensor(upper), torch.tensor(lower)


def freeze_case_split(logits: torch.Tensor, casefold: torch.Tensor,
                      fold_idx: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Same values; for case-folded samples the gradient reaches a letter's two cases equally.

    The folded loss alone gives each case a share of the gradient proportional to its probability,
    so whichever case the model leans to on a real line grows, and SROIE's capitals leaked into
    lower-case print ('ThANk YOU!' after the session-4 fine-tune). With the split detached, real
    lines teach which letter it is and leave the case to the data that knows it.
    """
    upper, lower = (i.to(logits.device) for i in fold_idx)
    zu, zl = logits[:, :, upper], logits[:, :, lower]
    mean = (zu + zl) / 2
    neutral = logits.clone()
    neutral[:, :, upper] = mean + (zu - mean).detach()
    neutral[:, :, lower] = mean + (zl - mean).detach()
    return torch.where(casefold.to(logits.device)[:, None, None], neutral, logits)


def frame_lengths(widths: Sequence[int], frames: int, width_stride: int, device) -> torch.Tensor:
    """Output frames of each line of a padded batch: its own width / stride, at least 1, at most the batch's."""
    return torch.tensor([min(frames, max(1, math.ceil(w / width_stride))) for w in widths], dtype=torch.long,
                        device=device)


def ctc_loss(logits: torch.Tensor, widths: Sequence[int], labels: List[List[int]], casefold: torch.Tensor,
             fold_idx: Tuple[torch.Tensor, torch.Tensor], width_stride: int = 4,
             case_neutral: bool = False) -> torch.Tensor:
    if case_neutral and casefold.any():
        logits = freeze_case_split(logits, casefold, fold_idx)
    logp = F.log_softmax(logits.float(), dim=-1)  # (N, T, C)
    if casefold.any():
        upper, lower = fold_idx
        upper, lower = upper.to(logp.device), lower.to(logp.device)
        merged = torch.logaddexp(logp[:, :, upper], logp[:, :, lower])
        folded = logp.clone()
        folded[:, :, upper] = merged
        logp = torch.where(casefold.to(logp.device)[:, None, None], folded, logp)
        labels = [lab for lab in labels]  # targets of casefold samples are already upper case
    T = logp.shape[1]
    dev = logp.device
    input_lengths = frame_lengths(widths, T, width_stride, dev)
    target_lengths = torch.tensor([len(lab) for lab in labels], dtype=torch.long, device=dev)
    targets = torch.tensor([c for lab in labels for c in lab], dtype=torch.long, device=dev)
    return F.ctc_loss(logp.transpose(0, 1), targets, input_lengths, target_lengths, blank=0,
                      reduction="mean", zero_infinity=True)


class CenterLoss(nn.Module):
    """Pulls each frame's feature toward its predicted character's center (Wen et al., 2016),
    tightening clusters of look-alike characters; only non-blank frames take part."""

    def __init__(self, num_classes: int, feat_dim: int):
        super().__init__()
        self.centers = nn.Parameter(torch.randn(num_classes, feat_dim) * 0.01)

    def forward(self, feats: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        pred = logits.argmax(-1)
        mask = pred != 0
        if not mask.any():
            return feats.sum() * 0.0
        f = feats[mask]
        c = self.centers[pred[mask]]
        return ((f - c) ** 2).sum(-1).mean() / 2


def frame_mask(widths: Sequence[int], frames: int, width_stride: int, device) -> torch.Tensor:
    """(N, T) True on the frames that see a line's pixels rather than the batch's padding."""
    lengths = frame_lengths(widths, frames, width_stride, device)
    return torch.arange(frames, device=device)[None, :] < lengths[:, None]


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor,
                      temperature: float) -> torch.Tensor:
    """KL(teacher || student) of the softened per-frame posteriors, mean over real frames, times T^2
    so its gradient keeps the CTC loss's scale whatever the temperature (Hinton et al., 2015)."""
    t = temperature
    log_s = F.log_softmax(student.float() / t, dim=-1)
    log_t = F.log_softmax(teacher.float() / t, dim=-1)
    kl = (log_t.exp() * (log_t - log_s)).sum(-1)  # (N, T)
    return (kl * mask).sum() / mask.sum().clamp(min=1) * t * t


def load_teacher(path: str, num_classes: int, width_stride: int, device: torch.device) -> CRNN:
    """A frozen recognizer from a checkpoint or a weights archive; refuses one that reads a different
    charset or frame rate, whose posteriors could not be compared frame by frame."""
    from .blend import load_recognizer

    source = Path(path).expanduser()
    if not source.is_file():
        raise ValueError(f"distill_from: no such file {source}")
    teacher = load_recognizer(source)
    if teacher.cfg.num_classes != num_classes or teacher.cfg.width_stride != width_stride:
        raise ValueError(f"distill_from {source.name}: {teacher.cfg.num_classes} classes / stride "
                         f"{teacher.cfg.width_stride}, the student has {num_classes} / {width_stride}")
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.to(device).eval()


# ------------------------------------------------------------------------------------------
# Schedule
# ------------------------------------------------------------------------------------------


def lr_at(step: int, cfg: RecTrainConfig) -> float:
    """Linear warm-up, then cosine annealing with warm restarts (cycle lengths T0, T0*m, ...)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = step - cfg.warmup_steps
    period = cfg.restart_steps
    while t >= period:
        t -= period
        period *= cfg.restart_mult
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t / period))


# ------------------------------------------------------------------------------------------
# Validation
# ------------------------------------------------------------------------------------------


def _cer_counts(pred: str, gt: str) -> Tuple[int, int]:
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(pred, gt), len(gt)


@torch.no_grad()
def evaluate(model: CRNN, source_paths: Sequence[str], charset: Charset, limit: int, device: torch.device,
             casefold: bool = False, batch_tokens: int = 20000) -> Dict[str, float]:
    model.eval()
    records = []
    for p in source_paths:
        for src in open_line_sources(p):
            for key, width, text, meta in src.index():
                if charset.covers(text):
                    records.append((src, key, width, text, meta))
    rng = random.Random(1234)
    if len(records) > limit:
        records = rng.sample(records, limit)
    records.sort(key=lambda r: r[2])
    errs = chars = exact = n = 0
    hard_errs = hard_chars = 0
    i = 0
    while i < len(records):
        bs = max(1, min(256, batch_tokens // max(1, records[i][2] // model.cfg.width_stride)))
        chunk = records[i : i + bs]
        i += bs
        imgs = [src.image(k) for src, k, *_ in chunk]
        x, widths = pad_batch(imgs)
        probs = F.softmax(model(torch.from_numpy(x).to(device)), -1).cpu().numpy()
        for (src, k, w, text, meta), p, wd in zip(chunk, probs, widths):
            pred = greedy_decode(p[: max(1, math.ceil(wd / model.cfg.width_stride))], charset).text
            gt = charset.normalize(text)
            if casefold or meta.get("casefold"):
                pred, gt = pred.upper(), gt.upper()
            e, c = _cer_counts(pred, gt)
            errs += e
            chars += c
            exact += int(pred.strip() == gt.strip())
            n += 1
            if meta.get("hard"):
                hard_errs += e
                hard_chars += c
    model.train()
    out = {"cer": errs / max(1, chars), "acc": exact / max(1, n), "lines": n}
    if hard_chars:
        out["cer_hard"] = hard_errs / hard_chars
        out["cer_clean"] = (errs - hard_errs) / max(1, chars - hard_chars)
    return out


# ------------------------------------------------------------------------------------------
# Checkpoints
# ------------------------------------------------------------------------------------------


def train_mode(model: nn.Module, freeze_bn_stats: bool) -> None:
    """Training mode, with batch-norm layers left in eval mode (running statistics unchanged) if asked."""
    model.train()
    if freeze_bn_stats:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def load_model_from_checkpoint(path: str | Path, map_location="cpu") -> CRNN:
    from ..recognition.model import RecModelConfig

    state = torch.load(path, map_location=map_location, weights_only=False)
    model = CRNN(RecModelConfig.from_dict(state["model_config"]))
    model.load_state_dict(state["model"])
    return model.eval()


# ------------------------------------------------------------------------------------------
# Training loop
# ------------------------------------------------------------------------------------------


def train(cfg: RecTrainConfig, resume: bool = False, log=print) -> Path:
    torch.set_num_threads(cfg.threads)
    device = torch.device("cuda" if cfg.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if cfg.device == "auto" else cfg.device))
    if device.type == "cuda":
        # TF32 matmuls/convolutions: ~2x on Ampere/Hopper at no measurable cost to a CTC recognizer.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = Path(cfg.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    board = ScalarLog(out, cfg.tensorboard)  # first, so a missing package fails before any data is read
    last = out / "last.pt"
    charset = load_charset(cfg.charset)
    model = build_model(cfg.model, num_classes=charset.num_classes, **cfg.model_overrides).to(device)
    center = CenterLoss(charset.num_classes, model.sequence.out_features).to(device) if cfg.center_loss_weight > 0 else None
    params = list(model.parameters()) + (list(center.parameters()) if center else [])
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    step, best, elapsed_before = 0, float("inf"), 0.0
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    if resume and last.exists():
        state = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        if center is not None and state.get("center") is not None:
            center.load_state_dict(state["center"])
        step, best, elapsed_before = state["step"], state["best"], state.get("elapsed", 0.0)
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        log(f"resumed from {last} at step {step}")
    elif resume:
        log(f"no checkpoint at {last}: starting fresh")
    if step == 0 and cfg.init_from:
        log(init_weights_from(model, cfg.init_from))
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    # Online synthesis: start past every sample index an earlier part of the run could have used.
    data = LineMix(cfg, charset, rng, model.cfg.width_stride, first_index=step * 4 * cfg.max_batch,
                   pin_memory=device.type == "cuda")
    log(data.describe() + f"; model {cfg.model} {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params on {device}")
    fold_idx = case_fold_index(charset)
    teacher = (load_teacher(cfg.distill_from, charset.num_classes, model.cfg.width_stride, device)
               if cfg.distill_from and cfg.distill_weight > 0 else None)
    if teacher is not None:
        log(f"distilling from {cfg.distill_from} (weight {cfg.distill_weight}, T={cfg.distill_temperature}, "
            f"{'all' if cfg.distill_real else 'synthetic'} batches)")
    train_mode(model, cfg.freeze_bn_stats)
    t_start = time.time()
    t_ckpt = time.time()
    logf = open(out / "log.csv", "a", newline="")
    valf = open(out / "val.csv", "a", newline="")
    logw, valw = csv.writer(logf), csv.writer(valf)
    seen, t_window, loss_window = 0, time.time(), []

    def checkpoint(path: Path):
        save_checkpoint(path, model=model.state_dict(), optimizer=opt.state_dict(),
                        center=center.state_dict() if center else None, step=step, best=best,
                        rng=rng.getstate(), torch_rng=torch.get_rng_state(), model_config=model.cfg.__dict__,
                        train_config=cfg.to_dict(), charset_version=charset.version,
                        elapsed=elapsed_before + time.time() - t_start)

    # SIGTERM/SIGINT (a stopped session, `kill`, Ctrl-C) end the loop at a step boundary and the run
    # saves last.pt on the way out, so stopping never costs more than the step in flight.
    with StopOnSignal() as signalled:
        while step < cfg.max_steps and not signalled.requested:
            if cfg.max_minutes and (time.time() - t_start) / 60 > cfg.max_minutes:
                break
            for g in opt.param_groups:
                g["lr"] = lr_at(step, cfg)
            batch = data.next_batch()
            x, widths, labels, casefold = batch.x.to(device, non_blocking=True), batch.widths, batch.labels, batch.casefold
            if center is not None:
                logits, feats = model(x, return_features=True)
            else:
                logits = model(x)
            loss = ctc_loss(logits, widths, labels, casefold, fold_idx, model.cfg.width_stride, cfg.case_neutral_fold)
            if center is not None:
                loss = loss + cfg.center_loss_weight * center(feats, logits.detach())
            if teacher is not None and (cfg.distill_real or not batch.real):
                with torch.no_grad():
                    teacher_logits = teacher(x)
                mask = frame_mask(widths, logits.shape[1], model.cfg.width_stride, device)
                loss = loss + cfg.distill_weight * distillation_loss(logits, teacher_logits, mask,
                                                                     cfg.distill_temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            step += 1
            seen += len(widths)
            loss_window.append(loss.item())
            if step % cfg.log_every == 0:
                dt = time.time() - t_window
                row = [step, round(elapsed_before + time.time() - t_start, 1), round(float(np.mean(loss_window)), 4),
                       f"{lr_at(step, cfg):.2e}", round(seen / dt, 1)]
                logw.writerow(row)
                logf.flush()
                log(f"step {row[0]} t={row[1]}s loss={row[2]} lr={row[3]} lines/s={row[4]}")
                board.scalars(step, "train", {"loss": row[2], "lr": lr_at(step, cfg), "lines_per_s": row[4]})
                seen, t_window, loss_window = 0, time.time(), []
            if step % cfg.val_every == 0:
                metrics = {}
                if cfg.val_synth:
                    metrics.update({f"synth_{k}": v for k, v in evaluate(model, [cfg.val_synth], charset, cfg.val_lines, device).items()})
                if cfg.val_real:
                    metrics.update({f"real_{k}": v for k, v in evaluate(model, cfg.val_real, charset, cfg.val_lines, device,
                                                                        casefold=cfg.val_real_casefold).items()})
                score = np.mean([metrics[k] for k in ("synth_cer", "real_cer") if k in metrics]) if metrics else float(np.mean(loss_window or [0]))
                valw.writerow([step, round(elapsed_before + time.time() - t_start, 1), json.dumps(metrics)])
                valf.flush()
                log(f"val step {step}: {json.dumps({k: round(v, 4) for k, v in metrics.items()})}")
                board.scalars(step, "val", metrics)
                train_mode(model, cfg.freeze_bn_stats)  # evaluate() left every layer in training mode
                if score < best:
                    best = score
                    checkpoint(out / "best.pt")
                data.refresh_synth()
                t_window = time.time()
            if time.time() - t_ckpt > cfg.checkpoint_minutes * 60:
                checkpoint(last)
                t_ckpt = time.time()
    checkpoint(last)
    data.close()
    if signalled.requested:
        log(f"stopped by signal at step {step}; saved {last}")
    logf.close()
    valf.close()
    board.close()
    return last


# ------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("rec", help="train a text-line recognizer (CRNN/CTC)")
    add_run_arguments(p, "YAML file of RecTrainConfig fields")
    p.set_defaults(func=_run)


def _run(args) -> int:
    cfg = load_run_config(RecTrainConfig, args, "train rec")
    train(cfg, resume=args.resume, log=lambda m: print(m, flush=True))
    return 0


if __name__ == "__main__":
    # `python -m ocrforge.training.rec ...` is `ocrforge train ...`: one parser, one error handling.
    from ocrforge.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
