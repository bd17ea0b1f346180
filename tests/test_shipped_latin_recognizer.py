"""The shipped optional Latin recognizer: loads without torch's help, declares its charset, reads print."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

MODEL = Path(__file__).resolve().parents[1] / "ocrforge" / "models" / "rec_crnn_mobilenetv3_small_latin.onnx"
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"

pytestmark = pytest.mark.skipif(not MODEL.is_file(), reason="optional Latin recognizer not shipped")


def render(text: str) -> np.ndarray:
    font = ImageFont.truetype(FONT, 30)
    w = int(font.getlength(text)) + 16
    img = Image.new("RGB", (w, 44), "white")
    ImageDraw.Draw(img).text((8, 4), text, font=font, fill="black")
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)


def test_latin_model_metadata_and_reading():
    from rapidfuzz.distance import Levenshtein

    from ocrforge.recognition.predictor import TextRecognizer

    rec = TextRecognizer(MODEL, threads=1)
    assert rec.charset.version == "latin_v1" and rec.charset.num_classes == 96
    assert MODEL.stat().st_size < 10 * 2**20
    lines = ["TOTAL 55.26", "CASH 60.00", "CHANGE 4.74", "GST 6% 3.12", "INVOICE NO: 000123"]
    got = [r.text for r in rec.recognize([render(t) for t in lines])]
    errors = sum(Levenshtein.distance(g.upper(), t) for g, t in zip(got, lines))
    assert errors / sum(map(len, lines)) <= 0.25, got  # an early model: card CER 0.16 on SROIE crops
