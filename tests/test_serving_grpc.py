"""gRPC service on 127.0.0.1 with a random port: streaming Read, Recognize, status codes,
health checking, reflection, and the committed generated code matching the .proto."""

from __future__ import annotations

import io
import json
import threading
import time

import cv2
import numpy as np
import pytest

grpc = pytest.importorskip("grpc")
pytest.importorskip("grpc_health")
pytest.importorskip("grpc_reflection")
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc  # noqa: E402
from PIL import Image  # noqa: E402

from ocrforge.runtime.fakes import fake_ocr  # noqa: E402
from ocrforge.serving import ocrforge_pb2 as pb  # noqa: E402
from ocrforge.serving import ocrforge_pb2_grpc as pb_grpc  # noqa: E402
from ocrforge.serving.grpc_server import start_grpc_server  # noqa: E402
from ocrforge.serving.service import ServiceConfig  # noqa: E402


def page_image(rows: int, width: int = 320, seed: int = 0) -> np.ndarray:
    img = np.full((40 * rows + 20, width, 3), 255, np.uint8)
    for r in range(rows):
        cv2.putText(img, f"Row {seed}.{r} 8.00", (10, 40 * r + 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    return img


def png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def pdf(*images: np.ndarray) -> bytes:
    pils = [Image.fromarray(cv2.cvtColor(im, cv2.COLOR_BGR2RGB)) for im in images]
    out = io.BytesIO()
    pils[0].save(out, format="PDF", save_all=True, append_images=pils[1:], resolution=72)
    return out.getvalue()


@pytest.fixture(autouse=True)
def fast_fakes(monkeypatch):
    monkeypatch.setenv("OCRFORGE_FAKE_CALL_MS", "1")
    monkeypatch.setenv("OCRFORGE_FAKE_LINE_MS", "0")


class Server:
    def __init__(self, **kwargs):
        self.server = start_grpc_server(**kwargs)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.server.port}")
        self.stub = pb_grpc.OCRStub(self.channel)

    def close(self):
        self.channel.close()
        self.server.stop(grace=None)
        self.server.holder.close()


@pytest.fixture
def server():
    s = Server(ocr=fake_ocr(), config=ServiceConfig(dpi=72))
    yield s
    s.close()


def test_read_streams_one_message_per_page_in_order(server):
    data = pdf(page_image(2), page_image(3, seed=1), page_image(1, seed=2))
    messages = list(server.stub.Read(pb.ReadRequest(content=data, formats=["txt", "page"], filename="bill.pdf"),
                                     timeout=30))
    assert [m.index for m in messages] == [0, 1, 2]
    assert {m.page_count for m in messages} == {3}
    line_counts = []
    for m in messages:
        doc = json.loads(m.document_json)
        assert len(doc["pages"]) == 1 and doc["source"] == "bill.pdf"
        line_counts.append(sum(len(b["lines"]) for b in doc["pages"][0]["blocks"]))
        assert len([ln for ln in m.text.splitlines() if ln.strip()]) == line_counts[-1]
    assert line_counts == [2, 3, 1]
    assert [o.filename for o in messages[1].outputs] == ["bill_p0002.txt", "bill_p0002.page.xml"]
    assert messages[1].outputs[1].data.startswith(b"<?xml")


def test_single_image_is_one_message(server):
    [m] = list(server.stub.Read(pb.ReadRequest(content=png(page_image(2)), formats=["json"]), timeout=30))
    assert m.page_count == 1 and m.outputs[0].filename == "document.json"
    assert json.loads(m.outputs[0].data)["pages"][0]["blocks"]


class GatedOCR:
    """Reads page 1 at once, then waits for ``gate`` before every further page."""

    def __init__(self):
        self.inner = fake_ocr()
        self.gate = threading.Event()
        self.started = threading.Event()

    def read_pages(self, data, pages=None, dpi=None):
        self.started.set()
        for k, item in enumerate(self.inner.read_pages(data, pages=pages, dpi=dpi)):
            if k:
                self.gate.wait(10)
            yield item

    def recognize(self, crops):
        return self.inner.recognize(crops)


def test_first_page_arrives_before_the_rest_is_read():
    ocr = GatedOCR()
    s = Server(ocr=ocr, config=ServiceConfig(dpi=72))
    try:
        stream = s.stub.Read(pb.ReadRequest(content=pdf(page_image(1), page_image(2))), timeout=30)
        first = next(stream)  # page 2 is still blocked: only streaming can deliver this
        assert first.index == 0 and not ocr.gate.is_set()
        ocr.gate.set()
        assert [m.index for m in stream] == [1]
    finally:
        ocr.gate.set()
        s.close()


@pytest.mark.parametrize("request_kwargs, code, text", [
    ({"content": b"junk"}, "INVALID_ARGUMENT", "not a readable image"),
    ({"content": b""}, "INVALID_ARGUMENT", "empty"),
    ({"content": None, "formats": ["docx"]}, "INVALID_ARGUMENT", "unknown output format"),
    ({"content": None, "pages": "7"}, "INVALID_ARGUMENT", "page"),
])
def test_bad_input_is_invalid_argument(server, request_kwargs, code, text):
    kwargs = dict(request_kwargs)
    if kwargs["content"] is None:
        kwargs["content"] = png(page_image(1)) if "formats" in kwargs else pdf(page_image(1))
    with pytest.raises(grpc.RpcError) as err:
        list(server.stub.Read(pb.ReadRequest(**kwargs), timeout=30))
    assert err.value.code().name == code and text in err.value.details()


def test_limits():
    s = Server(ocr=fake_ocr(), config=ServiceConfig(max_body_bytes=20_000, max_pixels=40_000, max_lines=1))
    try:
        with pytest.raises(grpc.RpcError) as err:
            list(s.stub.Read(pb.ReadRequest(content=b"0" * 200_000), timeout=30))
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # refused by gRPC's message limit
        with pytest.raises(grpc.RpcError) as err:
            list(s.stub.Read(pb.ReadRequest(content=png(np.zeros((300, 300, 3), np.uint8))), timeout=30))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "MP" in err.value.details()
        line = png(page_image(1)[10:50])
        with pytest.raises(grpc.RpcError) as err:
            s.stub.Recognize(pb.RecognizeRequest(images=[line, line]), timeout=30)
        assert "limit is 1" in err.value.details()
    finally:
        s.close()


def test_busy_server_refuses_at_once_and_deadline_is_enforced():
    ocr = GatedOCR()
    s = Server(ocr=ocr, config=ServiceConfig(max_concurrency=1, max_queue=0, dpi=72))
    try:
        slow = s.stub.Read(pb.ReadRequest(content=pdf(page_image(1), page_image(1))), timeout=30)
        assert next(slow).index == 0  # holds the only slot, blocked before page 2
        t0 = time.monotonic()
        with pytest.raises(grpc.RpcError) as err:
            list(s.stub.Read(pb.ReadRequest(content=png(page_image(1))), timeout=30))
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and time.monotonic() - t0 < 5
        ocr.gate.set()
        assert [m.index for m in slow] == [1]
        ocr.gate.clear()
        with pytest.raises(grpc.RpcError) as err:  # the client's deadline passes while page 2 waits
            list(s.stub.Read(pb.ReadRequest(content=pdf(page_image(1), page_image(1))), timeout=0.5))
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    finally:
        ocr.gate.set()
        s.close()


def test_recognize_keeps_order(server):
    lines = [png(page_image(1, width=w)[10:50]) for w in (150, 260, 90)]
    reply = server.stub.Recognize(pb.RecognizeRequest(images=lines), timeout=30)
    assert [ln.text.split()[1].split("x")[0] for ln in reply.lines] == ["150", "260", "90"]
    assert all(0 <= ln.confidence <= 1 for ln in reply.lines)


def test_health_follows_model_loading_and_reflection_lists_services():
    release = threading.Event()

    def loader():
        release.wait(10)
        return fake_ocr()

    s = Server(ocr_loader=loader)
    try:
        health = health_pb2_grpc.HealthStub(s.channel)
        check = lambda: health.Check(health_pb2.HealthCheckRequest(service="ocrforge.v1.OCR"), timeout=5).status
        assert check() == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.RpcError) as err:
            s.stub.Recognize(pb.RecognizeRequest(images=[png(page_image(1))]), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        release.set()
        deadline = time.monotonic() + 10
        while check() != health_pb2.HealthCheckResponse.SERVING and time.monotonic() < deadline:
            time.sleep(0.02)
        assert check() == health_pb2.HealthCheckResponse.SERVING

        reflect = reflection_pb2_grpc.ServerReflectionStub(s.channel)
        replies = reflect.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                               timeout=5)
        names = {svc.name for r in replies for svc in r.list_services_response.service}
        assert {"ocrforge.v1.OCR", "grpc.health.v1.Health"} <= names
    finally:
        release.set()
        s.close()


def test_committed_generated_code_matches_the_proto():
    pytest.importorskip("grpc_tools")
    from ocrforge.serving import grpc_codegen

    assert pb.DESCRIPTOR.serialized_pb == grpc_codegen.descriptor_bytes(), \
        "ocrforge.proto changed: run python -m ocrforge.serving.grpc_codegen"
    header = open(pb.__file__, encoding="utf-8").readline()
    assert "grpcio-tools" in header
