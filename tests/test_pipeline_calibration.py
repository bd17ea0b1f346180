"""The reading path reports calibrated confidences: the shipped recognizer applies the
``.calib.json`` beside its model for the decoder that read each line, to lines and words alike;
the raw score stays on the recognizer's result; a model without a file reads raw scores and says
so; a damaged file stops with one clear line."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocrforge import cli
from ocrforge.document import split_words
from ocrforge.errors import ModelError
from ocrforge.pipeline import OCR
from ocrforge.postprocess.beam import DecoderOptions, make_decoder
from ocrforge.postprocess.ctc import greedy_decode
from ocrforge.recognition.predictor import DEFAULT_MODEL, LineResult, TextRecognizer

FONT = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"  # fonts-noto-cjk (scripts/install_system_deps.sh)
LINES = ["开票日期：2023年05月12日", "北京市朝阳区建国路88号", "TOTAL RM 12.50", "合计：¥128.50"]


def render(text: str, height: int = 40) -> np.ndarray:
    font = ImageFont.truetype(FONT, int(height * 0.75), index=2)  # the collection's Simplified Chinese face
    im = Image.new("L", (int(font.getlength(text)) + height, height), 255)
    ImageDraw.Draw(im).text((height // 2, height * 0.1), text, font=font, fill=0)
    return np.asarray(im)


@pytest.fixture(scope="module")
def rec():
    return TextRecognizer(threads=1)


@pytest.fixture(scope="module")
def crops():
    return [render(t) for t in LINES]


def test_recognizer_calibrates_lines_and_words(rec, crops):
    cal = rec.calibration
    assert cal is not None and rec.calibration_note.startswith("calibrated by rec_crnn_mobilenetv3_small_int8.calib.json")
    res = rec.recognize(crops)
    raw = TextRecognizer(threads=1, calibration="none").recognize(crops)
    for r, plain in zip(res, raw):
        assert r.text == plain.text and r.raw_confidence == pytest.approx(plain.confidence)
        assert r.confidence == pytest.approx(cal.line("greedy", r.text, r.raw_confidence, r.char_scores))
        assert r.confidence != pytest.approx(r.raw_confidence, abs=1e-3)
        assert len(r.word_confidences) == len(split_words(r.text))
        assert all(0.0 <= w <= 1.0 for w in r.word_confidences)
        assert plain.word_confidences is None and plain.raw_confidence == plain.confidence
    # greedy scores over-claim (raw line ECE 0.34 on SROIE, 0.6 on Chinese): calibration lowers
    # them, most on Chinese lines, whose raw 0.9 means far less than a Latin line's
    chinese = [r for r in res if sum("\u4e00" <= ch <= "\u9fff" for ch in r.text) >= 3]
    assert len(chinese) >= 2
    assert all(r.confidence < r.raw_confidence for r in chinese)
    assert np.mean([r.confidence for r in res]) < np.mean([r.raw_confidence for r in res]) - 0.05


@pytest.mark.parametrize("kind", ["greedy", "beam", "beam_lm", "auto"])
def test_each_decoder_gets_its_own_map(rec, crops, kind):
    dec = make_decoder(rec.charset, DecoderOptions(kind=kind))
    assert dec.kind == kind
    for r in rec.recognize(crops, decoder=dec):
        # auto reads each line with greedy or beam + LM, and that decoder's map applies
        assert r.decoder == kind or (kind == "auto" and r.decoder in ("greedy", "beam_lm"))
        assert r.confidence == pytest.approx(rec.calibration.line(r.decoder, r.text, r.raw_confidence, r.char_scores))


def test_auto_lines_are_calibrated_with_the_map_of_the_decoder_that_read_them(rec, crops):
    auto = make_decoder(rec.charset, DecoderOptions(kind="auto"))
    greedy = make_decoder(rec.charset, DecoderOptions(kind="greedy"))
    auto.low_confidence = 0.0  # only the Chinese lines go to the LM: the receipt line stays greedy
    got = rec.recognize(crops, decoder=auto)
    plain = rec.recognize(crops, decoder=greedy)
    kinds = [r.decoder for r in got]
    assert "greedy" in kinds and "beam_lm" in kinds
    for r, g in zip(got, plain):
        if r.decoder == "greedy":  # the same reading and confidence as the greedy decoder's
            assert (r.text, r.confidence) == (g.text, pytest.approx(g.confidence))


def test_a_decoder_of_ones_own_reads_raw_scores(rec, crops):
    class Mine:  # no .kind: nothing says which map would fit it
        def __init__(self, charset):
            self.charset = charset

        def decode(self, probs):
            return greedy_decode(probs, self.charset)

    (r,) = rec.recognize(crops[:1], decoder=Mine(rec.charset))
    assert r.confidence == r.raw_confidence and r.word_confidences is None


@dataclass
class WholeImage:
    polygon: np.ndarray
    score: float = 1.0


class OneLineDetector:
    """The ink's bounding box as the one text line of the page."""

    def detect(self, image):
        gray = image if image.ndim == 2 else image.min(axis=2)
        ys, xs = np.nonzero(gray < 128)
        x0, y0, x1, y1 = xs.min() - 2, ys.min() - 2, xs.max() + 3, ys.max() + 3
        return [WholeImage(np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32))]


class Spy:
    """The real recognizer, keeping what it returned."""

    def __init__(self, inner):
        self.inner, self.charset, self.seen = inner, inner.charset, []

    def recognize(self, crops, decoder=None):
        out = self.inner.recognize(crops, decoder=decoder)
        self.seen += out
        return out


def page(text):
    img = np.full((120, 700, 3), 255, np.uint8)
    img[40:80, 20:20 + render(text).shape[1]] = render(text)[..., None]
    return img


def test_pipeline_lines_and_words_carry_the_calibrated_values(rec):
    spy = Spy(rec)
    doc = OCR(detector=OneLineDetector(), recognizer=spy, preprocess="none", flip_check=False,
              decoder="greedy").read(page(LINES[0]))
    (line,) = list(doc.lines())
    (res,) = spy.seen
    assert line.text == res.text
    # the line carries the greedy map's value, not the raw score
    assert line.confidence == pytest.approx(res.confidence)
    assert res.confidence == pytest.approx(rec.calibration.line("greedy", res.text, res.raw_confidence, res.char_scores))
    assert line.confidence != pytest.approx(res.raw_confidence, abs=1e-3)
    assert [w.confidence for w in line.words] == pytest.approx(res.word_confidences)
    # the default decoder (auto): a line goes through the map of the decoder that read it (greedy or beam + LM)
    auto_spy = Spy(rec)
    (auto_line,) = list(OCR(detector=OneLineDetector(), recognizer=auto_spy, preprocess="none",
                            flip_check=False).read(page(LINES[0])).lines())
    (auto_res,) = auto_spy.seen
    assert auto_line.confidence == pytest.approx(auto_res.confidence)
    assert auto_res.confidence == pytest.approx(rec.calibration.line(auto_res.decoder, auto_res.text, auto_res.raw_confidence,
                                                                     auto_res.char_scores))
    # calibration="none": the same line with the decoder's raw score (words: the line's, as before)
    raw_doc = OCR(detector=OneLineDetector(), preprocess="none", flip_check=False, threads=1,
                  calibration="none", decoder="greedy").read(page(LINES[0]))
    (raw_line,) = list(raw_doc.lines())
    assert raw_line.text == line.text and raw_line.confidence == pytest.approx(res.raw_confidence)
    # the JSON export keeps its shape: one confidence per line and per word
    exported = doc.export()["pages"][0]["blocks"][0]["lines"][0]
    assert set(exported) == set(raw_doc.export()["pages"][0]["blocks"][0]["lines"][0])


def test_page_orientation_votes_on_raw_scores():
    class Calibrated:
        def recognize(self, crops, decoder=None):
            return [LineResult("x", 0.1, [0], 4, raw_confidence=0.9) for _ in crops]

    assert OCR(recognizer=Calibrated())._mean_confidence([np.zeros((8, 8), np.uint8)]) == pytest.approx(0.9)


@pytest.fixture()
def model_copy(tmp_path):
    model = tmp_path / "rec_copy.onnx"
    shutil.copy(DEFAULT_MODEL, model)
    return model


def test_model_without_a_file_reads_raw_scores_and_says_why(model_copy, crops):
    r = TextRecognizer(model_copy, threads=1)
    assert r.calibration is None and "rec_copy.calib.json" in r.calibration_note and "raw" in r.calibration_note
    (res,) = r.recognize(crops[:1])
    assert res.confidence == res.raw_confidence
    # the shipped file is the model's own: beside an identical copy it applies
    shutil.copy(DEFAULT_MODEL.with_suffix(".calib.json"), model_copy.with_name("rec_copy.calib.json"))
    assert TextRecognizer(model_copy, threads=1).calibration is not None


def test_damaged_file_is_one_clear_error(model_copy, crops, tmp_path, capsys):
    model_copy.with_name("rec_copy.calib.json").write_text('{"format": "ocrforge-confidence-calibration"', encoding="utf-8")
    with pytest.raises(ModelError, match="rec_copy.calib.json: unreadable calibration file"):
        OCR(rec_model=str(model_copy), threads=1).recognize(crops[:1])
    crop = tmp_path / "line.png"
    Image.fromarray(crops[0]).save(crop)
    code = cli.main(["recognize", "--rec-model", str(model_copy), "--threads", "1", str(crop)])
    err = capsys.readouterr().err
    assert code != 0 and "unreadable calibration file" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    # asking for a file that is not there is an error too, not a quiet fall-back
    with pytest.raises(ModelError, match="calibration file not found"):
        TextRecognizer(model_copy, threads=1, calibration=str(Path(tmp_path) / "nope.json"))


def test_words_from_line_takes_one_confidence_per_word():
    from ocrforge.document import words_from_line
    from ocrforge.errors import InputError

    quad = [(0, 0), (100, 0), (100, 10), (0, 10)]
    text = "合计 RM12"
    pos = [(i + 0.5) / len(text) for i in range(len(text))]
    words = words_from_line(text, quad, pos, 0.5, [0.9] * len(text), word_confidences=[0.3, 0.7])
    assert [(w.text, w.confidence) for w in words] == [("合计", 0.3), ("RM12", 0.7)]
    with pytest.raises(InputError, match="2 words"):
        words_from_line(text, quad, pos, 0.5, word_confidences=[0.3])


def test_cli_calibration_flag_picks_raw_or_calibrated_scores(rec, crops, tmp_path, capsys):
    import json

    crop = tmp_path / "line.png"
    Image.fromarray(crops[2]).save(crop)
    want = rec.recognize([crops[2]], decoder=make_decoder(rec.charset, DecoderOptions(kind="auto")))[0]  # the CLI's default
    confidences = {}
    for mode in ("auto", "none"):
        assert cli.main(["recognize", "--json", "--threads", "1", "--calibration", mode, str(crop)]) == 0
        confidences[mode] = json.loads(capsys.readouterr().out)["lines"][0]["confidence"]
    assert confidences["auto"] == pytest.approx(want.confidence, abs=1e-4)
    assert confidences["none"] == pytest.approx(want.raw_confidence, abs=1e-4)
    assert confidences["auto"] != confidences["none"]
    code = cli.main(["recognize", "--threads", "1", "--calibration", str(tmp_path / "nope.json"), str(crop)])
    err = capsys.readouterr().err
    assert code != 0 and "calibration file not found" in err and len(err.strip().splitlines()) == 1
