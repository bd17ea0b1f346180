"""One-command fine-tuning of the shipped recognizer on a user's own lines (`ocrforge train finetune`),
and the shipped PyTorch weights archive it starts from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ocrforge.errors import InputError, ModelError  # noqa: E402
from ocrforge.recognition.predictor import TextRecognizer  # noqa: E402
from ocrforge.training.base_weights import (load_base_weights, model_from_base_weights, save_base_weights,  # noqa: E402
                                            shipped_base_weights)
from ocrforge.training.finetune import FinetuneOptions, finetune, in_validation, source_kind  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TEXTS = ["TOTAL 12.50", "CASH 20.00", "CHANGE 7.50", "GST 0.71", "QTY 2", "合计 8.80", "发票号码 0421", "数量 3",
         "SUBTOTAL 9.90", "ROUNDING 0.01", "单价 4.40", "TEL 03-5512", "ITEM 001", "金额 16.00", "VISA 45.10",
         "DATE 2018-03-01", "日期 2019", "TAX 1.20", "THANK YOU", "收款 100"]


def render(text: str) -> np.ndarray:
    """A plain dark-on-light line; Chinese is drawn as boxes by Hershey fonts, which is fine here:
    the tests check plumbing (data, training, export, comparison), not accuracy."""
    img = np.full((40, 16 + 18 * len(text), 3), 235, np.uint8)
    cv2.putText(img, text.encode("ascii", "replace").decode(), (6, 29), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (30, 30, 30), 2)
    return img


@pytest.fixture(scope="module")
def paddle_labels(tmp_path_factory):
    root = tmp_path_factory.mktemp("user_data")
    (root / "img").mkdir()
    rows = []
    for i, text in enumerate(TEXTS * 2):
        cv2.imwrite(str(root / "img" / f"{i}.png"), render(text))
        rows.append(f"img/{i}.png\t{text}")
    rows.append("img/missing.png\tNOT THERE")  # an unreadable image is left out, not fatal
    (root / "labels.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root / "labels.txt"


# ------------------------------------------------------------------------------------------ weights archive


def test_shipped_weights_archive_reads_like_the_shipped_fp32_onnx():
    """The archive is the model the shipped ONNX was exported from: same greedy text on plain lines."""
    from ocrforge.postprocess.ctc import greedy_decode
    from ocrforge.recognition.preprocess import pad_batch, resize_line

    onnx = TextRecognizer(str(shipped_base_weights().with_name("rec_crnn_mobilenetv3_small.onnx")), calibration="none")
    model = model_from_base_weights(shipped_base_weights())
    lines = [render(t) for t in TEXTS]
    same = 0
    with torch.no_grad():
        for img in lines:
            ref = onnx.recognize([img])[0]  # one line a call: a padded batch changes a BiLSTM's reading
            x, _ = pad_batch([resize_line(img, 32)])
            probs = torch.softmax(model(torch.from_numpy(x)), -1)[0].numpy()
            same += greedy_decode(probs, onnx.charset).text == ref.text
    assert same >= len(lines) - 1  # float16 storage may flip one borderline character


def test_weights_archive_round_trip_and_refusals(tmp_path):
    from ocrforge.recognition.model import build_model

    model = build_model("crnn_mobilenetv3_small", num_classes=97)
    ckpt = tmp_path / "run.pt"
    torch.save({"model": model.state_dict(), "model_config": model.cfg.__dict__,
                "train_config": {"model": "crnn_mobilenetv3_small"}}, ckpt)
    archive = save_base_weights(ckpt, tmp_path / "w.weights.npz")
    architecture, config, state = load_base_weights(archive)
    assert architecture == "crnn_mobilenetv3_small" and config["num_classes"] == 97
    for name, tensor in model.state_dict().items():
        expected = tensor.numpy()
        assert state[name].shape == expected.shape
        if expected.dtype == np.float32:
            assert state[name].dtype == np.float32
            np.testing.assert_allclose(state[name], expected, rtol=1e-3, atol=1e-4)  # float16 storage
    (tmp_path / "junk.npz").write_bytes(b"not an archive")
    with pytest.raises(ModelError):
        load_base_weights(tmp_path / "junk.npz")
    np.savez(tmp_path / "plain.npz", a=np.zeros(3))
    with pytest.raises(ModelError, match="no model config"):
        load_base_weights(tmp_path / "plain.npz")
    with pytest.raises(InputError):
        load_base_weights(tmp_path / "absent.npz")


# ------------------------------------------------------------------------------------------ data


def test_source_kinds_and_clear_errors(tmp_path, paddle_labels):
    assert source_kind(paddle_labels) == "paddle"
    sroie = tmp_path / "receipts"
    (sroie / "img").mkdir(parents=True)
    (sroie / "box").mkdir()
    assert source_kind(sroie) == "sroie"
    with pytest.raises(InputError, match="img/ and box/"):
        source_kind(tmp_path)
    with pytest.raises(InputError, match="not found"):
        source_kind(tmp_path / "nowhere")


def test_validation_split_is_fixed_and_near_the_fraction():
    picks = [in_validation("data", i, 0.2) for i in range(5000)]
    assert picks == [in_validation("data", i, 0.2) for i in range(5000)]
    assert 0.17 < np.mean(picks) < 0.23
    assert picks != [in_validation("other", i, 0.2) for i in range(5000)]


def test_no_usable_lines_is_an_input_error(tmp_path):
    root = tmp_path / "d"
    (root / "img").mkdir(parents=True)
    cv2.imwrite(str(root / "img" / "0.png"), render("x"))
    (root / "labels.txt").write_text("img/0.png\t\U0001F600\U0001F601\n", encoding="utf-8")  # emoji: not in the charset
    with pytest.raises(InputError, match="0 training and 0 validation lines"):
        finetune(FinetuneOptions([str(root / "labels.txt")], str(tmp_path / "run"), steps=1, synth_ratio=0.0),
                 log=lambda m: None)


@pytest.mark.parametrize("bad", [dict(steps=0), dict(val_fraction=1.0), dict(synth_ratio=1.0), dict(sources=[]),
                                 dict(distill=-1.0), dict(blend=0.0), dict(blend=1.5)])
def test_bad_options_are_refused(tmp_path, bad):
    opts = {"sources": ["x"], "out": str(tmp_path), **bad}
    with pytest.raises(InputError):
        FinetuneOptions(**opts).validate()


def test_distill_option_makes_the_base_model_the_teacher(tmp_path):
    from ocrforge.training.finetune import PreparedData, train_config

    data = PreparedData(train=str(tmp_path / "t"), val=str(tmp_path / "v"), train_lines=10, val_lines=2, skipped=0)
    base = tmp_path / "base.npz"
    cfg = train_config(FinetuneOptions(["x"], str(tmp_path)), data, base, "crnn_mobilenetv3_small")
    assert cfg.distill_from == str(base) and cfg.distill_weight == 1.0 and not cfg.distill_real
    assert cfg.freeze_bn_stats and cfg.real_ratio == 0.5
    for off in (dict(distill=0.0), dict(synth_ratio=0.0)):  # no weight, or no synthetic batches to distil on
        assert train_config(FinetuneOptions(["x"], str(tmp_path), **off), data, base, "crnn_mobilenetv3_small").distill_from is None
    assert not train_config(FinetuneOptions(["x"], str(tmp_path), freeze_bn_stats=False), data, base,
                            "crnn_mobilenetv3_small").freeze_bn_stats


# ------------------------------------------------------------------------------------------ the whole run


def test_finetune_end_to_end_then_resume(tmp_path, paddle_labels):
    out = tmp_path / "run"
    logs = []
    opts = FinetuneOptions([str(paddle_labels)], str(out), steps=2, val_fraction=0.25, synth_ratio=0.0, threads=1)
    report = finetune(opts, log=logs.append)
    assert any(line.startswith("initialized 260/260 tensors from") for line in logs)  # started from the shipped weights
    data = report["data"]
    assert data["train_lines"] + data["val_lines"] == 2 * len(TEXTS) and data["val_lines"] > 0
    assert data["unreadable"] == 1 and any("img/missing.png (unreadable image)" in line for line in logs)
    model = out / "model_int8.onnx"
    assert model.is_file() and (out / "model.onnx").is_file()
    assert json.loads((out / "finetune_report.json").read_text())["model"] == str(model)
    for side in ("start", "finetuned"):
        v = report["validation"][side]
        assert v["lines"] == data["val_lines"] and 0.0 <= v["cer"]
    assert report["better"] == (report["validation"]["finetuned"]["cer"] < report["validation"]["start"]["cer"])
    # Compared with the weights it started from, exported and quantized as the new model is.
    assert report["start"] == {"weights": str(shipped_base_weights()), "model": str(out / "start_int8.onnx")}
    assert (out / "start_int8.onnx").is_file()
    # The run keeps its own copy of its starting weights (what --blend and distillation use later).
    assert (out / "base.npz").read_bytes() == shipped_base_weights().read_bytes()
    # What it forgot: both models on the same clean synthetic lines in the training faces (fonts installed here).
    forgot = report["synthetic_lines"]
    assert forgot["start"]["lines"] == forgot["finetuned"]["lines"] == 300
    assert any(line.startswith("clean synthetic lines in the training faces (300): start") for line in logs)
    # Its own calibration (40 lines: enough for the pooled maps) sits beside it and the reader takes it.
    cal = report["calibration"]
    if cal is not None:
        assert cal["file"] == str(out / "model_int8.calib.json")
        assert 0.0 <= cal["line_ece_auto_calibrated_two_fold"] <= 1.0
        assert TextRecognizer(str(model)).calibration is not None
    else:
        assert any("confidences stay raw" in line for line in logs)
    rec = TextRecognizer(str(model), calibration="none")
    assert len(rec.recognize([render("TOTAL 3.00")])) == 1
    # A resumed run reuses the prepared data and continues the same schedule to its end.
    logs.clear()
    finetune(FinetuneOptions([str(paddle_labels)], str(out), steps=3, val_fraction=0.25, synth_ratio=0.0, threads=1),
             resume=True, log=logs.append)
    assert any("reusing" in line for line in logs)
    assert any(line.startswith("resumed from") and "at step 2" in line for line in logs)
    assert torch.load(out / "train" / "last.pt", map_location="cpu", weights_only=False)["step"] == 3
    # A finished run re-exported part-way back toward the base: no more steps, another model.
    import onnx

    before = (out / "model.onnx").read_bytes()
    report = finetune(FinetuneOptions([str(paddle_labels)], str(out), steps=3, val_fraction=0.25, synth_ratio=0.0,
                                      threads=1, blend=0.5), resume=True, log=logs.append)
    assert report["options"]["blend"] == 0.5 and report["checkpoint"].endswith("blend_0.5.pt")
    assert torch.load(out / "train" / "last.pt", map_location="cpu", weights_only=False)["step"] == 3
    meta = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}
    assert meta["blend"] == "0.5" and (out / "model.onnx").read_bytes() != before
    assert meta["finetuned_from"].startswith("rec_crnn_mobilenetv3_small.weights.npz sha256:")
    # Blended with the run's copy, even if the package's archive has changed since the run started.
    state = torch.load(report["checkpoint"], map_location="cpu", weights_only=False)
    assert state["blend"]["base"] == str(out / "base.npz")


@pytest.mark.parametrize("args, message", [([], "data not found"), (["--blend", "0"], "--blend must be in")])
def test_cli_bad_input_is_one_line_and_non_zero(tmp_path, args, message):
    r = subprocess.run([sys.executable, "-m", "ocrforge.cli", "train", "finetune", str(tmp_path / "nothing"),
                        "--out", str(tmp_path / "run"), *args], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0
    assert message in r.stderr


# ------------------------------------------------------------------------------------------ weight blending


def test_blend_weights_is_the_straight_line_between_the_models():
    from ocrforge.training.blend import blend_weights

    base = {"w": torch.tensor([0.0, 2.0]), "bn.num_batches_tracked": torch.tensor(5)}
    tuned = {"w": torch.tensor([4.0, 2.0]), "bn.num_batches_tracked": torch.tensor(9)}
    assert torch.equal(blend_weights(base, tuned, 0.0)["w"], base["w"])
    assert torch.equal(blend_weights(base, tuned, 1.0)["w"], tuned["w"])
    half = blend_weights(base, tuned, 0.25)
    assert torch.allclose(half["w"], torch.tensor([1.0, 2.0])) and int(half["bn.num_batches_tracked"]) == 9
    with pytest.raises(InputError, match="different layers"):
        blend_weights(base, {"w": tuned["w"], "other": tuned["w"]}, 0.5)
    with pytest.raises(InputError, match="shape"):
        blend_weights(base, {**tuned, "w": torch.zeros(3)}, 0.5)
    with pytest.raises(InputError, match="in \\[0, 1\\]"):
        blend_weights(base, tuned, 1.5)


def test_blended_checkpoint_sits_between_base_and_fine_tune_and_exports(tmp_path):
    from ocrforge.export.onnx_rec import export_recognizer
    from ocrforge.training.blend import blend_checkpoint, load_recognizer
    from ocrforge.training.rec import save_checkpoint

    base = model_from_base_weights(shipped_base_weights())
    tuned = model_from_base_weights(shipped_base_weights())
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(0.01 * torch.randn_like(p))
    save_checkpoint(tmp_path / "tuned.pt", model=tuned.state_dict(), optimizer={"state": {}}, model_config=tuned.cfg.__dict__,
                    charset_version="v1", step=7, train_config={"model": "crnn_mobilenetv3_small"})
    out = blend_checkpoint(shipped_base_weights(), tmp_path / "tuned.pt", 0.5, tmp_path / "blend.pt")
    state = torch.load(out, map_location="cpu", weights_only=False)
    assert "optimizer" not in state and state["step"] == 7 and state["blend"]["weight"] == 0.5
    mid = load_recognizer(out).state_dict()
    for name, p in base.state_dict().items():
        if p.is_floating_point():
            assert torch.allclose(mid[name], (p + tuned.state_dict()[name]) / 2, atol=1e-6), name
    onnx_path = export_recognizer(out, tmp_path / "blend.onnx")
    assert len(TextRecognizer(str(onnx_path), calibration="none").recognize([render("TOTAL 3.00")])) == 1
    with pytest.raises(InputError, match="no such model file"):
        blend_checkpoint(tmp_path / "absent.npz", tmp_path / "tuned.pt", 0.5, tmp_path / "x.pt")


def test_finetuned_model_gets_its_own_calibration(tmp_path):
    """Fitted on the validation lines, named for the new model's hash, picked up by the reader."""
    import shutil

    from ocrforge.data.rec_datasets import write_line_lmdb
    from ocrforge.recognition.predictor import DEFAULT_MODEL
    from ocrforge.training.finetune import compare_models, fit_model_calibration

    model = tmp_path / "model_int8.onnx"
    shutil.copy(DEFAULT_MODEL, model)  # stands in for a fine-tuned model: any recognizer the file was not made for
    words = ["TOTAL", "CASH", "CHANGE", "GST", "QTY", "ITEM", "TAX", "VISA", "DATE", "TEL"]
    texts = [f"{words[i % 10]} {i * 7 % 100}.{i % 10}0" for i in range(80)]
    rng = np.random.default_rng(0)

    def degraded(text, i):  # a third of the lines blurred and noisy, so that some are misread
        img = render(text)
        if i % 3:
            return img
        small = cv2.resize(img, (img.shape[1] // 4, img.shape[0] // 4), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (img.shape[1], img.shape[0])).astype(np.float32) + rng.normal(0, 40, img.shape)
        return np.clip(img, 0, 255).astype(np.uint8)

    write_line_lmdb(tmp_path / "val", [(degraded(t, i), t, {}) for i, t in enumerate(texts)])
    logs = []
    seen = compare_models(None, model, str(tmp_path / "val"), threads=1, forgetting_lines=0)
    assert seen.synthetic_lines is None and len(seen.refs) == len(seen.start_texts) == 80
    result = fit_model_calibration(model, seen.refs, seen.readings, casefold=False, log=logs.append)
    assert result is not None, logs
    assert result["file"] == str(tmp_path / "model_int8.calib.json")
    assert 0.0 <= result["line_ece_auto_calibrated_two_fold"] <= 1.0 and 0.0 <= result["line_ece_auto_raw"] <= 1.0
    rec = TextRecognizer(str(model))
    assert rec.calibration is not None and rec.calibration.info["model"] == "model_int8.onnx"
    assert rec.calibration.info["fitted_on"] == {"finetune_validation_lines": 80}
    r = rec.recognize([render("TOTAL 3.00")])[0]
    assert 0.0 <= r.confidence <= 1.0 and r.raw_confidence is not None


def test_compare_models_reads_the_same_lines_with_both_models(tmp_path, monkeypatch):
    """The shipped model against itself: the same validation texts and, on the same clean synthetic lines,
    the same CER (the rendering is seeded); every calibrated decoder read; without fonts the forgetting
    check is skipped, not fatal."""
    from ocrforge.data import synth_lines
    from ocrforge.data.rec_datasets import write_line_lmdb
    from ocrforge.recognition.predictor import DEFAULT_MODEL
    from ocrforge.training.finetune import CALIBRATED_KINDS, compare_models

    texts = ["TOTAL 3.00", "CASH 10.00", "CHANGE 7.00"]
    write_line_lmdb(tmp_path / "val", [(render(t), t, {}) for t in texts])
    seen = compare_models(None, Path(DEFAULT_MODEL), str(tmp_path / "val"), threads=1, forgetting_lines=12)
    assert seen.refs == texts and set(seen.readings) == set(CALIBRATED_KINDS)
    assert seen.start_texts == [r.text for r in seen.readings["auto"]]
    assert all(len(v) == 3 for v in seen.readings.values())  # the synthetic lines are not validation lines
    synthetic = seen.synthetic_lines
    assert synthetic["start"] == synthetic["finetuned"] and synthetic["start"]["lines"] == 12
    assert 0.0 <= synthetic["start"]["cer"] < 0.5  # clean lines in the faces it was trained on

    def no_fonts(*args, **kwargs):
        raise RuntimeError("no training fonts")

    monkeypatch.setattr(synth_lines, "LineSynthesizer", no_fonts)
    seen = compare_models(None, Path(DEFAULT_MODEL), str(tmp_path / "val"), threads=1, forgetting_lines=12)
    assert seen.synthetic_lines is None and seen.refs == texts


def test_bench_finetune_reads_every_model_on_every_set(tmp_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bench_finetune

    from ocrforge.recognition.predictor import DEFAULT_MODEL

    out = tmp_path / "t.json"
    assert bench_finetune.main(["--model", str(tmp_path / "absent.onnx")]) == 2
    assert bench_finetune.main(["--model", str(DEFAULT_MODEL), "--sroie", str(tmp_path), "--zh-real-lines", "6",
                                "--zh-lines", "5", "--synth-lines", "4", "--threads", "1", "--json", str(out)]) == 0
    table = json.loads(out.read_text())
    assert set(table) == {"shipped", str(DEFAULT_MODEL)}
    assert table["shipped"] == table[str(DEFAULT_MODEL)]  # the same model reads the same
    assert table["shipped"]["zh_real"]["lines"] == 6 and table["shipped"]["zh_real"]["cer_percent"] >= 0
    assert table["shipped"]["zh_bills"]["lines"] == 5 and "sroie_eval_0px" not in table["shipped"]
    assert table["shipped"]["synth_train_fonts"]["lines"] == 4
