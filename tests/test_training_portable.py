"""Training data that travels to a machine without the corpus packages or system fonts (a GPU box):
text banks, font packs, and lines rendered online by DataLoader workers."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ocrforge.data.corpus import LIVE_KINDS, BankedTextSampler, write_text_bank  # noqa: E402
from ocrforge.data.fonts import FONT_PACK_ENV, available_fonts, write_font_pack  # noqa: E402
from ocrforge.recognition.charset import load_charset  # noqa: E402

CS = load_charset()


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    path = tmp_path_factory.mktemp("bank") / "texts.tsv.xz"
    counts = write_text_bank(path, 300, seed=5)
    return path, counts


def test_text_bank_holds_corpus_kinds_and_sampler_draws_live_kinds_too(bank):
    path, counts = bank
    assert sum(counts.values()) == 300
    assert not set(counts) & set(LIVE_KINDS)  # drawn live, never stored
    assert {"zh_news", "en_receipt"} <= set(counts)
    lines = [ln.split("\t") for ln in __import__("lzma").open(path, "rt", encoding="utf-8").read().splitlines()]
    assert len(lines) == 300 and all(len(p) == 2 and p[1] for p in lines)

    sampler = BankedTextSampler(path)
    a = [sampler.sample(random.Random(9)) for _ in range(5)]
    b = [sampler.sample(random.Random(9)) for _ in range(5)]
    assert a == b  # deterministic for a given rng
    kinds = Counter(sampler.sample(random.Random(i))[0] for i in range(400))
    assert kinds["zh_rare"] > 0 and kinds["symbols"] > 0 and kinds["en_receipt"] > kinds["symbols"]
    stored = {p[1] for p in lines}
    drawn = [sampler.sample(random.Random(i)) for i in range(200)]
    assert all(t in stored for k, t in drawn if k not in LIVE_KINDS)


def test_text_bank_rejects_an_empty_or_malformed_file(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("no tab here\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="kind<TAB>text"):
        BankedTextSampler(bad)


def test_font_pack_subsets_faces_and_keeps_catalogue_names(tmp_path, monkeypatch):
    faces = available_fonts(held_out=False, scripts=("latin",))
    if not faces:
        pytest.skip("no catalogue fonts installed")
    files = write_font_pack(tmp_path, "Total 12.50", scripts=("latin",))
    assert len(files) == len(faces)
    assert all(p.stat().st_size < 60_000 for p in files)  # only the asked-for glyphs are kept
    monkeypatch.setenv(FONT_PACK_ENV, str(tmp_path))
    packed = available_fonts(held_out=False, scripts=("latin",))
    assert [f.name for f in packed] == [f.name for f in faces]
    assert all(f.path.startswith(str(tmp_path)) and f.index == 0 for f in packed)
    assert packed[0].covers("Total 12.50") and not packed[0].covers("Zebra")
    assert available_fonts(held_out=False, scripts=("zh",)) == []  # nothing packed for zh


def _online_cfg(tmp_path, bank_path, **kw):
    from ocrforge.training.rec_config import RecTrainConfig

    base = dict(model="crnn_mobilenetv3_small", synth=[], synth_texts=str(bank_path), synth_online_workers=1,
                real=[], val_synth=None, tokens_per_batch=400, max_batch=6, max_steps=3, warmup_steps=1,
                restart_steps=4, val_every=1000, log_every=1, threads=1, out=str(tmp_path / "run"),
                checkpoint_minutes=100)
    base.update(kw)
    return RecTrainConfig(**base)


def test_online_batches_follow_the_bucket_rule_and_do_not_repeat_after_resume(tmp_path, bank):
    from ocrforge.training.rec import OnlineSynthBatches, batch_size_for

    cfg = _online_cfg(tmp_path, bank[0])
    it = iter(OnlineSynthBatches(cfg, width_stride=4, first_index=0))
    batches = [next(it) for _ in range(3)]
    for x, widths, texts, metas in batches:
        assert x.dtype == np.float32 and x.shape[:3] == (len(texts), 1, 32) and x.shape[3] >= max(widths)
        bucket = min(cfg.max_width, -(-max(widths) // cfg.bucket_width) * cfg.bucket_width)
        assert len(texts) == batch_size_for(bucket, cfg, 4)
        assert all(CS.covers(t) for t in texts) and all("kind" in m for m in metas)
    again = next(iter(OnlineSynthBatches(cfg, 4, first_index=0)))
    assert again[2] == batches[0][2]  # same indices, same lines
    later = next(iter(OnlineSynthBatches(cfg, 4, first_index=10_000)))
    assert later[2] != batches[0][2]  # a resumed run starts past the indices already rendered


def test_training_on_online_lines_with_a_worker_process_and_echo(tmp_path, bank):
    from ocrforge.training.rec import train

    cfg = _online_cfg(tmp_path, bank[0], synth_echo=2.0)
    logs = []
    last = train(cfg, log=logs.append)
    assert any("rendered online by 1 workers" in m for m in logs)
    state = torch.load(last, weights_only=False)
    assert state["step"] == 3 and all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
