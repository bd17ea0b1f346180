"""Packaging promises: the reading path pulls and imports no PyTorch; README, CI and samples agree."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HEAVY = {"torch", "torchvision", "torchaudio", "tensorflow", "jax", "onnx", "onnxscript", "albumentations",
         "fastapi", "uvicorn", "grpcio", "lmdb"}


def _name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[(]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))


def test_base_dependencies_have_no_torch_or_training_or_serving_stack():
    project = _pyproject()["project"]
    base = {_name(r) for r in project["dependencies"]}
    assert base, "no base dependencies at all?"
    assert not (base & HEAVY), base & HEAVY
    extras = project["optional-dependencies"]
    assert "torch" in {_name(r) for r in extras["train"]}
    assert {"fastapi", "grpcio"} <= {_name(r) for r in extras["serve"]}
    assert "pytest" in {_name(r) for r in extras["dev"]}
    assert project["scripts"]["ocrforge"] == "ocrforge.cli:main"


@pytest.mark.slow
def test_built_wheel_requires_no_torch_and_ships_data(tmp_path):
    have_setuptools = subprocess.run([sys.executable, "-c", "import setuptools, wheel"],
                                     capture_output=True).returncode == 0
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)]
    if have_setuptools:  # build offline with what is installed; otherwise pip fetches them
        cmd.insert(5, "--no-build-isolation")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("ocrforge-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        meta = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode("utf-8")
    requires = [ln.split(":", 1)[1].strip() for ln in meta.splitlines() if ln.startswith("Requires-Dist:")]
    unconditional = {_name(r) for r in requires if "extra ==" not in r}
    assert unconditional and not (unconditional & HEAVY), unconditional
    assert any(_name(r) == "torch" and 'extra == "train"' in r for r in requires)
    assert "ocrforge/recognition/charset_v1.txt" in names
    assert "ocrforge/cli.py" in names and "ocrforge/pipeline.py" in names
    models = REPO / "ocrforge" / "models"
    for model in sorted([*models.glob("*.onnx"), *models.glob("*.weights.npz")]):  # npz: `train finetune`'s start
        assert f"ocrforge/models/{model.name}" in names, f"{model.name} is not shipped in the wheel"


READ_WITHOUT_TORCH = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{tests!r}, {repo!r}]
    import numpy as np
    from conftest import GlyphDetector, GlyphLine, GlyphRecognizer, draw_glyph_page
    import ocrforge
    from ocrforge import OCR
    import ocrforge.cli, ocrforge.formats, ocrforge.io, ocrforge.layout, ocrforge.preprocess
    from ocrforge.formats import WRITERS
    img = draw_glyph_page([GlyphLine("abc", 20, 20), GlyphLine("dd", 20, 60)], size=(100, 200))
    ocr = OCR(detector=GlyphDetector(), recognizer=GlyphRecognizer(), preprocess="auto")
    doc = ocr.read(img)
    assert [l.text for l in doc.lines()] == ["abc", "dd"], [l.text for l in doc.lines()]
    for w in WRITERS.values():
        assert w.to_bytes(doc, [img])
    assert ocr.recognize([img])
    # the real components, when their models are shipped
    import ocrforge.detection.predictor, ocrforge.recognition.predictor
    {real}
    bad = sorted(m for m in {heavy!r} if m in sys.modules)
    print("HEAVY:", bad)
    """
)


def _heavy_modules_after(script: str) -> str:
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def test_reading_path_never_imports_torch():
    script = READ_WITHOUT_TORCH.format(tests=str(REPO / "tests"), repo=str(REPO), real="",
                                       heavy=sorted(HEAVY | {"onnx", "fastapi", "grpc", "uvicorn"}))
    assert _heavy_modules_after(script) == "HEAVY: []"


def _shipped_models() -> bool:
    """The detector and recognizer OCR() reads by default are both in the package."""
    from ocrforge.detection.predictor import default_model_path
    from ocrforge.recognition.predictor import DEFAULT_MODEL

    return Path(default_model_path()).is_file() and Path(DEFAULT_MODEL).is_file()


@pytest.mark.skipif(not _shipped_models(), reason="OCR()'s default detector/recognizer not in ocrforge/models yet")
def test_reading_with_shipped_models_never_imports_torch():
    real = "OCR(threads=1).read({!r})".format(str(REPO / "examples" / "receipt_sample.png"))
    script = READ_WITHOUT_TORCH.format(tests=str(REPO / "tests"), repo=str(REPO), real=real,
                                       heavy=sorted(HEAVY | {"onnx", "fastapi", "grpc", "uvicorn"}))
    assert _heavy_modules_after(script) == "HEAVY: []"


def test_cli_read_help_never_imports_torch():
    script = ("import sys\nfrom ocrforge import cli\ncode = cli.main(['read', '--help'])\n"
              "print('HEAVY:', sorted(m for m in ('torch', 'fastapi', 'grpc') if m in sys.modules))")
    assert _heavy_modules_after(script) == "HEAVY: []"


# ---------------------------------------------------------------- README, CI, samples


def _setup_commands() -> list:
    text = (REPO / "README.md").read_text("utf-8")
    m = re.search(r"<!-- setup-commands:begin -->(.*?)<!-- setup-commands:end -->", text, re.S)
    assert m, "README.md has no setup-commands section"
    return re.findall(r"```sh\n(.*?)\n```", m.group(1), re.S)


def test_readme_gives_exactly_two_one_line_setup_commands():
    cmds = _setup_commands()
    assert len(cmds) == 2, cmds
    assert all("\n" not in c for c in cmds)
    first, second = cmds
    assert "pip install ." in first and "ocrforge read examples/receipt_sample.png" in first
    assert "torch" not in first  # the reading install must not need PyTorch
    assert "pip install torch==2.13.0" in second and "pytest" in second
    assert "install_system_deps.sh" in second


def test_ci_runs_the_readme_test_command_verbatim():
    second = _setup_commands()[1]
    ci = (REPO / ".ci" / "run").read_text("utf-8")
    assert second in ci.splitlines(), "the README's test command must appear as a line of .ci/run"
    assert "|| true" not in ci


def test_ci_fails_when_pytest_collects_nothing(tmp_path):
    """The wrapper's logic: exit code 5 (no tests) must fail CI, like any other failure."""
    ci = (REPO / ".ci" / "run").read_text("utf-8")
    second = _setup_commands()[1]
    empty = tmp_path / "empty"
    empty.mkdir()
    fake = ci.replace(second, f"{sys.executable} -m pytest -q -p no:cacheprovider {empty}")
    fake = fake.replace('cd "$(dirname "$0")/.."', f"cd {tmp_path}")
    script = tmp_path / "run"
    script.write_text(fake)
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 5, (proc.stdout, proc.stderr)
    script.write_text(fake.replace(f"{sys.executable} -m pytest -q -p no:cacheprovider {empty}", "true"))
    assert subprocess.run(["bash", str(script)], capture_output=True, timeout=60).returncode == 0


def test_system_deps_script_installs_the_fonts_and_poppler():
    text = (REPO / "scripts" / "install_system_deps.sh").read_text("utf-8")
    for pkg in ("fonts-noto-cjk", "fonts-arphic-uming", "fonts-arphic-ukai", "fonts-wqy-zenhei",
                "fonts-wqy-microhei", "fonts-lxgw-wenkai", "fonts-seto", "fonts-dejavu", "fonts-liberation2",
                "fonts-urw-base35", "fonts-freefont-ttf", "poppler-utils"):
        assert pkg in text, pkg
    proc = subprocess.run(["sh", "-n", str(REPO / "scripts" / "install_system_deps.sh")], capture_output=True)
    assert proc.returncode == 0


def test_samples_exist_and_match_their_text():
    from ocrforge.io import load_pages

    png = load_pages(REPO / "examples" / "receipt_sample.png")
    assert len(png) == 1 and 600 <= png[0].width <= 800
    assert (REPO / "examples" / "receipt_sample.png").stat().st_size < 200_000
    pdf = load_pages(REPO / "examples" / "receipt_sample.pdf")
    assert len(pdf) == 2 and abs(pdf[0].width - png[0].width) <= 2
    text = (REPO / "examples" / "receipt_sample.txt").read_text("utf-8")
    assert "TOTAL" in text and "合计" in text and len(text.splitlines()) >= 10
    from ocrforge.recognition.charset import load_charset

    cs = load_charset()
    assert cs.covers(text.replace("\n", "")), "the sample's text must be readable by the charset"
