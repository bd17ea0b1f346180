"""End to end with the shipped ONNX models: the sample receipt, its PDF, every output format.

Skipped only while the package lacks the detector and recognizer that `OCR()` reads by default
(optional models, e.g. the Latin-only recognizer, do not count); once both ship, these tests are
the "README's first command reads the sample" check.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
MODELS = REPO / "ocrforge" / "models"

def _default_models_shipped() -> bool:
    from ocrforge.detection.predictor import default_model_path
    from ocrforge.recognition.predictor import DEFAULT_MODEL

    return Path(default_model_path()).is_file() and Path(DEFAULT_MODEL).is_file()


pytestmark = pytest.mark.skipif(
    not _default_models_shipped(),
    reason="default models absent: OCR()'s detector or zh+en recognizer is not in ocrforge/models yet",
)

MAX_CER = 0.05  # of the sample's non-space characters


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def cer(got: str, want: str) -> float:
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(squash(got), squash(want)) / max(1, len(squash(want)))


@pytest.fixture(scope="module")
def ocr():
    from ocrforge import OCR

    return OCR(threads=1)


def test_sample_receipt_is_read(ocr):
    want = (EXAMPLES / "receipt_sample.txt").read_text("utf-8")
    doc = ocr.read(EXAMPLES / "receipt_sample.png")
    got = doc.render()
    assert cer(got, want) <= MAX_CER, f"CER {cer(got, want):.3f}\n--- got\n{got}\n--- want\n{want}"
    for token in ("55.26", "TOTAL", "合计", "Thank"):
        assert token in got
    # geometry: every line inside the page, in reading order top to bottom by rows
    page = doc.pages[0]
    for line in doc.lines():
        x0, y0, x1, y1 = line.box
        assert -5 <= x0 < x1 <= page.width + 5 and -5 <= y0 < y1 <= page.height + 5
    first, last = list(doc.lines())[0], list(doc.lines())[-1]
    assert first.box[1] < last.box[1]


@pytest.mark.parametrize("quarter_turns", [1, 2, 3])
def test_turned_sample_reads_like_the_upright_one(ocr, quarter_turns):
    import cv2
    import numpy as np

    want = (EXAMPLES / "receipt_sample.txt").read_text("utf-8")
    img = cv2.imread(str(EXAMPLES / "receipt_sample.png"))
    turned = np.ascontiguousarray(np.rot90(img, quarter_turns))  # counter-clockwise
    doc = ocr.read(turned)
    got = doc.render()
    assert cer(got, want) <= MAX_CER, f"CER {cer(got, want):.3f}\n{got}"
    page = doc.pages[0]
    assert page.rotation == (90 * quarter_turns) % 360  # clockwise turn that makes the page upright
    # boxes are in the turned input's pixels: the total line sits where it is in that image
    h, w = turned.shape[:2]
    total = next(ln for ln in doc.lines() if "55.26" in ln.text)
    x0, y0, x1, y1 = total.box
    assert 0 <= x0 < x1 <= w + 2 and 0 <= y0 < y1 <= h + 2
    up = [ln for ln in ocr.read(img).lines() if "55.26" in ln.text][0]
    ux, uy = (up.box[0] + up.box[2]) / 2, (up.box[1] + up.box[3]) / 2
    expect = {1: (uy, img.shape[1] - ux), 2: (img.shape[1] - ux, img.shape[0] - uy), 3: (img.shape[0] - uy, ux)}
    ex, ey = expect[quarter_turns]
    assert abs((x0 + x1) / 2 - ex) < 25 and abs((y0 + y1) / 2 - ey) < 25


@pytest.mark.parametrize("quarter_turns", [1, 3])
def test_sideways_page_is_turned_even_without_preprocessing(quarter_turns):
    """With preprocess off, only the pipeline's own check (tall boxes, recognizer both ways) turns it."""
    import cv2
    import numpy as np

    from ocrforge import OCR

    want = (EXAMPLES / "receipt_sample.txt").read_text("utf-8")
    img = cv2.imread(str(EXAMPLES / "receipt_sample.png"))
    doc = OCR(threads=1, preprocess="none").read(np.ascontiguousarray(np.rot90(img, quarter_turns)))
    assert cer(doc.render(), want) <= MAX_CER, doc.render()
    assert doc.pages[0].rotation == 90 * quarter_turns
    assert cer(OCR(threads=1, preprocess="none", flip_check=False).read(
        np.ascontiguousarray(np.rot90(img, quarter_turns))).render(), want) > 0.5  # the check is what reads it


def test_sample_pdf_pages(ocr):
    doc = ocr.read(EXAMPLES / "receipt_sample.pdf")
    assert len(doc.pages) == 2
    want2 = (EXAMPLES / "receipt_sample_page2.txt").read_text("utf-8")
    assert cer(doc.pages[1].render(), want2) <= MAX_CER
    only2 = ocr.read(EXAMPLES / "receipt_sample.pdf", pages="2")
    assert len(only2.pages) == 1 and squash(only2.render()) == squash(doc.pages[1].render())


def test_readme_first_command_reads_the_sample():
    proc = subprocess.run([sys.executable, "-m", "ocrforge", "read", "--threads", "1", "examples/receipt_sample.png"],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    want = (EXAMPLES / "receipt_sample.txt").read_text("utf-8")
    assert cer(proc.stdout, want) <= MAX_CER, proc.stdout


def test_all_formats_from_the_pdf_and_searchable_text_matches(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "ocrforge", "read", "--threads", "1", "-f",
                           "txt,json,tsv,hocr,alto,page,pdf", "-o", str(out), str(EXAMPLES / "receipt_sample.pdf")],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in out.iterdir()}
    for ext in (".txt", ".json", ".tsv", ".hocr", ".alto.xml", ".pdf"):
        assert f"receipt_sample{ext}" in names
    assert any(n.startswith("receipt_sample") and n.endswith(".page.xml") for n in names)
    txt = (out / "receipt_sample.txt").read_text("utf-8")
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(out / "receipt_sample.pdf"))
    extracted = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    pdf.close()
    assert squash(extracted) == squash(txt)


def test_recognize_on_detected_line_crops(ocr):
    from ocrforge.io import load_image
    from ocrforge.pipeline import crop_quad, order_quad
    import numpy as np

    img = load_image(EXAMPLES / "receipt_sample.png")
    doc = ocr.read(img)
    lines = list(doc.lines())[:5]
    crops = [crop_quad(img, order_quad(np.array(ln.polygon, np.float32)), ocr.config.crop_pad) for ln in lines]
    got = ocr.recognize(crops)
    assert len(got) == len(lines)
    same = sum(t == ln.text for (t, _), ln in zip(got, lines))
    assert same >= len(lines) - 1  # preprocess "auto" may differ slightly from the raw crop


def test_a_page_in_dark_mode_reads_like_its_light_twin(ocr):
    """Light text on a dark ground: auto preprocessing inverts the page (preprocess.polarity), and
    without preprocessing the recognizer inverts each line (recognition.preprocess.normalize_polarity);
    either way the page reads exactly as the light one does."""
    import cv2

    from ocrforge import OCR

    img = cv2.imread(str(EXAMPLES / "receipt_sample.png"))
    assert sorted(ln.text for ln in ocr.read(255 - img).lines()) == sorted(ln.text for ln in ocr.read(img).lines())
    plain = OCR(threads=1, preprocess="none")
    light = sorted(ln.text for ln in plain.read(img).lines())
    assert sorted(ln.text for ln in plain.read(255 - img).lines()) == light
    as_it_is = sorted(ln.text for ln in OCR(threads=1, preprocess="none", polarity=False).read(255 - img).lines())
    assert as_it_is != light  # the line inversion is what makes them equal there


def test_a_small_image_of_the_sample_is_enlarged_and_read(ocr):
    """At a third of its size the sample's characters are ~5 px high, too small for the detector:
    auto preprocessing enlarges the page (preprocess.scale) and boxes come back in the small image's
    pixels."""
    import cv2

    want = (EXAMPLES / "receipt_sample.txt").read_text("utf-8")
    img = cv2.imread(str(EXAMPLES / "receipt_sample.png"))
    small = cv2.resize(img, (img.shape[1] // 3, img.shape[0] // 3), interpolation=cv2.INTER_AREA)
    doc = ocr.read(small)
    assert cer(doc.render(), want) <= MAX_CER, doc.render()
    h, w = small.shape[:2]
    for line in doc.lines():
        x0, y0, x1, y1 = line.box
        assert -3 <= x0 < x1 <= w + 3 and -3 <= y0 < y1 <= h + 3


def test_pages_are_never_enlarged_past_the_detectors_side():
    """Auto preprocessing enlarges small text only up to the detector's input side, which OCR passes."""
    import cv2

    from ocrforge.pipeline import _preprocess

    img = cv2.imread(str(EXAMPLES / "receipt_sample.png"))
    small = cv2.resize(img, (img.shape[1] // 3, img.shape[0] // 3), interpolation=cv2.INTER_AREA)
    wide = _preprocess(small, "auto", det_max_side=1280).image
    narrow = _preprocess(small, "auto", det_max_side=400).image
    assert max(small.shape[:2]) < max(narrow.shape[:2]) <= 400 < max(wide.shape[:2]) <= 1280
