"""Batch job on Ray (a local Ray with one CPU): same outputs and manifest as the process pool.

Kept small (3 inputs): starting Ray costs seconds on two cores; the kill/resume guarantees are
the coordinator's and are tested with the process pool in test_batch.py.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

pytest.importorskip("ray")

from ocrforge.batch import BatchConfig, items_of, run_batch  # noqa: E402


@pytest.mark.slow  # ~20 s of Ray start-up on an idle 2-core machine, much more under load
def test_ray_job_reads_every_input_once(tmp_path, monkeypatch):
    # A loaded 2-core machine can take longer than Ray's default to start its raylet.
    monkeypatch.setenv("RAY_raylet_start_wait_time_s", "180")
    monkeypatch.setenv("OCRFORGE_FAKE_CALL_MS", "0")
    monkeypatch.setenv("OCRFORGE_FAKE_LINE_MS", "0")
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        img = np.full((60 + 40 * i, 200, 3), 255, np.uint8)
        for r in range(i + 1):
            cv2.putText(img, f"R{i}{r}", (8, 40 * r + 38), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 2)
        cv2.imwrite(str(src / f"p{i}.png"), img)
    (src / "bad.png").write_bytes(b"junk")
    out = tmp_path / "out"
    config = BatchConfig(output_dir=out, formats=("json",), workers=1, use_ray=True,
                         ocr_factory="ocrforge.runtime.fakes:fake_ocr")
    summary = run_batch(src, config)
    assert (summary.done, summary.errors, summary.pending) == (3, 1, 0)
    for i in range(3):
        doc = json.loads((out / f"p{i}.json").read_text())
        assert sum(len(b["lines"]) for b in doc["pages"][0]["blocks"]) == i + 1
    assert sorted(p.name for p in out.glob("p*.json")) == ["p0.json", "p1.json", "p2.json"]
    assert not list(out.glob("bad*"))
    assert {i.state for i in items_of(out)} == {"done", "error"}
