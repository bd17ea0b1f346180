"""Synthetic page engine: determinism, labels inside the page, mix of kinds, CLI output."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("faker")

from ocrforge.data.det_datasets import load_paddle_label  # noqa: E402
from ocrforge.cli import main  # noqa: E402
from ocrforge.data.synth_pages import PageSynthConfig, PageSynthesizer  # noqa: E402


@pytest.fixture(scope="module")
def synth():
    return PageSynthesizer(PageSynthConfig(seed=7))


def test_same_seed_same_page(synth):
    again = PageSynthesizer(PageSynthConfig(seed=7))
    for i in (0, 3):
        a, b = synth.page(i), again.page(i)
        assert a.kind == b.kind and a.texts == b.texts and a.quarter == b.quarter
        np.testing.assert_array_equal(a.image, b.image)
        for p, q in zip(a.polygons, b.polygons):
            np.testing.assert_array_equal(p, q)
    other = PageSynthesizer(PageSynthConfig(seed=8)).page(0)
    assert other.texts != synth.page(0).texts


def test_labels_inside_image_and_on_ink(synth):
    for i in range(6):
        p = synth.page(i)
        h, w = p.image.shape[:2]
        assert p.polygons and len(p.polygons) == len(p.texts)
        for poly in p.polygons:
            assert poly.shape == (4, 2)
            assert poly[:, 0].min() >= -2 and poly[:, 1].min() >= -2
            assert poly[:, 0].max() <= w + 2 and poly[:, 1].max() <= h + 2
        # text boxes hold ink: darker on average than the page outside them
        mask = np.zeros((h, w), np.uint8)
        import cv2

        cv2.fillPoly(mask, [q.round().astype(np.int32) for q in p.polygons], 1)
        gray = cv2.cvtColor(p.image, cv2.COLOR_BGR2GRAY).astype(float)
        inside = gray[mask == 1]
        assert inside.std() > 10  # glyph strokes on paper, not an empty area


def test_kind_mix_has_enough_bills_and_receipts(synth):
    kinds = [synth.kind_of(i) for i in range(600)]
    bills = sum(k in ("receipt", "invoice", "bank_bill") for k in kinds) / len(kinds)
    assert bills >= 0.3
    assert {"document", "table"} <= set(kinds)


def test_cli_writes_paddle_labels(tmp_path):
    assert main(["synth", "pages", "--count", "2", "--out", str(tmp_path), "--seed", "3"]) == 0
    samples = load_paddle_label(tmp_path / "label.txt")
    assert len(samples) == 2 and all(s.polygons for s in samples)
    assert len((tmp_path / "meta.jsonl").read_text().splitlines()) == 2
    assert main(["synth", "pages", "--count", "0", "--out", str(tmp_path)]) == 2
