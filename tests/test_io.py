"""Loading every input kind into BGR uint8 pages, and refusing bad inputs with a clear InputError."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ocrforge.errors import ConfigError, InputError, OcrforgeError
from ocrforge.io import (
    PageImage,
    array_to_bgr,
    iter_pages,
    load_image,
    load_pages,
    parse_page_spec,
    pdf_page_count,
    to_uint8,
)

# RGB colours of the four quadrants of the test picture; BGR is the reverse.
TL, TR, BL, BR = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def quadrants(w: int = 64, h: int = 48) -> Image.Image:
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = TL
    a[: h // 2, w // 2 :] = TR
    a[h // 2 :, : w // 2] = BL
    a[h // 2 :, w // 2 :] = BR
    return Image.fromarray(a, "RGB")


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def bgr(rgb):
    return tuple(reversed(rgb))


def assert_quadrants(img: np.ndarray, tol: int = 0) -> None:
    h, w = img.shape[:2]
    for (y, x), rgb in {(h // 4, w // 4): TL, (h // 4, 3 * w // 4): TR,
                        (3 * h // 4, w // 4): BL, (3 * h // 4, 3 * w // 4): BR}.items():
        assert np.abs(img[y, x].astype(int) - bgr(rgb)).max() <= tol, (y, x, img[y, x], rgb)


def make_pdf(objs, trailer_extra: bytes = b"") -> bytes:
    """A minimal PDF with a correct xref table from raw object bodies (object 1 is the catalog)."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for o in offsets:
        out += b"%010d 00000 n \n" % o
    out += b"trailer\n<< /Size %d /Root 1 0 R " % (len(objs) + 1) + trailer_extra
    out += b">>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


PDF_PAGE_OBJS = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 144 72] >>",
]


def png_header_only(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h but whose pixel data is a few bytes (a bomb's shape)."""

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


# ---------------------------------------------------------------- formats


@pytest.mark.parametrize("fmt,kw,tol", [
    ("JPEG", {"quality": 95}, 40),
    ("PNG", {}, 0),
    ("BMP", {}, 0),
    ("WEBP", {"lossless": True}, 0),
    ("TIFF", {}, 0),
])
def test_each_raster_format_loads_as_bgr(tmp_path, fmt, kw, tol):
    path = tmp_path / f"q.{fmt.lower()}"
    path.write_bytes(encode(quadrants(), fmt, **kw))
    pages = load_pages(path)
    assert len(pages) == 1
    p = pages[0]
    assert isinstance(p, PageImage)
    assert p.image.dtype == np.uint8 and p.image.shape == (48, 64, 3)
    assert p.source == str(path) and p.index == 0 and p.page_count == 1
    assert_quadrants(p.image, tol)


def test_kind_is_sniffed_from_content_not_extension(tmp_path):
    path = tmp_path / "actually_png.jpg"
    path.write_bytes(encode(quadrants(), "PNG"))
    assert_quadrants(load_image(path))
    pdf = tmp_path / "noext"
    pdf.write_bytes(make_pdf(PDF_PAGE_OBJS))
    assert load_pages(pdf)[0].kind == "pdf"


def test_multipage_tiff_every_page_and_ranges(tmp_path):
    colours = [(10, 20, 30), (40, 50, 60), (70, 80, 90), (100, 110, 120)]
    frames = [Image.new("RGB", (30 + i, 20), c) for i, c in enumerate(colours)]
    path = tmp_path / "multi.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    pages = load_pages(path)
    assert [p.index for p in pages] == [0, 1, 2, 3]
    assert all(p.page_count == 4 for p in pages)
    for p, c in zip(pages, colours):
        assert tuple(p.image[5, 5]) == bgr(c)
    assert [p.image.shape[1] for p in pages] == [30, 31, 32, 33]
    sel = load_pages(path, pages="2-3")
    assert [p.index for p in sel] == [1, 2]
    assert tuple(sel[1].image[0, 0]) == bgr(colours[2])
    assert [p.index for p in load_pages(path, pages="4,1")] == [3, 0]


def _image_pdf(tmp_path, n=3, resolution=100.0) -> Path:
    ims = [quadrants(200, 100) for _ in range(n)]
    for i, im in enumerate(ims):  # mark each page so order is checkable
        im.paste((0, 0, 0), (i * 10, 0, i * 10 + 10, 10))
    path = tmp_path / "doc.pdf"
    ims[0].save(path, save_all=True, append_images=ims[1:], resolution=resolution)
    return path


def test_pdf_every_page_dpi_and_ranges(tmp_path):
    path = _image_pdf(tmp_path)  # 200x100 px at 100 dpi -> 144x72 pt
    assert pdf_page_count(str(path)) == 3
    pages = load_pages(path, dpi=100)
    assert [p.index for p in pages] == [0, 1, 2]
    for p in pages:
        assert p.kind == "pdf" and p.dpi == 100 and p.page_count == 3
        assert abs(p.width - 200) <= 1 and abs(p.height - 100) <= 1
        assert_quadrants(p.image, tol=60)
    # page i has its black mark at x = 10 i
    for p in pages:
        x = p.index * 10 + 5
        assert p.image[5, x].max() < 80 and p.image[5, (x + 50) % 100].max() > 200
    hi = load_pages(path, pages="2", dpi=300)
    assert len(hi) == 1 and hi[0].index == 1
    assert abs(hi[0].width - 600) <= 2 and abs(hi[0].height - 300) <= 2
    assert [p.index for p in load_pages(path, pages="1,3", dpi=72)] == [0, 2]


def test_pdf_default_dpi_is_300(tmp_path):
    page = load_pages(make_pdf(PDF_PAGE_OBJS))[0]  # 144 x 72 pt = 2 x 1 inch
    assert page.dpi == 300 and (page.width, page.height) == (600, 300)
    assert page.image.min() == 255  # empty page renders white, not transparent black


def test_pdf_rotated_page_is_rendered_upright():
    objs = list(PDF_PAGE_OBJS)
    objs[2] = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 144 72] /Rotate 90 >>"
    page = load_pages(make_pdf(objs), dpi=72)[0]
    assert (page.width, page.height) == (72, 144)


def test_exif_orientation_is_applied():
    im = Image.new("RGB", (60, 30), (255, 255, 255))
    im.paste((0, 0, 0), (0, 0, 10, 10))  # black square at stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be rotated 90° clockwise to display
    data = encode(im, "JPEG", exif=exif, quality=95)
    img = load_image(data)
    assert img.shape[:2] == (60, 30)  # portrait after rotation
    # After a 90° clockwise turn the stored top-left corner is at the top-right.
    assert img[3, 26].max() < 60 and img[3, 3].min() > 200


def test_grayscale_and_palette_and_bilevel():
    g = Image.fromarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1)), "L")
    out = load_image(encode(g, "PNG"))
    assert out.shape == (8, 64, 3)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    assert out[0, 10, 0] == 40
    p = quadrants().convert("P")
    assert_quadrants(load_image(encode(p, "PNG")))
    b = Image.new("1", (16, 8), 1)
    assert load_image(encode(b, "PNG")).min() == 255


def test_alpha_is_composited_on_white():
    a = np.zeros((10, 20, 4), np.uint8)
    a[:, :10] = (0, 0, 0, 0)  # fully transparent black -> white
    a[:, 10:] = (0, 0, 0, 128)  # half transparent black -> mid gray
    out = load_image(encode(Image.fromarray(a, "RGBA"), "PNG"))
    assert out[:, :10].min() == 255
    assert abs(int(out[5, 15, 0]) - 127) <= 1
    la = Image.fromarray(np.dstack([np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8)]), "LA")
    assert load_image(encode(la, "PNG")).min() == 255


def test_16bit_gray_png_keeps_contrast():
    full = np.tile(np.linspace(0, 65535, 32).astype(np.uint16), (4, 1))
    out = load_image(encode(Image.fromarray(full), "PNG"))
    assert out.dtype == np.uint8 and out[0, 0, 0] == 0 and out[0, -1, 0] == 255
    twelve = np.tile(np.linspace(0, 4095, 32).astype(np.uint16), (4, 1))  # 12-bit scanner data
    out12 = load_image(encode(Image.fromarray(twelve), "PNG"))
    assert out12[0, -1, 0] == 255 and 120 <= out12[0, 16, 0] <= 140


def test_numpy_inputs_of_every_shape_and_dtype():
    base = np.asarray(quadrants())[..., ::-1].copy()  # BGR like cv2.imread
    assert_quadrants(load_image(base))
    gray = np.full((5, 7), 77, np.uint8)
    assert load_image(gray).shape == (5, 7, 3) and load_image(gray[..., None])[0, 0, 2] == 77
    bgra = np.dstack([base, np.full(base.shape[:2], 255, np.uint8)])
    assert_quadrants(load_image(bgra))
    assert load_image(np.zeros((3, 3), np.float32) + 0.5)[0, 0, 0] == 128
    assert load_image(np.full((3, 3), 65535, np.uint16))[0, 0, 0] == 255
    assert load_image(np.ones((3, 3), bool))[0, 0, 0] == 255
    page = load_pages(base)[0]
    assert page.kind == "array" and page.source == "<array>"


def test_pil_bytes_fileobj_and_pathlike_inputs(tmp_path):
    im = quadrants()
    assert_quadrants(load_image(im))
    data = encode(im, "PNG")
    assert_quadrants(load_image(data))
    assert_quadrants(load_image(bytearray(data)))
    assert_quadrants(load_image(io.BytesIO(data)))
    path = tmp_path / "q.png"
    path.write_bytes(data)
    assert_quadrants(load_image(path))
    assert_quadrants(load_image(str(path)))
    assert load_pages(data)[0].source == "<bytes>"


def test_dpi_metadata_is_reported_when_real():
    assert load_pages(encode(quadrants(), "PNG", dpi=(200, 200)))[0].dpi == pytest.approx(200, abs=1)
    assert load_pages(encode(quadrants(), "PNG"))[0].dpi is None


def test_iter_pages_is_lazy(tmp_path):
    path = _image_pdf(tmp_path, n=3)
    it = iter_pages(path, dpi=72)
    first = next(it)
    assert first.index == 0
    it.close()  # the PDF is closed without rendering the rest


def test_to_uint8_and_array_to_bgr_helpers():
    assert to_uint8(np.array([[0, 255]], np.int32)).tolist() == [[0, 255]]
    assert to_uint8(np.array([[-5, 511]], np.int16)).tolist() == [[0, 255]]  # 9-bit data
    assert array_to_bgr(np.zeros((2, 2, 2), np.uint8)).min() == 255  # gray+alpha, transparent


# ---------------------------------------------------------------- page selection


@pytest.mark.parametrize("spec,expected", [
    (None, [0, 1, 2, 3, 4]),
    ("all", [0, 1, 2, 3, 4]),
    ("1-3,5", [0, 1, 2, 4]),
    ("4-", [3, 4]),
    ("-2", [0, 1]),
    (" 2 , 2 ", [1]),
    (3, [2]),
    ([5, 1], [4, 0]),
])
def test_parse_page_spec(spec, expected):
    assert parse_page_spec(spec, 5) == expected


@pytest.mark.parametrize("spec", ["a", "3-1", "1,,2", "-", "0", "1-x", "1.5"])
def test_parse_page_spec_rejects_bad_specs(spec):
    with pytest.raises(ConfigError):
        parse_page_spec(spec, 5)


def test_page_past_the_end_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="page 6 requested but it has 5"):
        parse_page_spec("6", 5, "x.pdf")
    with pytest.raises(InputError, match="page 2"):
        load_pages(encode(quadrants(), "PNG"), pages="2")


# ---------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_pages(tmp_path / "nope.png")


def test_directory(tmp_path):
    with pytest.raises(InputError, match="directory"):
        load_pages(tmp_path)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(InputError, match="empty file"):
        load_pages(p)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_image(fmt):
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    data = encode(noisy, fmt)
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_pages(data[: len(data) // 2])


def test_not_an_image():
    with pytest.raises(InputError, match="not an image or PDF"):
        load_pages(b"hello, this is plain text and not a picture")


def test_encrypted_pdf():
    # A Standard-security-handler dictionary whose /U entry matches no password, not even empty.
    enc = b"<< /Filter /Standard /V 1 /R 2 /Length 40 /P -4 /O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> >>"
    data = make_pdf(PDF_PAGE_OBJS + [enc], b"/Encrypt 4 0 R /ID [<" + b"33" * 16 + b"> <" + b"33" * 16 + b">] ")
    with pytest.raises(InputError, match="encrypted"):
        load_pages(data)


def test_broken_pdf():
    with pytest.raises(InputError, match="broken or unreadable PDF"):
        load_pages(make_pdf(PDF_PAGE_OBJS)[:70])


def test_zero_size_images():
    with pytest.raises(InputError, match="no pixels"):
        load_pages(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(InputError, match="no pixels"):
        load_pages(np.zeros((0, 10), np.uint8))
    with pytest.raises(InputError):  # a PNG header declaring 0x0
        load_pages(png_header_only(0, 0))


def test_pixel_limit_is_checked_before_decoding():
    # 12000 x 12000 declared, a few bytes of data: decoding would fail as truncated, so the pixel
    # limit message proves the check ran on the header alone.
    with pytest.raises(InputError, match="over the pixel limit"):
        load_pages(png_header_only(12000, 12000))
    with pytest.raises(InputError, match="truncated"):
        load_pages(png_header_only(12000, 12000), max_pixels=None)


def test_pixel_limit_is_settable(tmp_path):
    data = encode(quadrants(100, 100), "PNG")
    with pytest.raises(InputError, match="pixel limit"):
        load_pages(data, max_pixels=5000)
    assert load_pages(data, max_pixels=10000)[0].width == 100
    with pytest.raises(InputError, match="pixel limit"):
        load_pages(np.zeros((100, 100), np.uint8), max_pixels=5000)


def test_pdf_pixel_limit_checked_before_rendering():
    with pytest.raises(InputError, match="lower dpi"):
        load_pages(make_pdf(PDF_PAGE_OBJS), dpi=1200, max_pixels=1_000_000)


def test_bad_dpi_and_bad_type():
    with pytest.raises(ConfigError, match="dpi"):
        load_pages(make_pdf(PDF_PAGE_OBJS), dpi=5)
    with pytest.raises(InputError, match="unsupported input type"):
        load_pages(12345)
    with pytest.raises(InputError, match="shape"):
        load_pages(np.zeros((4, 4, 5), np.uint8))


def test_every_error_is_an_ocrforge_error():
    assert issubclass(InputError, OcrforgeError) and issubclass(ConfigError, OcrforgeError)


@pytest.mark.parametrize("fmt,mode", [("JPEG", "RGB"), ("PNG", "RGB"), ("PNG", "L"), ("BMP", "RGB")])
def test_plain_images_decode_through_opencv_with_pillows_pixels(tmp_path, monkeypatch, fmt, mode):
    import cv2

    from ocrforge.io import images

    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (37, 53, 3 if mode == "RGB" else 1), dtype=np.uint8).squeeze()
    path = tmp_path / f"x.{fmt.lower()}"
    Image.fromarray(arr, mode).save(path, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    decoded = []
    real = cv2.imdecode
    monkeypatch.setattr(images.cv2, "imdecode", lambda *a: decoded.append(1) or real(*a))
    for source in (str(path), path, path.read_bytes()):
        page = next(iter_pages(source))
        with Image.open(path) as im:
            expected = images.pil_to_bgr(im)
        assert page.image.shape == (37, 53, 3) and page.image.dtype == np.uint8
        assert np.array_equal(page.image, expected)
    assert len(decoded) == 3  # path, Path and bytes all took the OpenCV way


def test_exif_turned_jpeg_is_left_to_pillow(monkeypatch):
    from ocrforge.io import images

    calls = []
    monkeypatch.setattr(images.cv2, "imdecode", lambda *a: calls.append(1))
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (40, 20), (200, 10, 10)).save(buf, "JPEG", exif=exif)
    page = next(iter_pages(buf.getvalue()))
    assert page.image.shape == (40, 20, 3) and not calls
