"""HTTP service: endpoints, formats, limits (413/429/504), readiness, metrics, logs, OpenAPI.

The OCR behind the app is the real pipeline with model-free fakes (ocrforge.runtime.fakes): the
fake detector finds each band of dark rows, so a page with N drawn text rows has N lines.
"""

from __future__ import annotations

import io
import json
import threading
import time

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402
from PIL import Image  # noqa: E402

from ocrforge.runtime import BatcherConfig  # noqa: E402
from ocrforge.runtime.fakes import fake_ocr  # noqa: E402
from ocrforge.runtime.ocr import OcrOptions, close_ocr  # noqa: E402
from ocrforge.serving.http import create_app  # noqa: E402
from ocrforge.serving.logs import configure_logging  # noqa: E402
from ocrforge.serving.metrics import ServingMetrics  # noqa: E402
from ocrforge.serving.service import ServiceConfig  # noqa: E402


def page_image(rows: int, width: int = 360, seed: int = 0) -> np.ndarray:
    img = np.full((40 * rows + 20, width, 3), 255, np.uint8)
    for r in range(rows):
        cv2.putText(img, f"Item {seed}-{r} 12.50", (10, 40 * r + 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    return img


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def pdf(*images: np.ndarray) -> bytes:
    pils = [Image.fromarray(cv2.cvtColor(im, cv2.COLOR_BGR2RGB)) for im in images]
    out = io.BytesIO()
    pils[0].save(out, format="PDF", save_all=True, append_images=pils[1:], resolution=72)
    return out.getvalue()


@pytest.fixture(autouse=True)
def fast_fakes(monkeypatch):
    monkeypatch.setenv("OCRFORGE_FAKE_CALL_MS", "1")
    monkeypatch.setenv("OCRFORGE_FAKE_LINE_MS", "0")


@pytest.fixture
def client():
    with TestClient(create_app(ocr=fake_ocr(), config=ServiceConfig(dpi=72))) as c:
        yield c


def test_read_returns_the_json_document_by_default(client):
    r = client.post("/v1/read", files={"file": ("receipt.png", png(page_image(3)), "image/png")})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["source"] == "receipt.png"
    assert len(doc["pages"]) == 1
    lines = [ln for block in doc["pages"][0]["blocks"] for ln in block["lines"]]
    assert len(lines) == 3
    assert r.headers["x-request-id"]


def test_read_raw_body_and_one_format_returns_that_format(client):
    r = client.post("/v1/read?formats=txt", content=png(page_image(2)), headers={"content-type": "image/png"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    assert len([ln for ln in r.text.splitlines() if ln.strip()]) == 2
    r = client.post("/v1/read?formats=hocr", content=png(page_image(2)))
    assert r.status_code == 200 and "ocr_line" in r.text


def test_read_pdf_with_several_formats(client):
    data = pdf(page_image(2), page_image(4, seed=1))
    r = client.post("/v1/read?formats=txt,page,pdf", content=data, headers={"content-type": "application/pdf"})
    assert r.status_code == 200, r.text
    outputs = r.json()["outputs"]
    assert [(o["format"], o["filename"]) for o in outputs] == [
        ("txt", "document.txt"), ("page", "document_p0001.page.xml"), ("page", "document_p0002.page.xml"),
        ("pdf", "document.pdf")]
    txt = outputs[0]["content"]
    assert txt.count("\f") == 1  # two pages
    pdf_bytes = __import__("base64").b64decode(outputs[3]["content"])
    assert outputs[3]["encoding"] == "base64" and pdf_bytes.startswith(b"%PDF")
    # The default JSON document of the same upload has both pages with their lines.
    doc = client.post("/v1/read", content=data).json()
    assert [sum(len(b["lines"]) for b in p["blocks"]) for p in doc["pages"]] == [2, 4]
    one = client.post("/v1/read?pages=2", content=data).json()
    assert len(one["pages"]) == 1


@pytest.mark.parametrize("body, query, message", [
    (b"", "", "empty"),
    (b"this is not an image", "", "not a readable image"),
    (None, "?formats=docx", "unknown output format"),
    (None, "?dpi=5", "dpi"),
])
def test_bad_requests_are_400_with_one_clear_message(client, body, query, message):
    r = client.post("/v1/read" + query, content=png(page_image(1)) if body is None else body)
    assert r.status_code == 400, r.text
    assert message in r.text


def test_body_over_the_limit_is_413_declared_or_streamed():
    app = create_app(ocr=fake_ocr(), config=ServiceConfig(max_body_bytes=1000))
    big = b"\x89PNG" + b"0" * 5000
    with TestClient(app) as c:
        r = c.post("/v1/read", content=big)
        assert r.status_code == 413 and "1000" in r.json()["error"]["message"]

        def chunks():  # no Content-Length: chunked transfer, cut off while streaming
            for _ in range(10):
                yield b"0" * 500

        r = c.post("/v1/read", content=chunks())
        assert r.status_code == 413
        assert c.post("/v1/read", content=png(np.full((8, 8, 3), 255, np.uint8))).status_code == 200


def test_pixel_and_page_limits_are_413():
    app = create_app(ocr=fake_ocr(), config=ServiceConfig(max_pixels=50_000, max_pages=1, dpi=72))
    with TestClient(app) as c:
        r = c.post("/v1/read", content=png(np.full((300, 300, 3), 255, np.uint8)))
        assert r.status_code == 413 and "MP" in r.json()["error"]["message"]
        two = pdf(page_image(1), page_image(1))
        r = c.post("/v1/read", content=two)
        assert r.status_code == 413 and "pages" in r.json()["error"]["message"]
        assert c.post("/v1/read?pages=1", content=two).status_code == 200


class GatedOCR:
    """The fake pipeline, but every read waits for ``gate`` (to hold requests in flight)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.inner = fake_ocr()
        self.gate = threading.Event()
        self.started = threading.Event()
        self.delay_s = delay_s

    def read_pages(self, data, pages=None, dpi=None):
        self.started.set()
        self.gate.wait(10)
        time.sleep(self.delay_s)
        yield from self.inner.read_pages(data, pages=pages, dpi=dpi)

    def recognize(self, crops):
        return self.inner.recognize(crops)


def test_full_server_answers_429_at_once_then_recovers():
    ocr = GatedOCR()
    app = create_app(ocr=ocr, config=ServiceConfig(max_concurrency=1, max_queue=0))
    body = png(page_image(1))
    with TestClient(app) as c:
        first = {}
        t = threading.Thread(target=lambda: first.setdefault("r", c.post("/v1/read", content=body)))
        t.start()
        assert ocr.started.wait(10)
        t0 = time.monotonic()
        r = c.post("/v1/read", content=body)
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        assert time.monotonic() - t0 < 5  # refused, not queued behind the running request
        ocr.gate.set()
        t.join(10)
        assert first["r"].status_code == 200
        assert c.post("/v1/read", content=body).status_code == 200
        assert app.state.holder.service.admission.in_use == 0


def test_request_past_its_deadline_is_504_and_keeps_its_slot_until_work_stops():
    ocr = GatedOCR(delay_s=0.0)
    app = create_app(ocr=ocr, config=ServiceConfig(timeout_s=0.2, max_concurrency=1, max_queue=0))
    with TestClient(app) as c:
        r = c.post("/v1/read", content=png(page_image(1)))
        assert r.status_code == 504 and "0.2" in r.json()["error"]["message"]
        admission = app.state.holder.service.admission
        assert admission.in_use == 1  # the OCR thread is still busy: do not admit more work
        ocr.gate.set()
        deadline = time.monotonic() + 10
        while admission.in_use and time.monotonic() < deadline:
            time.sleep(0.01)
        assert admission.in_use == 0


def test_readiness_follows_model_loading():
    loaded = threading.Event()

    def loader():
        loaded.wait(10)
        return fake_ocr()

    with TestClient(create_app(ocr_loader=loader)) as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/readyz").status_code == 503
        assert c.post("/v1/read", content=png(page_image(1))).status_code == 503
        loaded.set()
        deadline = time.monotonic() + 10
        while c.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert c.get("/readyz").json() == {"status": "ready"}
        assert c.post("/v1/read", content=png(page_image(1))).status_code == 200


def test_failed_model_loading_fails_liveness_so_the_pod_restarts():
    def loader():
        from ocrforge.errors import ModelError

        raise ModelError("rec model missing")

    with TestClient(create_app(ocr_loader=loader)) as c:
        deadline = time.monotonic() + 10
        while c.get("/healthz").status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.02)
        r = c.get("/healthz")
        assert r.status_code == 500 and "rec model missing" in r.json()["error"]["message"]
        assert c.get("/readyz").status_code == 503


def test_recognize_lines_in_order_and_limits(client):
    lines = [page_image(1, width=w)[10:50] for w in (120, 300, 200)]
    files = [("files", (f"{i}.png", png(im), "image/png")) for i, im in enumerate(lines)]
    r = client.post("/v1/recognize", files=files)
    assert r.status_code == 200, r.text
    got = r.json()["lines"]
    assert [ln["index"] for ln in got] == [0, 1, 2]
    # The fake names each line by its width: the answer is in the order sent.
    assert [ln["text"].split()[1].split("x")[0] for ln in got] == ["120", "300", "200"]
    assert client.post("/v1/recognize", content=b"x").status_code == 400
    bad = [("files", ("a.png", b"garbage", "image/png"))]
    assert "image 0" in client.post("/v1/recognize", files=bad).json()["error"]["message"]


def test_too_many_lines_is_413():
    with TestClient(create_app(ocr=fake_ocr(), config=ServiceConfig(max_lines=2))) as c:
        files = [("files", (f"{i}.png", png(page_image(1)), "image/png")) for i in range(3)]
        assert c.post("/v1/recognize", files=files).status_code == 413


def test_concurrent_requests_share_recognizer_batches_and_metrics_show_it(monkeypatch):
    monkeypatch.setenv("OCRFORGE_FAKE_CALL_MS", "20")
    metrics = ServingMetrics()
    ocr = fake_ocr(OcrOptions(batching=BatcherConfig(max_batch_size=64, max_wait_ms=100), on_batch=metrics.observe_batch,
                              dpi=72))
    app = create_app(ocr=ocr, config=ServiceConfig(max_concurrency=8, max_queue=8), metrics=metrics)
    bodies = [png(page_image(2, seed=i)) for i in range(8)]
    with TestClient(app) as c:
        results = [None] * len(bodies)

        def go(i):
            results[i] = c.post("/v1/read", content=bodies[i])

        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(bodies))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert [r.status_code for r in results] == [200] * 8
        inner = ocr.recognizer.inner
        assert inner.lines == 16
        assert inner.calls < 16  # lines of different requests went to the model together
        text = c.get("/metrics").text
    close_ocr(ocr)
    assert 'ocrforge_requests_total{operation="read",status="200",transport="http"} 8.0' in text
    assert "ocrforge_batch_size_count" in text and "process_resident_memory_bytes" in text
    assert "ocrforge_lines_total 16.0" in text


def test_every_request_is_one_json_log_line():
    stream = io.StringIO()
    handler = configure_logging("info", stream)
    try:
        with TestClient(create_app(ocr=fake_ocr())) as c:
            c.post("/v1/read", content=png(page_image(1)), headers={"X-Request-ID": "abc123"})
            c.post("/v1/read", content=b"nope")
    finally:
        import logging

        logging.getLogger("ocrforge.serving").removeHandler(handler)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    requests = [r for r in records if r["msg"] == "request"]
    assert [(r["path"], r["status"]) for r in requests] == [("/v1/read", 200), ("/v1/read", 400)]
    assert requests[0]["request_id"] == "abc123" and requests[0]["duration_ms"] >= 0
    assert {"ts", "level", "logger"} <= set(requests[1])


def test_openapi_spec_documents_the_api(client):
    spec = client.get("/openapi.json").json()
    assert {"/v1/read", "/v1/recognize", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    read = spec["paths"]["/v1/read"]["post"]
    assert {"multipart/form-data", "application/pdf"} <= set(read["requestBody"]["content"])
    assert {"formats", "pages", "dpi"} <= {p["name"] for p in read["parameters"]}
    assert {"413", "429", "504"} <= set(read["responses"])
