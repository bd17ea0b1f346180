"""The pipeline's own logic, driven by the glyph-code detector/recognizer from conftest.py."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import GlyphDetector, GlyphLine, GlyphRecognizer, draw_glyph_page
from ocrforge.document import Document
from ocrforge.errors import ConfigError, InputError, OcrforgeError
from ocrforge.pipeline import OCR, crop_quad, map_points, order_quad

RECEIPT = [
    GlyphLine("abc", 240, 20),  # header, centred
    GlyphLine("ab", 30, 70), GlyphLine("dd", 480, 70),  # item ... price on one row
    GlyphLine("bca", 30, 110), GlyphLine("cd", 480, 110),
    GlyphLine("a b c", 30, 150), GlyphLine("db", 470, 150),
    GlyphLine("ddd", 30, 210), GlyphLine("ccc", 470, 210),  # total
]


def texts(doc: Document):
    return [ln.text for ln in doc.lines()]


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_receipt_reads_in_row_order_with_boxes(glyph_ocr):
    img = draw_glyph_page(RECEIPT)
    ocr = glyph_ocr()
    doc = ocr.read(img)
    assert texts(doc) == [ln.text for ln in RECEIPT]
    for line, truth in zip(doc.lines(), RECEIPT):
        assert iou(line.box, truth.box()) > 0.7, (line.text, line.box, truth.box())
        assert 0 <= line.confidence <= 1
    page = doc.pages[0]
    assert (page.width, page.height) == (600, 400) and page.index == 0
    assert doc.source == "<array>"


def test_words_are_placed_on_their_characters(glyph_ocr):
    line = GlyphLine("abc dd a", 40, 40)
    doc = glyph_ocr().read(draw_glyph_page([line]))
    (got,) = list(doc.lines())
    assert [w.text for w in got.words] == ["abc", "dd", "a"]
    # "dd" starts after "abc" + a space: 8+14+20 + 2*5 gap + 11 space + 5 gap
    x_dd = 40 + 8 + 14 + 20 + 2 * CHAR_GAP() + SPACE() + CHAR_GAP()
    w_dd = got.words[1].box
    assert abs(w_dd[0] - x_dd) < 10 and abs(w_dd[2] - (x_dd + 26 * 2 + 5)) < 10
    assert got.words[0].box[0] < got.words[1].box[0] < got.words[2].box[0]


def CHAR_GAP():
    from conftest import CHAR_GAP as g

    return g


def SPACE():
    from conftest import SPACE_GAP, CHAR_GAP as g

    return SPACE_GAP - g


def test_two_columns_read_column_by_column(glyph_ocr):
    left = [GlyphLine(t, 20, 30 + 40 * k) for k, t in enumerate(["abcd abcd", "dcba dcb", "abab abab", "cdcd cd"])]
    right = [GlyphLine(t, 320, 30 + 40 * k) for k, t in enumerate(["bbbb cccc", "aaaa dd", "cccc bbbb", "dd aa"])]
    doc = glyph_ocr().read(draw_glyph_page(left + right))
    assert texts(doc) == [ln.text for ln in left + right]
    assert len(doc.pages[0].blocks) == 2


def test_vertical_line_is_turned_before_recognition(glyph_ocr):
    lines = [GlyphLine("ab", 30, 30), GlyphLine("dcba", 300, 30, vertical=True), GlyphLine("cc", 30, 80)]
    ocr = glyph_ocr()
    doc = ocr.read(draw_glyph_page(lines))
    assert sorted(texts(doc)) == sorted(["ab", "dcba", "cc"])
    vertical = next(ln for ln in doc.lines() if ln.text == "dcba")
    x0, y0, x1, y1 = vertical.box
    assert y1 - y0 > 3 * (x1 - x0)  # the polygon is the tall one on the page
    # every crop handed to the recognizer is a horizontal line
    assert all(s[1] > s[0] for s in ocr.recognizer.shapes)
    # words of the vertical line run down the page
    tops = [w.box[1] for w in vertical.words]
    assert tops == sorted(tops)


def test_single_tall_character_is_not_turned(glyph_ocr):
    # a lone narrow glyph is taller than wide, but no taller than the text around it
    lines = [GlyphLine("a", 30, 30), GlyphLine("abcd", 100, 30), GlyphLine("bcd", 100, 80)]
    doc = glyph_ocr().read(draw_glyph_page(lines))
    assert "a" in texts(doc)


@dataclass
class Rotated:
    """A preprocess step that turns the page 90° clockwise and says how to map back."""

    image: np.ndarray
    transform: np.ndarray
    rotation: int = 270  # preprocess reports counter-clockwise degrees
    steps: tuple = ("orient",)


def turn_clockwise(img):
    h, w = img.shape[:2]
    out = cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    # output (u, v) comes from input (x, y) = (v, h - 1 - u)
    t = np.array([[0, 1, 0], [-1, 0, h - 1], [0, 0, 1]], float)
    return Rotated(out, t)


def test_boxes_are_mapped_back_to_original_page_coordinates():
    # The page is stored turned 90° counter-clockwise; the preprocessor turns it upright.
    upright = [GlyphLine("abc", 40, 40), GlyphLine("dd", 40, 90)]
    page = draw_glyph_page(upright, size=(200, 300))
    stored = cv2.rotate(page, cv2.ROTATE_90_COUNTERCLOCKWISE)
    ocr = OCR(detector=GlyphDetector(), recognizer=GlyphRecognizer(), preprocessor=turn_clockwise)
    doc = ocr.read(stored)
    assert texts(doc) == ["abc", "dd"]
    p = doc.pages[0]
    assert (p.width, p.height) == (200, 300) and p.rotation == 90
    # where the ink really is on the stored image
    for line in doc.lines():
        x0, y0, x1, y1 = [int(round(v)) for v in line.box]
        region = stored[max(y0, 0):y1, max(x0, 0):x1]
        assert (region < 128).mean() > 0.3, line.box
        assert y1 - y0 > x1 - x0  # text runs vertically on the stored page


def test_map_points_and_quads():
    t = np.array([[2, 0, 10], [0, 2, 5], [0, 0, 1]], float)
    assert map_points(np.array([[1, 1]]), t).tolist() == [[12.0, 7.0]]
    assert map_points(np.array([[1, 1]]), None).tolist() == [[1.0, 1.0]]
    q = order_quad(np.array([[10, 40], [110, 40], [110, 10], [10, 10]]))
    assert q.tolist() == [[10, 10], [110, 10], [110, 40], [10, 40]]
    img = np.zeros((100, 200, 3), np.uint8)
    img[10:40, 10:110] = 200
    assert crop_quad(img, q).shape[:2] == (30, 100)
    assert crop_quad(img, q).min() == 200


def test_tilted_line_is_warped_flat():
    img = np.full((200, 300, 3), 255, np.uint8)
    rect = ((150, 100), (200, 30), 10.0)  # 200 x 30 line tilted by 10°
    cv2.fillPoly(img, [cv2.boxPoints(rect).astype(np.int32)], (0, 0, 0))
    q = order_quad(cv2.boxPoints(rect))
    crop = crop_quad(img, q)
    assert abs(crop.shape[1] - 200) <= 2 and abs(crop.shape[0] - 30) <= 2
    assert crop[3:-3, 3:-3].max() < 60


def test_batches_respect_batch_size(glyph_ocr):
    ocr = glyph_ocr(batch_size=2)
    ocr.read(draw_glyph_page(RECEIPT))
    assert ocr.recognizer.calls == [2, 2, 2, 2, 1]


def test_empty_page_gives_empty_document(glyph_ocr):
    doc = glyph_ocr().read(np.full((50, 80, 3), 255, np.uint8))
    assert len(doc.pages) == 1 and list(doc.lines()) == [] and doc.render() == ""


def test_inputs_files_and_pdf_pages(glyph_ocr, tmp_path):
    img = draw_glyph_page(RECEIPT[:3])
    png = tmp_path / "r.png"
    cv2.imwrite(str(png), img)
    ocr = glyph_ocr()
    assert texts(ocr.read(png)) == texts(ocr.read(str(png))) == texts(ocr.read(png.read_bytes()))
    pil = Image.fromarray(img[..., ::-1])
    assert texts(ocr.read(pil)) == ["abc", "ab", "dd"]
    pdf = tmp_path / "r.pdf"
    pil.save(pdf, save_all=True, append_images=[Image.fromarray(draw_glyph_page(RECEIPT[3:5])[..., ::-1])],
             resolution=72)
    doc = ocr.read(pdf, dpi=72)
    assert len(doc.pages) == 2
    assert [ln.text for ln in doc.pages[1].lines()] == ["bca", "cd"]
    assert doc.pages[1].dpi == 72 and doc.pages[1].index == 1
    only2 = ocr.read(pdf, pages="2", dpi=72)
    assert len(only2.pages) == 1 and [ln.text for ln in only2.lines()] == ["bca", "cd"]


def test_read_pages_yields_images(glyph_ocr):
    img = draw_glyph_page(RECEIPT[:2])
    (pair,) = list(glyph_ocr().read_pages(img))
    page_image, page = pair
    assert page_image.image.shape == img.shape and page.width == img.shape[1]


def test_read_many_keeps_going_after_bad_inputs(glyph_ocr, tmp_path):
    good = draw_glyph_page(RECEIPT[:2])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    inputs = [tmp_path / "missing.png", good, empty, b"not an image", good]
    results = list(glyph_ocr().read_many(inputs))
    assert [r[0] is i for r, i in zip(results, inputs)] == [True] * 5
    kinds = [type(r[1]).__name__ for r in results]
    assert kinds == ["InputError", "Document", "InputError", "InputError", "Document"]
    assert "no such file" in str(results[0][1]) and "empty file" in str(results[2][1])


def test_read_many_reports_internal_errors_as_records():
    class Broken:
        def detect(self, image):
            raise RuntimeError("boom")

    ocr = OCR(detector=Broken(), recognizer=GlyphRecognizer(), preprocess="none")
    ((_, err),) = list(ocr.read_many([np.zeros((10, 10), np.uint8)]))
    assert isinstance(err, OcrforgeError) and "boom" in str(err)


def test_recognize_api_takes_arrays_paths_and_gray(glyph_ocr, tmp_path):
    page = draw_glyph_page([GlyphLine("abcd", 2, 2)], size=(24, 90))
    path = tmp_path / "line.png"
    cv2.imwrite(str(path), page)
    ocr = glyph_ocr()
    out = ocr.recognize([page, str(path), cv2.cvtColor(page, cv2.COLOR_BGR2GRAY), page.astype(np.float32) / 255])
    assert [t for t, _ in out] == ["abcd"] * 4
    assert all(isinstance(c, float) and 0 <= c <= 1 for _, c in out)
    assert ocr.recognize([]) == []
    assert ocr._detector.calls == 0  # recognize alone never runs detection


def test_bad_inputs_raise_input_errors(glyph_ocr, tmp_path):
    ocr = glyph_ocr()
    with pytest.raises(InputError, match="no such file"):
        ocr.read(tmp_path / "nope.jpg")
    with pytest.raises(InputError, match="pixel limit"):
        glyph_ocr(max_pixels=1000).read(np.zeros((100, 100), np.uint8))
    with pytest.raises(InputError):
        ocr.recognize([b"garbage"])


def test_bad_options_raise_config_errors():
    with pytest.raises(ConfigError):
        OCR(threads=0)
    with pytest.raises(ConfigError, match="unknown OCR option"):
        OCR(no_such_option=1)
    with pytest.raises(ConfigError):
        OCR(preprocess="")
    with pytest.raises(ConfigError):
        OCR(preprocess="deskew,no_such_step")


def test_missing_models_are_a_model_error(tmp_path):
    from ocrforge.errors import ModelError

    ocr = OCR(det_model=str(tmp_path / "missing.onnx"), rec_model=str(tmp_path / "missing.onnx"),
              preprocess="none")
    with pytest.raises(ModelError):
        ocr.read(np.full((20, 20, 3), 255, np.uint8))
    with pytest.raises(ModelError):
        ocr.recognize([np.full((20, 20, 3), 255, np.uint8)])


def test_export_round_trip_of_a_read_document(glyph_ocr):
    doc = glyph_ocr().read(draw_glyph_page(RECEIPT))
    again = Document.from_dict(doc.export())
    assert texts(again) == texts(doc)
    assert doc.render().splitlines()[0] == "abc"


@pytest.mark.parametrize("mode", ["deskew", "auto"])
def test_real_preprocess_on_a_skewed_page_maps_boxes_back(mode):
    lines = [GlyphLine(t, 60, 60 + 45 * k) for k, t in enumerate(["abcd dcba abcd", "dddd cccc", "abab cdcd abab", "ccc ddd aaa"])]
    page = draw_glyph_page(lines, size=(360, 600))
    m = cv2.getRotationMatrix2D((300, 180), 4.0, 1.0)
    skewed = cv2.warpAffine(page, m, (600, 360), borderValue=(255, 255, 255))
    ocr = OCR(detector=GlyphDetector(), recognizer=GlyphRecognizer(), preprocess=mode)
    doc = ocr.read(skewed)
    assert texts(doc) == [ln.text for ln in lines]
    truth = [cv2.transform(np.array([[[x, y]] for x, y in [(b[0], b[1]), (b[2], b[1]), (b[2], b[3]), (b[0], b[3])]],
                                    np.float64), m).reshape(4, 2) for b in (ln.box() for ln in lines)]
    for line, quad in zip(doc.lines(), truth):
        got = np.array(line.polygon)
        assert np.abs(got.mean(0) - quad.mean(0)).max() < 6, (got, quad)  # same place on the input
        top = got[1] - got[0]
        assert abs(np.degrees(np.arctan2(top[1], top[0])) + 4.0) < 1.5  # follows the 4° slant
