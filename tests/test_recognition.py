"""Recognition: charset, model family (parametrized over the registry, ONNX round trip), losses,
schedule, resume, synthetic lines, data loaders and the ONNX Runtime predictor."""

from __future__ import annotations

import math
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ocrforge.recognition.charset import build_charset_v1, load_charset, charset_path, SPACE_TOKEN
from ocrforge.recognition.model import REGISTRY, RecModelConfig, build_model
from ocrforge.recognition.preprocess import resize_line

CS = load_charset()


# ------------------------------------------------------------------------------------ charset


def test_charset_file_is_reproducible_and_complete():
    on_disk = [" " if ln == SPACE_TOKEN else ln for ln in charset_path().read_text(encoding="utf-8").split("\n") if ln]
    assert on_disk == build_charset_v1()
    assert CS.num_classes == len(on_disk) + 1
    hanzi = [c for c in on_disk if "\u4e00" <= c <= "\u9fff"]
    assert len(hanzi) == 6763  # all of GB2312
    for ch in "¥￥%℃№×·—…、。，：；！？（）《》【】「」 aZ09":
        assert ch in CS, ch


def test_charset_encode_decode_and_normalize():
    text = "发票金额 ¥12.50 Total"
    assert CS.decode(CS.encode(text)) == text
    assert CS.encode("①")  # in the charset
    assert CS.decode(CS.encode("\u2f00")) == "一"  # Kangxi radical normalizes to the hanzi
    assert 0 not in CS.encode(text)


# ------------------------------------------------------------------------------------ models


def _save_untrained(tmp_path: Path, name: str) -> Path:
    from ocrforge.training.rec import save_checkpoint

    m = build_model(name)
    path = tmp_path / f"{name}.pt"
    save_checkpoint(path, model=m.state_dict(), model_config=m.cfg.__dict__, charset_version="v1", step=0,
                    train_config={"model": name})
    return path


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_registered_model_forward_and_onnx_round_trip(name, tmp_path):
    import onnxruntime as ort

    from ocrforge.export.onnx_rec import export_recognizer
    from ocrforge.recognition.model import SoftmaxExport

    torch.manual_seed(0)
    ckpt = _save_untrained(tmp_path, name)
    from ocrforge.training.rec import load_model_from_checkpoint

    model = load_model_from_checkpoint(ckpt)
    cfg = model.cfg
    x = torch.randn(2, 1, cfg.input_height, 96)
    with torch.no_grad():
        ref = SoftmaxExport(model)(x).numpy()
    assert ref.shape == (2, 96 // cfg.width_stride, CS.num_classes)
    onnx_path = export_recognizer(ckpt, tmp_path / f"{name}.onnx")
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta["ocrforge_task"] == "recognition" and meta["width_stride"] == str(cfg.width_stride)
    got = sess.run(None, {"images": x.numpy()})[0]
    np.testing.assert_allclose(got, ref, atol=1e-4)
    # dynamic width and batch
    x2 = np.random.default_rng(0).standard_normal((3, 1, cfg.input_height, 160)).astype(np.float32)
    assert sess.run(None, {"images": x2})[0].shape == (3, 160 // cfg.width_stride, CS.num_classes)


def test_config_rejects_unknown_options_and_bad_backbone():
    with pytest.raises(ValueError):
        RecModelConfig.from_dict({"backbone": "mobilenetv3_small", "nope": 1})
    with pytest.raises(ValueError):
        build_model("crnn_mobilenetv3_small", backbone="vgg")
    with pytest.raises(ValueError):
        build_model("no_such_model")


def test_tps_starts_as_identity_warp():
    from ocrforge.recognition.transforms import TPS

    tps = TPS(1, height=32).eval()
    x = torch.rand(1, 1, 32, 100)
    with torch.no_grad():
        y = tps(x)
    assert y.shape == x.shape
    assert float((y - x).abs().mean()) < 0.02


def test_cbam_option_adds_attention_and_keeps_shapes():
    from ocrforge.backbones import CBAM

    plain = build_model("crnn_mobilenetv3_small")
    att = build_model("crnn_mobilenetv3_small", cbam=True)
    assert isinstance(att.attention, CBAM) and not isinstance(plain.attention, CBAM)
    x = torch.randn(2, 1, 32, 64)
    assert att(x).shape == plain(x).shape


def test_center_loss_pulls_features_to_centers():
    from ocrforge.training.rec import CenterLoss

    torch.manual_seed(0)
    cl = CenterLoss(5, 4)
    feats = torch.randn(2, 6, 4, requires_grad=True)
    logits = torch.zeros(2, 6, 5)
    logits[..., 3] = 5.0  # every frame predicts class 3 (non-blank)
    opt = torch.optim.SGD([feats], lr=6.0)  # the loss averages over 12 frames
    first = cl(feats, logits).item()
    for _ in range(20):
        opt.zero_grad()
        cl(feats, logits).backward()
        opt.step()
    assert float(cl(feats, logits)) < first * 0.1
    logits_blank = torch.zeros(2, 6, 5)
    logits_blank[..., 0] = 5.0
    assert float(cl(feats, logits_blank)) == 0.0  # blank frames take no part


def test_case_folded_ctc_accepts_lower_case_print_for_capital_labels():
    from ocrforge.training.rec import case_fold_index, ctc_loss

    fold = case_fold_index(CS)
    T = 8
    logits = torch.full((1, T, CS.num_classes), -10.0)
    # the model reads "ab" (lower case) with blanks around: b, a, b, b, blank...
    for t, ch in enumerate(["", "a", "a", "", "b", "", "", ""]):
        logits[0, t, CS.index[ch] if ch else 0] = 10.0
    label = [CS.encode("AB")]
    plain = ctc_loss(logits, [T * 4], label, torch.tensor([False]), fold)
    folded = ctc_loss(logits, [T * 4], label, torch.tensor([True]), fold)
    assert float(folded) < 0.1 < float(plain)


def test_case_neutral_fold_teaches_the_letter_but_not_its_case():
    from ocrforge.training.rec import case_fold_index, ctc_loss

    fold = case_fold_index(CS)
    A, a = CS.index["A"], CS.index["a"]

    def grads(case_neutral, casefold=True):
        torch.manual_seed(0)
        logits = torch.randn(1, 6, CS.num_classes)
        logits[0, :, a] += 2.0  # the model leans to lower case on this crop
        logits.requires_grad_(True)
        loss = ctc_loss(logits, [24], [CS.encode("A")], torch.tensor([casefold]), fold, case_neutral=case_neutral)
        loss.backward()
        return logits.grad[0], float(loss)

    g_shared, loss_shared = grads(False)
    g_neutral, loss_neutral = grads(True)
    assert abs(loss_shared - loss_neutral) < 1e-5  # same loss value, only the gradient differs
    # plain folded loss: the leading case takes more of the push (the split drifts)
    assert not torch.allclose(g_shared[:, A], g_shared[:, a], atol=1e-4)
    # neutral: both cases move together, and the pair still gets pushed up (descent lowers the loss)
    assert torch.allclose(g_neutral[:, A], g_neutral[:, a], atol=1e-6)
    assert float((g_neutral[:, A] + g_neutral[:, a]).sum()) < 0
    # lines whose labels keep their case are untouched by the option
    g_cased, _ = grads(True, casefold=False)
    g_cased_plain, _ = grads(False, casefold=False)
    assert torch.equal(g_cased, g_cased_plain)


def test_lr_schedule_warmup_then_cosine_with_restarts():
    from ocrforge.training.rec import lr_at
    from ocrforge.training.rec_config import RecTrainConfig

    cfg = RecTrainConfig(lr=1e-3, warmup_steps=10, restart_steps=100, restart_mult=2, min_lr=0.0)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(9, cfg) == pytest.approx(1e-3)
    assert lr_at(10, cfg) == pytest.approx(1e-3)
    assert lr_at(60, cfg) == pytest.approx(5e-4)
    assert lr_at(109, cfg) < 1e-5
    assert lr_at(110, cfg) == pytest.approx(1e-3)  # restart; the next cycle is 200 steps
    assert lr_at(210, cfg) == pytest.approx(5e-4)


def test_train_config_yaml(tmp_path):
    from ocrforge.training.rec_config import RecTrainConfig

    p = tmp_path / "c.yaml"
    p.write_text("model: crnn_resnet18\nlr: 0.002\nreal_ratio: 0.5\n")
    cfg = RecTrainConfig.from_yaml(p)
    assert (cfg.model, cfg.lr, cfg.real_ratio) == ("crnn_resnet18", 0.002, 0.5)
    p.write_text("lr: 0.1\nbogus: 1\n")
    with pytest.raises(ValueError):
        RecTrainConfig.from_yaml(p)


# ------------------------------------------------------------------------------------ synthetic data


@pytest.fixture(scope="module")
def synth():
    from ocrforge.data.synth_lines import LineSynthConfig, LineSynthesizer

    return LineSynthesizer(LineSynthConfig(seed=7, hard_ratio=0.3))


def test_synthetic_lines_are_deterministic_and_labelled(synth):
    a, b = synth.sample(3), synth.sample(3)
    assert a.text == b.text and np.array_equal(a.image, b.image)
    samples = [synth.sample(i) for i in range(40)]
    assert all(s.image.shape[0] == 32 and s.image.dtype == np.uint8 for s in samples)
    assert all(s.text and CS.covers(s.text) for s in samples)
    assert any(s.hard for s in samples) and not all(s.hard for s in samples)
    assert any(any("\u4e00" <= c <= "\u9fff" for c in s.text) for s in samples)
    assert any(any(c.isascii() and c.isalpha() for c in s.text) for s in samples)


def test_small_print_lines_keep_text_and_size_but_lose_detail():
    """small_print_ratio renders lines as if printed at 7-14 px and enlarged back: same label, same height,
    far less fine detail; at 0 (every existing config) the samples are exactly what they were."""
    import random

    import cv2

    from ocrforge.data.synth_lines import LineSynthConfig, LineSynthesizer, _small_print

    plain = LineSynthesizer(LineSynthConfig(seed=11, hard_ratio=0.0))
    default = LineSynthesizer(LineSynthConfig(seed=11, hard_ratio=0.0, small_print_ratio=0.0))
    small = LineSynthesizer(LineSynthConfig(seed=11, hard_ratio=0.0, small_print_ratio=1.0))
    for i in range(6):
        a, b, c = plain.sample(i), default.sample(i), small.sample(i)
        assert np.array_equal(a.image, b.image) and a.text == b.text
        assert c.text == a.text and c.image.shape[0] == 32

    line = np.full((48, 400, 3), 240, np.uint8)
    cv2.putText(line, "Small print 0123", (4, 36), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (10, 10, 10), 2)
    detail = lambda img: cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_32F).var()
    out = _small_print(random.Random(0), line, font_size=36)
    assert out.shape == line.shape
    assert detail(out) < 0.5 * detail(line)
    assert np.array_equal(_small_print(random.Random(0), line, font_size=6), line)  # already small: as is

def test_geometric_augmentation_keeps_long_lines_flat(synth):
    """A long line may tilt and slant, but must not grow much taller for its width: the recognizer sees it
    squeezed to 32 px, and a line three times its own height leaves glyphs a few pixels tall (albumentations
    reads a bare shear range as x and y shear, which did exactly that to ~40 % of long lines)."""
    import random

    from ocrforge.data.synth_lines import _rotate

    line = np.full((40, 800, 3), 235, np.uint8)
    line[12:30, 10:790] = 20
    growth = []
    for seed in range(80):
        rng = random.Random(seed)
        out = synth._augment(image=_rotate(line, rng), rng=rng)
        growth.append((out.shape[0] / out.shape[1]) / (line.shape[0] / line.shape[1]))
    assert max(growth) < 1.6, sorted(growth)[-5:]
    assert max(growth) > 1.05  # the rotation and perspective still act


def test_held_out_fonts_are_disjoint_from_training_fonts():
    from ocrforge.data.fonts import available_fonts

    train = {f.name for f in available_fonts(False)}
    held = {f.name for f in available_fonts(True)}
    assert train and held and not (train & held)
    assert {f.style for f in available_fonts(False) if f.script == "zh"} >= {"song", "hei", "kai", "hand"}


def _tiny_lmdb(path: Path, synth, n: int = 24) -> Path:
    from ocrforge.data.synth_lines import write_lmdb

    write_lmdb(path, (synth.sample(i) for i in range(n)))
    (path / "done.json").write_text("{}")
    return path


# ------------------------------------------------------------------------------------ loaders


def test_sroie_paddle_and_lmdb_loaders(tmp_path, synth):
    from ocrforge.data.rec_datasets import LmdbLines, iter_paddle_labels, iter_sroie_lines, prepare_line_lmdb

    root = tmp_path / "sroie"
    (root / "img").mkdir(parents=True)
    (root / "box").mkdir()
    img = np.full((100, 300, 3), 255, np.uint8)
    cv2.putText(img, "TOTAL 1,20", (10, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (0, 0, 0), 2)
    cv2.imwrite(str(root / "img" / "001.jpg"), img)
    (root / "box" / "001.csv").write_text("8,10,200,10,200,50,8,50,TOTAL 1,20\n1,1,1,1,1,1,1,1,\n")
    lines = list(iter_sroie_lines(root))
    assert len(lines) == 1 and lines[0][1] == "TOTAL 1,20" and lines[0][2]["casefold"]
    assert lines[0][0].shape[:2] == (45, 197)  # box + 2 px each side, clipped

    (tmp_path / "p").mkdir()
    cv2.imwrite(str(tmp_path / "p" / "a.png"), img[:60])
    (tmp_path / "p" / "labels.txt").write_text("a.png\t发票 12\nmissing.png\tx\nno tab line\n", encoding="utf-8")
    pl = list(iter_paddle_labels(tmp_path / "p" / "labels.txt"))
    assert [t for _, t, _ in pl] == ["发票 12"]

    n = prepare_line_lmdb("sroie", str(root), str(tmp_path / "lmdb"))
    src = LmdbLines(tmp_path / "lmdb")
    (key, width, text, meta), = src.index()
    assert n == 1 and text == "TOTAL 1,20" and meta["casefold"]
    assert src.image(key).shape == (32, width)


# ------------------------------------------------------------------------------------ training


def test_resume_continues_from_checkpoint_with_same_schedule(tmp_path, synth):
    from ocrforge.training.rec import lr_at, train
    from ocrforge.training.rec_config import RecTrainConfig

    _tiny_lmdb(tmp_path / "synth" / "shard_00000", synth)
    (tmp_path / "synth" / "config.json").write_text("{}")
    cfg = RecTrainConfig(model="crnn_mobilenetv3_small", synth=[str(tmp_path / "synth")], real=[], val_synth=None,
                         tokens_per_batch=400, max_batch=8, max_steps=3, warmup_steps=2, restart_steps=4,
                         val_every=1000, log_every=1, threads=1, out=str(tmp_path / "run"), checkpoint_minutes=100,
                         tensorboard=True)
    logs = []
    last = train(cfg, log=logs.append)
    s1 = torch.load(last, weights_only=False)
    assert s1["step"] == 3
    cfg.max_steps = 5
    logs.clear()
    last = train(cfg, resume=True, log=logs.append)
    assert any("resumed" in m and "step 3" in m for m in logs)
    s2 = torch.load(last, weights_only=False)
    assert s2["step"] == 5
    rows = [r.split(",") for r in (tmp_path / "run" / "log.csv").read_text().splitlines()]
    steps = [int(r[0]) for r in rows]
    assert steps == [1, 2, 3, 4, 5]  # one continuous log, no restart from 0
    assert [float(r[3]) for r in rows] == pytest.approx([lr_at(s, cfg) for s in steps], rel=1e-2)
    # the optimizer state came back: Adam moments exist for the resumed parameters
    assert s2["optimizer"]["state"]
    # TensorBoard holds the same curve at global steps, both invocations' event files together
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    board = EventMultiplexer().AddRunsFromDirectory(str(tmp_path / "run" / "tb"))
    board.Reload()
    loss = sorted((e.step, e.value) for run in board.Runs() for e in board.Scalars(run, "train/loss"))
    assert [step for step, _ in loss] == steps
    assert [value for _, value in loss] == pytest.approx([float(r[2]) for r in rows], rel=1e-4)


def test_distillation_loss_is_zero_on_agreement_and_ignores_padding():
    from ocrforge.training.rec import distillation_loss, frame_mask

    torch.manual_seed(0)
    teacher = torch.randn(2, 10, 7)
    mask = frame_mask([40, 24], 10, 4, "cpu")  # 10 and 6 frames
    assert mask.sum().item() == 16 and not mask[1, 6:].any()
    assert distillation_loss(teacher.clone(), teacher, mask, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    student = teacher.clone().requires_grad_(True)
    with torch.no_grad():
        student[1, 7:] = torch.randn(3, 7) * 5  # different only on the second line's padding
    assert distillation_loss(student, teacher, mask, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    other = torch.randn(2, 10, 7, requires_grad=True)
    loss = distillation_loss(other, teacher, mask, 2.0)
    assert loss.item() > 0.01
    loss.backward()
    assert other.grad[1, 6:].abs().sum() == 0 and other.grad[0].abs().sum() > 0  # padding gets no gradient


def test_distillation_keeps_a_fine_tuned_student_nearer_its_teacher(tmp_path, synth):
    from ocrforge.recognition.preprocess import pad_batch
    from ocrforge.training.rec import (distillation_loss, frame_mask, load_model_from_checkpoint, load_teacher,
                                       save_checkpoint, train)
    from ocrforge.training.rec_config import RecTrainConfig

    _tiny_lmdb(tmp_path / "synth" / "shard_00000", synth)
    (tmp_path / "synth" / "config.json").write_text("{}")
    torch.manual_seed(3)
    teacher_ckpt = _save_untrained(tmp_path, "crnn_mobilenetv3_small")
    latin = build_model("crnn_mobilenetv3_small", num_classes=96)
    save_checkpoint(tmp_path / "latin.pt", model=latin.state_dict(), model_config=latin.cfg.__dict__,
                    charset_version="latin_v1", step=0, train_config={})
    with pytest.raises(ValueError, match="96 classes"):
        load_teacher(str(tmp_path / "latin.pt"), CS.num_classes, 4, torch.device("cpu"))
    # Both runs start from the teacher (a fine-tune); only one is pulled back toward it.
    base = dict(model="crnn_mobilenetv3_small", init_from=str(teacher_ckpt), synth=[str(tmp_path / "synth")], real=[],
                val_synth=None, tokens_per_batch=400, max_batch=8, max_steps=10, warmup_steps=1, restart_steps=10,
                lr=3e-3, val_every=1000, log_every=1, threads=1, checkpoint_minutes=100, seed=1)
    x, widths = pad_batch([synth.sample(100 + i).image for i in range(4)])
    x = torch.from_numpy(x)
    teacher = load_teacher(str(teacher_ckpt), CS.num_classes, 4, torch.device("cpu"))

    def gap_after(name, **kw):
        logs = []
        student = load_model_from_checkpoint(train(RecTrainConfig(out=str(tmp_path / name), **base, **kw),
                                                   log=logs.append))
        with torch.no_grad():
            s, t = student(x), teacher(x)
        return distillation_loss(s, t, frame_mask(widths, s.shape[1], 4, "cpu"), 1.0).item(), logs

    plain, _ = gap_after("plain")
    distilled, logs = gap_after("distilled", distill_from=str(teacher_ckpt), distill_weight=50.0,
                                distill_temperature=1.0)
    assert any(m.startswith("distilling from") and "synthetic batches" in m for m in logs)
    assert plain > 0.0 and distilled < 0.5 * plain, (plain, distilled)


@pytest.mark.parametrize("freeze", [False, True])
def test_freeze_bn_stats_keeps_the_starting_running_statistics(tmp_path, synth, freeze):
    from ocrforge.training.rec import train
    from ocrforge.training.rec_config import RecTrainConfig

    _tiny_lmdb(tmp_path / "synth" / "shard_00000", synth)
    (tmp_path / "synth" / "config.json").write_text("{}")
    start = _save_untrained(tmp_path, "crnn_mobilenetv3_small")
    cfg = RecTrainConfig(model="crnn_mobilenetv3_small", init_from=str(start), synth=[str(tmp_path / "synth")],
                         real=[], val_synth=str(tmp_path / "synth"), val_lines=8, tokens_per_batch=400, max_batch=8,
                         max_steps=4, warmup_steps=1, restart_steps=4, val_every=2, log_every=1, threads=1,
                         checkpoint_minutes=100, freeze_bn_stats=freeze, out=str(tmp_path / "run"))
    before = torch.load(start, weights_only=False)["model"]
    after = torch.load(train(cfg, log=lambda m: None), weights_only=False)["model"]
    stats = [k for k in before if k.endswith(("running_mean", "running_var"))]
    weights = [k for k in before if k.endswith("weight") and before[k].dtype == torch.float32]
    assert stats and all(torch.equal(before[k], after[k]) == freeze for k in stats)  # through a validation, too
    assert any(not torch.equal(before[k], after[k]) for k in weights)  # the weights trained either way


# ------------------------------------------------------------------------------------ predictor


@pytest.fixture(scope="module")
def rec_onnx(tmp_path_factory):
    from ocrforge.export.onnx_rec import export_recognizer

    d = tmp_path_factory.mktemp("rec")
    torch.manual_seed(0)
    return export_recognizer(_save_untrained(d, "crnn_mobilenetv3_small"), d / "rec.onnx")


def test_predictor_shapes_order_and_errors(rec_onnx, synth):
    from ocrforge.errors import InputError
    from ocrforge.recognition.predictor import TextRecognizer

    r = TextRecognizer(rec_onnx, threads=1, max_batch_pixels=32 * 300 * 2)  # forces several batches
    crops = [cv2.cvtColor(synth.sample(i).image, cv2.COLOR_GRAY2BGR) for i in range(7)]
    crops.append(np.full((20, 5), 255, np.uint8))  # gray, tiny
    probs = r.predict_probs(crops)
    for c, p in zip(crops, probs):
        w = resize_line(c).shape[1]
        assert p.shape == (math.ceil(w / r.width_stride), CS.num_classes)
        np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-4)
    # batching does not change results: each crop alone gives the same probabilities
    alone = r.predict_probs([crops[2]])[0]
    np.testing.assert_allclose(alone, probs[2], atol=1e-4)
    # ... nor does sharing a call with much wider lines: short lines are never padded by more than
    # max_pad (the BiLSTM would read the padding), the tiny crop included
    one_call = TextRecognizer(rec_onnx, threads=1)  # a pixel budget that would fit every crop in one batch
    widths_run = []
    session = one_call.session

    class Spy:
        def run(self, names, feeds):
            widths_run.append(feeds["images"].shape[3])
            return session.run(names, feeds)

    one_call.session = Spy()
    wide = [np.hstack([c] * 4) for c in crops[:3]]
    one_call.predict_probs([crops[7]] + wide)
    tiny_w = resize_line(crops[7]).shape[1]
    assert len(widths_run) >= 2 and min(widths_run) <= tiny_w + one_call.max_pad
    res = r.recognize(crops)
    assert len(res) == len(crops) and all(0.0 <= x.confidence <= 1.0 for x in res)
    text, conf = res[0]  # unpacks like a tuple
    assert r.recognize([]) == []
    with pytest.raises(InputError):
        r.predict_probs([np.zeros((0, 10), np.uint8)])


def test_light_text_on_dark_ground_is_read_as_dark_on_light(rec_onnx):
    from ocrforge.recognition.predictor import TextRecognizer
    from ocrforge.recognition.preprocess import normalize_polarity

    line = np.full((32, 200), 235, np.uint8)
    cv2.putText(line, "TOTAL 12.50", (4, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 20, 2)
    np.testing.assert_array_equal(normalize_polarity(line), line)
    np.testing.assert_array_equal(normalize_polarity(255 - line), line)
    # More than half ink, but a light border (dense bold print in a tight box): not a dark ground.
    dense = np.full((32, 200), 240, np.uint8)
    dense[2:30, 2:198] = 20
    dense[2:30, 2:198:4] = 240
    assert np.mean(dense < 128) > 0.5
    np.testing.assert_array_equal(normalize_polarity(dense), dense)
    # A dark border alone (a dark frame around a light line) is not enough either.
    framed = line.copy()
    framed[:2], framed[-2:], framed[:, :2], framed[:, -2:] = 0, 0, 0, 0
    np.testing.assert_array_equal(normalize_polarity(framed), framed)

    # Faint dark print over a shaded ground: Otsu splits the shading (most of the line and of its border
    # fall in the dark class), but the strokes are darker than their surroundings, so it stays.
    ground = np.interp(np.arange(200), [0, 120, 200], [70, 90, 230]).astype(np.float32)
    ink = np.zeros((32, 200), np.uint8)
    cv2.putText(ink, "TOTAL 12.50", (4, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
    faint = np.clip(ground[None, :] - 30.0 * (ink > 0), 0, 255).astype(np.uint8)
    _, split = cv2.threshold(faint, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    assert np.mean(split == 0) > 0.5 and np.mean(np.concatenate([split[0], split[-1]]) == 0) > 0.5
    np.testing.assert_array_equal(normalize_polarity(faint), faint)

    # The recognizer reads the inverted crop exactly as the original; with polarity=False it does not.
    bgr = cv2.cvtColor(line, cv2.COLOR_GRAY2BGR)
    on = TextRecognizer(rec_onnx, threads=1)
    same = on.predict_probs([bgr, 255 - bgr])
    np.testing.assert_array_equal(same[0], same[1])
    off = TextRecognizer(rec_onnx, threads=1, polarity=False).predict_probs([bgr, 255 - bgr])
    assert not np.array_equal(off[0], off[1])
    np.testing.assert_array_equal(off[0], same[0])


def test_dynamic_int8_quantization_keeps_interface(rec_onnx, tmp_path, synth):
    import os

    from ocrforge.export.onnx_rec import quantize_recognizer
    from ocrforge.recognition.predictor import TextRecognizer

    q = quantize_recognizer(rec_onnx, tmp_path / "rec.int8.onnx", "dynamic")
    assert os.path.getsize(q) < 0.6 * os.path.getsize(rec_onnx)
    r = TextRecognizer(q, threads=1)
    crop = synth.sample(1).image
    assert r.predict_probs([crop])[0].shape[1] == CS.num_classes


def test_recognize_reads_long_lists_in_chunks_in_order(rec_onnx, synth, monkeypatch):
    import ocrforge.recognition.predictor as predictor

    r = predictor.TextRecognizer(rec_onnx, threads=1, max_pad=0)  # no padding: batches cannot change a line
    crops = [synth.sample(i).image for i in range(7)]
    alone = [r.recognize([c])[0] for c in crops]
    calls = []
    real = r.predict_probs
    monkeypatch.setattr(r, "predict_probs", lambda cs: calls.append(len(cs)) or real(cs))
    monkeypatch.setattr(predictor, "RECOGNIZE_CHUNK", 3)
    res = r.recognize(crops)
    assert calls == [3, 3, 1]  # the posteriors of at most 3 lines are held at once
    assert [x.text for x in res] == [x.text for x in alone]
    assert [x.num_frames for x in res] == [x.num_frames for x in alone]


def test_head_int8_quantizes_only_the_ctc_head(rec_onnx, tmp_path, synth):
    import onnx

    from ocrforge.export.onnx_rec import head_matmul_name, int8_path, quantize_recognizer
    from ocrforge.recognition.predictor import TextRecognizer

    assert head_matmul_name(onnx.load(str(rec_onnx))).startswith("/model/head/")
    q = quantize_recognizer(rec_onnx, int8_path(rec_onnx))
    assert q.name == "rec_int8.onnx"
    ops = [n.op_type for n in onnx.load(str(q)).graph.node]
    before = [n.op_type for n in onnx.load(str(rec_onnx)).graph.node]
    assert ops.count("MatMulInteger") == 1 and ops.count("LSTM") == before.count("LSTM")
    assert ops.count("Conv") == before.count("Conv") and "DynamicQuantizeLSTM" not in ops
    meta = {p.key: p.value for p in onnx.load(str(q)).metadata_props}
    assert meta["quantization"] == "int8-dynamic-head" and meta["ocrforge_task"] == "recognition"
    crops = [synth.sample(i).image for i in range(4)]
    p32 = TextRecognizer(rec_onnx, threads=1).predict_probs(crops)
    p8 = TextRecognizer(q, threads=1).predict_probs(crops)
    for a, b in zip(p32, p8):
        assert a.shape == b.shape and np.abs(a - b).max() < 0.02  # an 8-bit head: close, not equal
        assert np.abs(a - b).max() > 0


def test_export_rec_cli_writes_fp32_and_head_int8_and_refuses_bad_input(tmp_path, capsys):
    from ocrforge.cli import main as cli_main
    from ocrforge.recognition.predictor import TextRecognizer

    ckpt = _save_untrained(tmp_path, "crnn_mobilenetv3_small")
    out = tmp_path / "rec_x.onnx"
    assert cli_main(["export", "rec", "--checkpoint", str(ckpt), "--out", str(out)]) == 0
    int8 = tmp_path / "rec_x_int8.onnx"  # the default: --int8 head
    assert out.is_file() and int8.is_file()
    assert TextRecognizer(int8, threads=1).predict_probs([np.full((32, 80), 200, np.uint8)])[0].shape[1] == CS.num_classes
    capsys.readouterr()
    assert cli_main(["export", "rec", "--checkpoint", str(tmp_path / "missing.pt"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "checkpoint not found" in err and len(err.strip().splitlines()) == 1
    assert cli_main(["export", "rec", "--checkpoint", str(ckpt), "--out", str(out), "--int8", "static"]) == 1
    assert "--calib" in capsys.readouterr().err


def test_shipped_int8_recognizer_is_the_fp32_one_with_a_quantized_head():
    import onnx

    from ocrforge.recognition.predictor import DEFAULT_MODEL, FP32_MODEL

    q, f = onnx.load(str(DEFAULT_MODEL)), onnx.load(str(FP32_MODEL))
    meta_q = {p.key: p.value for p in q.metadata_props}
    meta_f = {p.key: p.value for p in f.metadata_props}
    assert meta_q.pop("quantization") == "int8-dynamic-head" and meta_q == meta_f
    floats = {t.name: t for t in f.graph.initializer}
    shared = [t for t in q.graph.initializer if t.name in floats]
    assert len(shared) >= len(floats) - 1  # every float weight but the head's is carried over unchanged
    assert all(t.raw_data == floats[t.name].raw_data for t in shared)
    assert DEFAULT_MODEL.stat().st_size < 0.75 * FP32_MODEL.stat().st_size


def test_latin_charset_is_printable_ascii_and_filters_uncovered_lines(tmp_path, synth):
    from ocrforge.recognition.charset import build_charset_latin_v1
    from ocrforge.training.rec import LineMix
    from ocrforge.training.rec_config import RecTrainConfig

    latin = load_charset("latin_v1")
    on_disk = [" " if ln == SPACE_TOKEN else ln for ln in charset_path("latin_v1").read_text(encoding="utf-8").split("\n") if ln]
    assert on_disk == build_charset_latin_v1() and latin.num_classes == 96
    assert latin.covers("TOTAL RM 12.50") and not latin.covers("合计 12.50")
    _tiny_lmdb(tmp_path / "s" / "shard_00000", synth, n=40)
    (tmp_path / "s" / "config.json").write_text("{}")
    mix = LineMix(RecTrainConfig(synth=[str(tmp_path / "s")], real=[]), latin, random.Random(0))
    kept = [r for b in mix.synth.buckets.values() for r in b]
    assert kept and all(latin.covers(r[3]) for r in kept)  # no line trains on a label with dropped hanzi
    assert len(kept) < 40


def test_sigterm_saves_a_checkpoint_to_resume_from(tmp_path, synth):
    import os
    import signal

    from ocrforge.training.rec import train
    from ocrforge.training.rec_config import RecTrainConfig

    _tiny_lmdb(tmp_path / "synth" / "shard_00000", synth)
    (tmp_path / "synth" / "config.json").write_text("{}")
    cfg = RecTrainConfig(synth=[str(tmp_path / "synth")], real=[], val_synth=None, tokens_per_batch=400, max_batch=8,
                         max_steps=10_000, val_every=10_000, log_every=1, threads=1, out=str(tmp_path / "run"),
                         checkpoint_minutes=100)
    logs = []

    def kill_after_two_steps(msg):
        logs.append(msg)
        if msg.startswith("step 2 "):
            os.kill(os.getpid(), signal.SIGTERM)

    last = train(cfg, log=kill_after_two_steps)
    state = torch.load(last, weights_only=False)
    assert 2 <= state["step"] <= 3 and any("stopped by signal" in m for m in logs)
    assert signal.getsignal(signal.SIGTERM) is not None  # the previous handler is back


def test_init_from_copies_matching_tensors_and_leaves_the_new_head(tmp_path):
    from ocrforge.training.rec import save_checkpoint
    from ocrforge.training.run import init_weights_from

    torch.manual_seed(0)
    latin = build_model("crnn_mobilenetv3_small", num_classes=96)
    save_checkpoint(tmp_path / "latin.pt", model=latin.state_dict())
    zh = build_model("crnn_mobilenetv3_small")
    head_before = zh.head.fc.weight.clone()
    report = init_weights_from(zh, str(tmp_path / "latin.pt"))
    assert torch.equal(zh.backbone.stem[0].weight, latin.backbone.stem[0].weight)
    assert torch.equal(zh.sequence.rnn.weight_hh_l0, latin.sequence.rnn.weight_hh_l0)
    assert torch.equal(zh.head.fc.weight, head_before)  # 7,039-class head: shape differs, stays fresh
    assert "head.fc.weight" in report


def test_real_line_augment_keeps_height_is_deterministic_and_can_be_off():
    from ocrforge.data.real_augment import build_real_line_augment

    rng = np.random.default_rng(0)
    line = np.full((32, 200), 235, np.uint8)
    line[8:24, 10:190] = rng.integers(0, 60, (16, 180))
    on, off = build_real_line_augment(1.0), build_real_line_augment(0.0)
    outs = [on(line, random.Random(s)) for s in range(20)]
    assert all(o.shape[0] == 32 and o.dtype == np.uint8 for o in outs)
    assert sum(o.shape != line.shape or not np.array_equal(o, line) for o in outs) >= 18
    assert {o.shape[1] for o in outs} != {200}  # widths move (scale and margins)
    assert all(abs(o.shape[1] - 200) <= 0.15 * 206 + 6 for o in outs)
    assert np.array_equal(on(line, random.Random(7)), on(line, random.Random(7)))
    assert off(line, random.Random(1)) is line


def test_line_mix_augments_real_batches_only_when_asked(tmp_path, synth):
    from ocrforge.training.rec import LineMix
    from ocrforge.training.rec_config import RecTrainConfig

    _tiny_lmdb(tmp_path / "s" / "shard_00000", synth, n=24)
    _tiny_lmdb(tmp_path / "r" / "shard_00000", synth, n=24)
    base = dict(synth=[str(tmp_path / "s")], real=[str(tmp_path / "r")], tokens_per_batch=4000, max_batch=8)

    def batches(cfg):
        mix = LineMix(cfg, CS, random.Random(0))
        return [mix.next_batch() for _ in range(6)]

    plain = batches(RecTrainConfig(real_ratio=1.0, real_augment=0.0, **base))
    augmented = batches(RecTrainConfig(real_ratio=1.0, real_augment=1.0, **base))
    # the first batch draws the same lines (augmentation then moves the shared, checkpointed rng)
    assert plain[0][4] == augmented[0][4] and plain[0][2] == augmented[0][2]
    assert augmented[0][0].shape != plain[0][0].shape or not torch.equal(augmented[0][0], plain[0][0])
    assert all(b[0].shape[2] == 32 for b in augmented)
    synth_only = dict(base, real_ratio=0.0)
    s1, s2 = batches(RecTrainConfig(real_augment=0.0, **synth_only)), batches(RecTrainConfig(real_augment=1.0, **synth_only))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(s1, s2))


def test_synth_lines_cli_writes_small_print_shards_and_refuses_bad_ratios(tmp_path):
    from ocrforge.cli import main
    from ocrforge.data.rec_datasets import open_line_sources

    out = tmp_path / "lines"
    assert main(["synth", "lines", "--count", "4", "--out", str(out), "--seed", "5", "--hard-ratio", "0",
                 "--small-print-ratio", "1", "--workers", "1"]) == 0
    lines = open_line_sources(str(out))
    assert sum(ds.n for ds in lines) == 4
    for bad in (["--small-print-ratio", "1.5"], ["--hard-ratio", "-0.1"], ["--count", "0"]):
        assert main(["synth", "lines", "--count", "2", "--out", str(tmp_path / "bad"), *bad]) == 2
    assert not (tmp_path / "bad").exists()
