"""Model fusion in the reader: unsure lines are read by other recognizers of the same charset too and
decoded from the averaged posteriors; sure lines cost nothing extra; models that cannot be averaged are
refused in one line; the pipeline, its metadata and the CLI pass the setting on."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import CJK_LINES, needs_cjk_font, render_cjk_line
from ocrforge import cli
from ocrforge.errors import ConfigError, ModelError
from ocrforge.pipeline import OCR, PipelineConfig
from ocrforge.postprocess.ctc import GreedyDecoder
from ocrforge.postprocess.fusion import average_posteriors
from ocrforge.recognition.predictor import DEFAULT_MODEL, FP32_MODEL, MODELS_DIR, TextRecognizer

REPO = Path(__file__).resolve().parents[1]


class CountingRecognizer:
    """Wraps a fusion model's predict_probs to see which crops it was asked to read."""

    def __init__(self, inner):
        self.inner, self.calls = inner, []

    def predict_probs(self, crops):
        self.calls.append(len(crops))
        return self.inner.predict_probs(crops)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def fused_recognizer(threshold: float):
    """The shipped INT8 model with its FP32 original as the fusion model, whose reads are counted."""
    rec = TextRecognizer(DEFAULT_MODEL, threads=1, calibration="none", fusion_models=[FP32_MODEL],
                         fusion_threshold=threshold)
    rec.fusion = [CountingRecognizer(rec.fusion[0])]
    return rec, rec.fusion[0]


@needs_cjk_font
def test_unsure_lines_are_decoded_from_averaged_posteriors():
    crops = [render_cjk_line(t) for t in CJK_LINES]
    rec, counting = fused_recognizer(1.0)
    greedy = GreedyDecoder(rec.charset)
    fused = rec.recognize(crops, greedy)
    assert counting.calls == [len(crops)]  # threshold 1.0: every line is unsure, all read in one call
    plain = TextRecognizer(DEFAULT_MODEL, threads=1, calibration="none")
    fp32 = TextRecognizer(FP32_MODEL, threads=1, calibration="none")
    expected = [greedy.decode(average_posteriors([a, b]))
                for a, b in zip(plain.predict_probs(crops), fp32.predict_probs(crops))]
    assert [r.text for r in fused] == [e.text for e in expected]
    assert [r.confidence for r in fused] == pytest.approx([e.confidence for e in expected], abs=1e-6)
    # per call: fusion=False reads with the primary model alone, as a recognizer without fusion models does
    assert [r.text for r in rec.recognize(crops, greedy, fusion=False)] == [r.text for r in plain.recognize(crops, greedy)]
    assert counting.calls == [len(crops)]


@needs_cjk_font
def test_sure_lines_do_not_run_the_fusion_models():
    crops = [render_cjk_line(t) for t in CJK_LINES]
    rec, counting = fused_recognizer(0.0)
    plain = TextRecognizer(DEFAULT_MODEL, threads=1, calibration="none")
    assert [r.text for r in rec.recognize(crops)] == [r.text for r in plain.recognize(crops)]
    assert counting.calls == []


def test_models_that_cannot_be_averaged_are_refused():
    latin = MODELS_DIR / "rec_crnn_mobilenetv3_small_latin.onnx"
    with pytest.raises(ModelError, match="does not share"):
        TextRecognizer(DEFAULT_MODEL, threads=1, fusion_models=[latin])
    with pytest.raises(ModelError, match="not found"):
        TextRecognizer(DEFAULT_MODEL, threads=1, fusion_models=["/no/such/model.onnx"])
    for bad in (-0.1, 1.5, "0.5", True):
        with pytest.raises(ConfigError, match="fusion_threshold must be within"):
            TextRecognizer(DEFAULT_MODEL, threads=1, fusion_threshold=bad)


def test_pipeline_config_takes_a_path_list_or_a_comma_string():
    assert PipelineConfig(fusion_models=f" {FP32_MODEL} , {DEFAULT_MODEL}").fusion_models == (str(FP32_MODEL), str(DEFAULT_MODEL))
    assert PipelineConfig(fusion_models=[FP32_MODEL]).fusion_models == (str(FP32_MODEL),)
    assert PipelineConfig().fusion_models == ()
    with pytest.raises(ConfigError, match="fusion_threshold"):
        PipelineConfig(fusion_threshold=2)
    ocr = OCR(fusion_models=str(FP32_MODEL), fusion_threshold=0.5, threads=1)
    assert [m.model_path for m in ocr.recognizer.fusion] == [FP32_MODEL] and ocr.recognizer.fusion_threshold == 0.5
    assert ocr.metadata()["fusion_models"] == [FP32_MODEL.name]


def test_cli_reads_with_a_fusion_model_and_refuses_a_bad_one(capsys):
    sample = str(REPO / "examples" / "receipt_sample.png")
    assert cli.main(["read", sample, "--fusion-model", str(FP32_MODEL), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "FORGE MART" in out
    latin = str(MODELS_DIR / "rec_crnn_mobilenetv3_small_latin.onnx")
    assert cli.main(["read", sample, "--fusion-model", latin]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not share" in err[0]
    assert cli.main(["read", sample, "--fusion-threshold", "2"]) == 2
    assert "fusion_threshold" in capsys.readouterr().err
