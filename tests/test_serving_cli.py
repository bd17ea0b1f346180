"""`ocrforge serve` as a real process: HTTP and gRPC up, JSON logs, clean SIGTERM, one-line errors."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

httpx = pytest.importorskip("httpx")
grpc = pytest.importorskip("grpc")
pytest.importorskip("uvicorn")

from ocrforge.serving import ocrforge_pb2 as pb  # noqa: E402
from ocrforge.serving import ocrforge_pb2_grpc as pb_grpc  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def page_png(rows: int = 2) -> bytes:
    img = np.full((40 * rows + 20, 300, 3), 255, np.uint8)
    for r in range(rows):
        cv2.putText(img, f"Total {r} 9.90", (10, 40 * r + 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    return cv2.imencode(".png", img)[1].tobytes()


def _env():
    env = dict(os.environ, OCRFORGE_FAKE_CALL_MS="1", OCRFORGE_FAKE_LINE_MS="0", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    return env


def test_serve_process_http_and_grpc_then_sigterm(tmp_path):
    http_port, grpc_port = free_port(), free_port()
    err = open(tmp_path / "stderr.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ocrforge", "serve", "--port", str(http_port), "--grpc-port", str(grpc_port),
         "--ocr-factory", "ocrforge.runtime.fakes:fake_ocr", "--batch-wait-ms", "2"],
        stdout=subprocess.DEVNULL, stderr=err, env=_env())
    try:
        base = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 30
        ready = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = httpx.get(base + "/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                pass
            if ready:
                break
            time.sleep(0.1)
        assert ready, open(tmp_path / "stderr.log").read()
        r = httpx.post(base + "/v1/read?formats=txt", content=page_png(2), timeout=10)
        assert r.status_code == 200 and len(r.text.strip().splitlines()) == 2
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            pages = list(pb_grpc.OCRStub(channel).Read(pb.ReadRequest(content=page_png(3)), timeout=10))
        assert len(pages) == 1 and len(pages[0].text.strip().splitlines()) == 3
        assert "ocrforge_requests_total" in httpx.get(base + "/metrics", timeout=5).text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err.seek(0)
    records = [json.loads(line) for line in err.read().splitlines() if line.strip()]  # every line is JSON
    messages = [r["msg"] for r in records]
    assert "models loaded" in messages and "stopped" in messages
    assert any(r["msg"] == "request" and r["path"] == "/v1/read" and r["status"] == 200 for r in records)
    assert any(r["msg"] == "rpc" and r["status"] == "OK" for r in records)


@pytest.mark.parametrize("argv, message", [
    (["--ocr-factory", "no_such_module:make"], "cannot import OCR factory module"),
    (["--ocr-factory", "ocrforge.runtime.fakes"], "module:function"),
    (["--no-http"], "--no-http needs --grpc-port"),
    (["--port", "99999"], "port must be"),
])
def test_serve_bad_options_are_one_line_errors(argv, message):
    proc = subprocess.run([sys.executable, "-m", "ocrforge", "serve", *argv], capture_output=True, text=True,
                          env=_env(), timeout=60)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
