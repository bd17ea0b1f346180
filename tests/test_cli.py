"""The command line: outputs, the ocrbench protocol, one-line errors, exit codes, progress."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import GlyphDetector, GlyphLine, GlyphRecognizer, draw_glyph_page
from ocrforge import __version__, cli
from ocrforge.pipeline import OCR

REPO = Path(__file__).resolve().parents[1]
LINES = [GlyphLine("abc", 40, 20), GlyphLine("dd", 40, 60), GlyphLine("b", 300, 60), GlyphLine("ca db", 40, 100)]
TEXT_LINES = ["abc", "dd", "b", "ca db"]
# Plain text puts lines of one printed row on one text line ("dd" and "b" share a row).
TEXT_ROWS = ["abc", "dd b", "ca db"]


@pytest.fixture
def fake_models(monkeypatch):
    """Every OCR the CLI builds uses the glyph-code fakes but the CLI's own settings."""
    made = []

    def make(args):
        ocr = OCR(detector=GlyphDetector(), recognizer=GlyphRecognizer(), threads=args.threads,
                  preprocess=getattr(args, "preprocess", "none"),
                  max_pixels=getattr(args, "max_pixels", 10**8), dpi=getattr(args, "dpi", 300))
        made.append(ocr)
        return ocr

    monkeypatch.setattr(cli, "_make_ocr", make)
    return made


@pytest.fixture
def sample(tmp_path) -> Path:
    path = tmp_path / "receipt.png"
    cv2.imwrite(str(path), draw_glyph_page(LINES, size=(140, 420)))
    return path


def run(argv, capsysbinary):
    code = cli.main(argv)
    out, err = capsysbinary.readouterr()
    return code, out.decode("utf-8"), err.decode("utf-8")


def test_read_prints_txt_to_stdout(fake_models, sample, capsysbinary):
    code, out, err = run(["read", "--preprocess", "none", str(sample)], capsysbinary)
    assert code == 0 and err == ""
    assert [ln for ln in out.splitlines() if ln] == TEXT_ROWS


def test_first_format_goes_to_stdout(fake_models, sample, capsysbinary):
    code, out, err = run(["read", "--preprocess", "none", "--format", "json,txt", str(sample)], capsysbinary)
    assert code == 0
    doc = json.loads(out)
    assert [ln["text"] for p in doc["pages"] for b in p["blocks"] for ln in b["lines"]] == TEXT_LINES
    assert "only json goes to stdout" in err


def test_all_seven_formats_to_a_directory(fake_models, sample, tmp_path, capsysbinary):
    out_dir = tmp_path / "out"
    code, out, err = run(["read", "--preprocess", "none", "-f", "txt,json,tsv,hocr,alto,page,pdf",
                          "-o", str(out_dir), str(sample)], capsysbinary)
    assert code == 0 and out == "" and err == ""
    names = sorted(p.name for p in out_dir.iterdir())
    assert names == sorted(["receipt.txt", "receipt.json", "receipt.tsv", "receipt.hocr",
                            "receipt.alto.xml", "receipt.page.xml", "receipt.pdf"])
    txt = (out_dir / "receipt.txt").read_text("utf-8")
    assert [ln for ln in txt.splitlines() if ln] == TEXT_ROWS
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(out_dir / "receipt.pdf"))
    extracted = pdf[0].get_textpage().get_text_range()
    pdf.close()
    assert extracted.split() == txt.split()


def test_pdf_input_pages_and_dpi(fake_models, tmp_path, capsysbinary):
    pages = [Image.fromarray(draw_glyph_page([GlyphLine(t, 30, 30)], size=(100, 200))[..., ::-1])
             for t in ("abc", "dd", "cab")]
    pdf = tmp_path / "three.pdf"
    pages[0].save(pdf, save_all=True, append_images=pages[1:], resolution=72)
    code, out, _ = run(["read", "--preprocess", "none", "--dpi", "72", "--pages", "2-3", str(pdf)], capsysbinary)
    assert code == 0
    assert out.split() == ["dd", "cab"]
    code, out, _ = run(["read", "--preprocess", "none", "--dpi", "72", "--json", str(pdf)], capsysbinary)
    data = json.loads(out)
    assert [(ln["page"], ln["text"]) for ln in data["lines"]] == [(0, "abc"), (1, "dd"), (2, "cab")]


def test_json_follows_the_ocrbench_command_protocol(fake_models, sample, capsysbinary):
    code, out, _ = run(["read", "--preprocess", "none", "--json", str(sample)], capsysbinary)
    assert code == 0
    data = json.loads(out)
    assert [ln["text"] for ln in data["lines"]] == TEXT_LINES
    box = data["lines"][0]["box"]
    assert len(box) == 4 and all(len(p) == 2 for p in box)
    x0, y0 = min(p[0] for p in box), min(p[1] for p in box)
    assert abs(x0 - 40) <= 4 and abs(y0 - 20) <= 4
    assert 0 <= data["lines"][0]["confidence"] <= 1


def test_crops_dir_protocol(fake_models, tmp_path, capsysbinary):
    crops = tmp_path / "crops"
    crops.mkdir()
    for i, t in enumerate(["abc", "d a"]):
        cv2.imwrite(str(crops / f"{i:06d}.png"), draw_glyph_page([GlyphLine(t, 2, 2)], size=(24, 80)))
    code, out, _ = run(["read", "--json", "--crops", str(crops)], capsysbinary)
    assert code == 0
    assert json.loads(out)["lines"] == [
        {"image": "000000.png", "text": "abc", "confidence": 0.9},
        {"image": "000001.png", "text": "d a", "confidence": 0.9},
    ]


def test_recognize_command(fake_models, tmp_path, capsysbinary):
    paths = []
    for i, t in enumerate(["ab", "cd"]):
        p = tmp_path / f"l{i}.png"
        cv2.imwrite(str(p), draw_glyph_page([GlyphLine(t, 2, 2)], size=(24, 60)))
        paths.append(str(p))
    code, out, err = run(["recognize", *paths], capsysbinary)
    assert (code, out.splitlines(), err) == (0, ["ab", "cd"], "")
    code, out, _ = run(["recognize", "--json", *paths], capsysbinary)
    assert [(d["image"], d["text"]) for d in json.loads(out)["lines"]] == [("l0.png", "ab"), ("l1.png", "cd")]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    code, out, err = run(["recognize", paths[0], str(bad), paths[1]], capsysbinary)
    assert code == 1 and out.splitlines() == ["ab", "cd"]
    assert len(err.splitlines()) == 1 and "bad.png" in err


def test_several_inputs_each_ends_with_result_or_error(fake_models, sample, tmp_path, capsysbinary):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(sample.read_bytes()[:200])
    out_dir = tmp_path / "o"
    argv = ["read", "--preprocess", "none", "-o", str(out_dir), str(tmp_path / "missing.png"), str(sample),
            str(empty), str(trunc)]
    code, out, err = run(argv, capsysbinary)
    assert code == 1
    lines = err.splitlines()
    assert len(lines) == 3 and all(ln.startswith("ocrforge: error: ") for ln in lines)
    assert "missing.png: no such file" in lines[0] and "empty file" in lines[1] and "trunc.png" in lines[2]
    assert (out_dir / "receipt.txt").exists()


def test_same_stem_inputs_do_not_overwrite(fake_models, sample, tmp_path, capsysbinary):
    other = tmp_path / "sub"
    other.mkdir()
    (other / "receipt.png").write_bytes(sample.read_bytes())
    out_dir = tmp_path / "o"
    code, _, _ = run(["read", "--preprocess", "none", "-o", str(out_dir), str(sample), str(other / "receipt.png")],
                     capsysbinary)
    assert code == 0 and sorted(p.name for p in out_dir.iterdir()) == ["receipt-2.txt", "receipt.txt"]


def test_stdin_input(fake_models, sample, monkeypatch, capsysbinary):
    class FakeStdin:
        buffer = __import__("io").BytesIO(sample.read_bytes())

    monkeypatch.setattr(sys, "stdin", FakeStdin)
    code, out, _ = run(["read", "--preprocess", "none", "-"], capsysbinary)
    assert code == 0 and [ln for ln in out.splitlines() if ln] == TEXT_ROWS


@pytest.mark.parametrize("argv,needle", [
    (["read", "--format", "docx", "x.png"], "unknown output format"),
    (["read", "--pages", "3-1", "x.png"], "bad page range"),
    (["read", "--dpi", "5", "x.png"], "dpi must be between"),
    (["read", "--threads", "0", "x.png"], "positive integer"),
    (["read", "--max-pixels", "lots", "x.png"], "pixel count"),
    (["read", "--preprocess", "sharpen", "x.png"], "unknown preprocessing step"),
    (["read"], "no INPUT"),
    (["read", "--no-such-flag", "x.png"], "unrecognized arguments"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_usage_is_one_line_exit_2(argv, needle, capsysbinary):
    code, out, err = run(argv, capsysbinary)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and needle in err, err


def test_internal_error_is_one_line(monkeypatch, sample, capsysbinary):
    def broken(args):
        raise RuntimeError("kaput")

    monkeypatch.setattr(cli, "_make_ocr", broken)
    code, _, err = run(["read", str(sample)], capsysbinary)
    assert code == 70 and len(err.splitlines()) == 1 and "kaput" in err


def test_version_and_help(capsysbinary):
    code, out, _ = run(["--version"], capsysbinary)
    assert code == 0 and out.strip() == f"ocrforge {__version__}"
    code, out, _ = run(["--help"], capsysbinary)
    assert code == 0 and "read" in out and "recognize" in out
    code, out, _ = run(["read", "--help"], capsysbinary)
    assert code == 0 and "--format" in out and "--pages" in out and "--max-pixels" in out


def test_registered_commands_are_lazy(monkeypatch, tmp_path, capsysbinary):
    mod = tmp_path / "ocrforge_fake_cmd.py"
    mod.write_text(
        "def add_parser(sub):\n"
        "    p = sub.add_parser('hello', help='say hello')\n"
        "    p.add_argument('--name', default='world')\n"
        "    p.set_defaults(func=lambda a: print('hello', a.name) or 0)\n"
    )
    (tmp_path / "ocrforge_fake_sub.py").write_text(
        "def add_parser(sub):\n"
        "    p = sub.add_parser('one', help='first')\n"
        "    p.set_defaults(func=lambda a: print('one') or 0)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "COMMANDS", [
        cli.Command("hello", ("ocrforge_fake_cmd",), "say hello"),
        cli.Command("ghost", ("no_such_module_xyz",), "never imported"),
        cli.Command("grp", ("ocrforge_fake_sub",), "a group", group=True),
    ])
    code, out, _ = run(["hello", "--name", "ocr"], capsysbinary)
    assert (code, out) == (0, "hello ocr\n")
    code, out, _ = run(["grp", "one"], capsysbinary)
    assert (code, out) == (0, "one\n")
    code, _, err = run(["grp"], capsysbinary)
    assert code == 2 and len(err.splitlines()) == 1
    code, out, _ = run(["--help"], capsysbinary)  # listed without importing
    assert "ghost" in out and "never imported" in out
    code, _, err = run(["ghost"], capsysbinary)
    assert code == 2 and "not available" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("command", [c.name for c in cli.COMMANDS])
def test_every_registered_command_has_help(command):
    proc = subprocess.run([sys.executable, "-m", "ocrforge", command, "--help"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0 and command in proc.stdout, proc.stderr


# ---------------------------------------------------------------- real processes

RUNNER = (
    "import sys; sys.path[:0] = [{tests!r}, {repo!r}]\n"
    "from conftest import GlyphDetector, GlyphRecognizer\n"
    "from ocrforge import cli\n"
    "from ocrforge.pipeline import OCR\n"
    "cli._make_ocr = lambda a: OCR(detector=GlyphDetector(), recognizer=GlyphRecognizer(), preprocess='none')\n"
    "sys.exit(cli.main(sys.argv[1:]))\n"
)


def _runner(tmp_path) -> str:
    path = tmp_path / "runner.py"
    path.write_text(RUNNER.format(tests=str(REPO / "tests"), repo=str(REPO)))
    return str(path)


def test_process_bad_input_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ocrforge", "read", str(tmp_path / "missing.png")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [f"ocrforge: error: {tmp_path / 'missing.png'}: no such file"]


def test_progress_is_silent_when_stdout_is_not_a_terminal(tmp_path, sample):
    proc = subprocess.run([sys.executable, _runner(tmp_path), "read", "-o", str(tmp_path / "o"), str(sample),
                           str(sample)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "" and proc.stdout == ""


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_progress_shows_on_a_terminal(tmp_path, sample):
    import pty
    import select

    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, _runner(tmp_path), "read", "-o", str(tmp_path / "o"), str(sample),
                             str(sample)], stdout=slave, stderr=slave, env={**os.environ, "COLUMNS": "100"})
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=60)
    os.close(master)
    assert proc.returncode == 0
    assert b"2/2" in seen or b"1/2" in seen, seen[-500:]
