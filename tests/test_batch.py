"""Batch jobs: manifest, outputs, errors, resume after kill -9 with nothing lost or duplicated."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from ocrforge.batch import BatchConfig, discover_inputs, items_of, run_batch
from ocrforge.batch.job import MANIFEST_NAME, SUMMARY_NAME
from ocrforge.batch.manifest import Manifest
from ocrforge.errors import ConfigError

FAKE = "ocrforge.runtime.fakes:fake_ocr"


def make_inputs(folder: Path, n: int, rows: int = 1, bad=()) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        img = np.full((40 * rows + 20, 240, 3), 255, np.uint8)
        for r in range(rows):
            cv2.putText(img, f"No {i}.{r}", (8, 40 * r + 38), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2)
        path = folder / f"in{i:03d}.png"
        cv2.imwrite(str(path), img)
        paths.append(path)
    for name in bad:
        (folder / name).write_bytes(b"not an image at all")
        paths.append(folder / name)
    return paths


def output_files(out: Path) -> list:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(out).parts)
                  and p.name != SUMMARY_NAME)


@pytest.fixture(autouse=True)
def fast_fakes(monkeypatch):
    monkeypatch.setenv("OCRFORGE_FAKE_CALL_MS", "0")
    monkeypatch.setenv("OCRFORGE_FAKE_LINE_MS", "0")


def config(out: Path, **kw) -> BatchConfig:
    return BatchConfig(output_dir=out, formats=kw.pop("formats", ("txt", "json")), workers=kw.pop("workers", 1),
                       ocr_factory=kw.pop("ocr_factory", FAKE), **kw)


# -- manifest ---------------------------------------------------------------------------------

def test_manifest_keeps_stems_unique_and_requeues_interrupted(tmp_path):
    m = Manifest(tmp_path / "m.sqlite")
    assert m.bind(("txt",)) is True
    assert m.add([("/a/x.png", "x"), ("/b/x.png", "x"), ("/c/x.pdf", "x")]) == 3
    assert m.add([("/a/x.png", "x")]) == 0  # known inputs are not added twice
    assert [i.out_stem for i in m.items()] == ["x", "x-2", "x-3"]
    a, b, c = m.items()
    m.mark_running(a.id)
    m.mark_running(b.id)
    m.mark_done(b.id, ["/o/x-2.txt"], 1)
    m.mark_running(c.id)
    m.mark_error(c.id, "boom")
    m.close()
    m = Manifest(tmp_path / "m.sqlite")  # as after a kill
    assert m.counts() == {"pending": 0, "running": 1, "done": 1, "error": 1}
    assert m.requeue_interrupted() == 1
    assert [i.input for i in m.pending()] == ["/a/x.png"]
    assert m.requeue_interrupted(retry_errors=True) == 1
    assert m.counts()["pending"] == 2
    with pytest.raises(ConfigError, match="formats txt"):
        m.bind(("json",))
    assert m.bind(("txt",)) is False
    m.close()


def test_discover_folder_recursively_and_list_file(tmp_path, monkeypatch):
    make_inputs(tmp_path / "in", 2)
    make_inputs(tmp_path / "in" / "sub", 1)
    (tmp_path / "in" / "notes.txt").write_text("ignored")
    (tmp_path / "in" / ".hidden").mkdir()
    make_inputs(tmp_path / "in" / ".hidden", 1)
    found = discover_inputs(tmp_path / "in")
    assert [stem for _, stem in found] == ["in000", "in001", "sub/in000"]
    monkeypatch.chdir(tmp_path)
    listing = tmp_path / "list.txt"
    listing.write_text("# my files\nin/in001.png\n\n" + str(tmp_path / "in/sub/in000.png") + "\n")
    assert discover_inputs(listing) == [(str(tmp_path / "in/in001.png"), "in001"),
                                        (str(tmp_path / "in/sub/in000.png"), "in000")]
    with pytest.raises(ConfigError, match="no such folder"):
        discover_inputs(tmp_path / "nope")


# -- jobs in process --------------------------------------------------------------------------

def test_job_writes_every_format_and_records_errors_then_resumes_only_new_work(tmp_path):
    make_inputs(tmp_path / "in", 4, rows=2, bad=("broken.jpg",))
    out = tmp_path / "out"
    seen = []
    summary = run_batch(tmp_path / "in", config(out), progress=lambda done, total, r: seen.append((done, total)))
    assert (summary.total, summary.done, summary.errors, summary.pending, summary.pages) == (5, 4, 1, 0, 4)
    assert not summary.ok
    assert seen[-1] == (5, 5)
    assert output_files(out) == sorted(f"in{i:03d}.{ext}" for i in range(4) for ext in ("txt", "json"))
    doc = json.loads((out / "in002.json").read_text())
    assert doc["source"].endswith("in002.png") and len(doc["pages"]) == 1
    assert len([ln for ln in (out / "in002.txt").read_text().splitlines() if ln.strip()]) == 2
    report = json.loads((out / SUMMARY_NAME).read_text())
    assert report["errors"] == 1 and report["error_list"][0]["input"].endswith("broken.jpg")
    [err] = [i for i in items_of(out) if i.state == "error"]
    assert "not an image" in err.error

    # Same command again: nothing to do. A new input: only it is read.
    assert run_batch(tmp_path / "in", config(out)).processed_now == 0
    make_inputs(tmp_path / "new", 5)
    os.replace(tmp_path / "new" / "in004.png", tmp_path / "in" / "in004.png")
    again = run_batch(tmp_path / "in", config(out))
    assert again.processed_now == 1 and again.done == 5
    # --retry-errors redoes the failed input (still failing: still one error record, not two).
    retried = run_batch(tmp_path / "in", config(out, retry_errors=True))
    assert retried.processed_now == 1 and retried.errors == 1 and retried.total == 6


def test_output_folder_inside_input_folder_is_not_read_back(tmp_path):
    make_inputs(tmp_path / "in", 2)
    out = tmp_path / "in" / "results"
    run_batch(tmp_path / "in", config(out, formats=("pdf",)))
    summary = run_batch(tmp_path / "in", config(out, formats=("pdf",)))
    assert summary.total == 2 and output_files(out) == ["in000.pdf", "in001.pdf"]


def test_per_page_format_of_a_pdf_gives_one_file_per_page(tmp_path):
    from PIL import Image

    make_inputs(tmp_path / "src", 2)
    pages = [Image.open(p).convert("RGB") for p in sorted((tmp_path / "src").glob("*.png"))]
    (tmp_path / "in").mkdir()
    pages[0].save(tmp_path / "in" / "doc.pdf", save_all=True, append_images=pages[1:], resolution=72)
    out = tmp_path / "out"
    summary = run_batch(tmp_path / "in", config(out, formats=("page", "txt")))
    assert summary.pages == 2
    assert output_files(out) == ["doc.txt", "doc_p0001.page.xml", "doc_p0002.page.xml"]
    [item] = items_of(out)
    assert sorted(Path(p).name for p in item.outputs) == output_files(out)


CRASHY = '''
import os
from ocrforge.runtime.fakes import fake_ocr

class Crashy:
    def __init__(self, options):
        self.inner = fake_ocr(options)

    def read_pages(self, source, **kw):
        if "crash" in str(source):
            os._exit(3)  # the worker process dies, as in an out-of-memory kill
        return self.inner.read_pages(source, **kw)

def make(options):
    return Crashy(options)
'''


def test_input_that_kills_its_worker_ends_as_an_error_and_the_rest_finish(tmp_path, monkeypatch):
    (tmp_path / "crashy_factory.py").write_text(CRASHY)
    monkeypatch.syspath_prepend(str(tmp_path))
    make_inputs(tmp_path / "in", 3)
    os.replace(tmp_path / "in" / "in001.png", tmp_path / "in" / "crash.png")
    out = tmp_path / "out"
    summary = run_batch(tmp_path / "in", config(out, ocr_factory="crashy_factory:make", max_crashes=2))
    assert (summary.done, summary.errors, summary.pending) == (2, 1, 0)
    [err] = [i for i in items_of(out) if i.state == "error"]
    assert err.input.endswith("crash.png") and "worker process died" in err.error
    assert output_files(out) == ["in000.json", "in000.txt", "in002.json", "in002.txt"]


# -- the CLI, killed and resumed ---------------------------------------------------------------

def _env(**extra):
    env = dict(os.environ, OCRFORGE_FAKE_CALL_MS="0", OCRFORGE_FAKE_LINE_MS="0", OMP_NUM_THREADS="1", **extra)
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    return env


def _done_count(out: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{out / MANIFEST_NAME}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT COUNT(*) FROM items WHERE state='done'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def test_kill_9_mid_job_then_resume_loses_and_duplicates_nothing(tmp_path):
    inputs = make_inputs(tmp_path / "in", 20)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ocrforge", "batch", str(tmp_path / "in"), "-o", str(out), "--workers", "2",
           "-f", "txt,json", "--ocr-factory", FAKE, "-q"]
    # 150 ms per page: the job takes seconds, so the kill lands mid-way.
    proc = subprocess.Popen(cmd, env=_env(OCRFORGE_FAKE_PAGE_MS="150"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while _done_count(out) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the job and its workers, no chance to clean up
    proc.wait()
    proc.stderr.close()
    done_before = _done_count(out)
    assert 4 <= done_before < 20, "the kill should land mid-way"

    resumed = subprocess.run(cmd + ["--resume"], env=_env(), capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    ran_now = int(resumed.stderr.split(" inputs this run")[0].rsplit(" ", 1)[-1])
    assert ran_now <= 20 - done_before  # finished work was not redone

    expected = sorted(f"in{i:03d}.{ext}" for i in range(20) for ext in ("txt", "json"))
    assert output_files(out) == expected  # every input exactly once per format, nothing extra
    for path in inputs:
        doc = json.loads((out / f"{path.stem}.json").read_text())  # complete, parseable outputs
        assert doc["source"] == str(path.resolve())
    items = items_of(out)
    assert len(items) == 20 and {i.state for i in items} == {"done"}
    assert sorted(i.input for i in items) == sorted(str(p.resolve()) for p in inputs)
    assert not list((out / ".ocrforge-tmp").glob("*"))


@pytest.mark.parametrize("argv, message", [
    (["{inp}", "-o", "{out}", "-f", "docx"], "unknown output format"),
    (["{inp}", "-o", "{out}", "--resume"], "has no batch manifest"),
    (["{inp}", "-o", "{out}", "--ocr-factory", "nope:make"], "cannot import"),
])
def test_cli_bad_usage_is_one_line(tmp_path, argv, message):
    make_inputs(tmp_path / "in", 1)
    argv = [a.format(inp=tmp_path / "in", out=tmp_path / "out") for a in argv]
    proc = subprocess.run([sys.executable, "-m", "ocrforge", "batch", *argv], env=_env(), capture_output=True,
                          text=True, timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
