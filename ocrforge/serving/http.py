"""HTTP service (FastAPI): ``create_app(ocr=...)`` builds it, ``ocrforge serve`` runs it with uvicorn.

Endpoints: ``POST /v1/read`` (an image or PDF -> JSON document, or the requested formats),
``POST /v1/recognize`` (line images -> text), ``GET /healthz`` (process alive), ``GET /readyz``
(models loaded), ``GET /metrics`` (Prometheus), ``GET /openapi.json``.

Limits are enforced before work starts: a request finds a free slot or gets 429 at once, a body
over the byte limit gets 413 without being read to the end, an image over the pixel limit gets
413 from its header. Each request has a deadline (504 past it). Every request is logged as one
JSON line with its id (``X-Request-ID``, generated when absent), status and duration.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any, Callable, List, Optional

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from ..errors import ConfigError, FormatError, InputError, ModelError, OcrforgeError
from .logs import get_logger
from .metrics import CONTENT_TYPE_LATEST, ServingMetrics
from .service import (
    LimitExceeded,
    NotReady,
    OcrService,
    Overloaded,
    RequestTimeout,
    ServiceConfig,
    ServiceHolder,
)

API_PREFIX = "/v1/"


def _error_status(exc: BaseException) -> int:
    if isinstance(exc, RequestTimeout):
        return 504
    if isinstance(exc, Overloaded):
        return 429
    if isinstance(exc, LimitExceeded):
        return 413
    if isinstance(exc, (InputError, FormatError, ConfigError)):
        return 400
    if isinstance(exc, (NotReady, ModelError)):
        return 503
    return 500


def _error_body(status: int, message: str, kind: str) -> dict:
    return {"error": {"status": status, "type": kind, "message": message}}


def _json_error(status: int, message: str, kind: str, headers: Optional[dict] = None) -> JSONResponse:
    return JSONResponse(_error_body(status, message, kind), status_code=status, headers=headers)


# ------------------------------------------------------------------------------------ ASGI middleware


async def _send_json(send, status: int, body: dict, headers: Optional[List[tuple]] = None) -> None:
    payload = json.dumps(body).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw_headers += headers or []
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


class _AccessLog:
    """Outermost layer: request id, one JSON log line and the request metrics per request."""

    def __init__(self, app, metrics: ServingMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = get_logger()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:128] or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        start = time.monotonic()
        status_holder = {"status": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = scope.get("path", "")
            status = status_holder["status"]
            duration = time.monotonic() - start
            if path.startswith(API_PREFIX):
                operation = path[len(API_PREFIX):]
                self.metrics.requests.labels("http", operation, str(status)).inc()
                self.metrics.latency.labels("http", operation).observe(duration)
            self.log.info("request", extra={
                "request_id": request_id, "method": scope.get("method"), "path": path, "status": status,
                "duration_ms": round(duration * 1000, 2),
                "client": (scope.get("client") or ("", 0))[0],
            })


class _Gate:
    """For /v1/ calls: readiness, a concurrency slot (429 when none) and the body size limit (413).

    The body is read here, counted as it arrives, so an over-long chunked upload is cut off at
    the limit instead of being spooled to disk first; the endpoint gets it replayed.
    """

    def __init__(self, app, holder: ServiceHolder, metrics: ServingMetrics) -> None:
        self.app = app
        self.holder = holder
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope.get("path", "").startswith(API_PREFIX):
            return await self.app(scope, receive, send)
        service = self.holder.service
        if service is None:
            msg = self.holder.error or "models are still loading"
            return await _send_json(send, 503, _error_body(503, msg, "NotReady"), [(b"retry-after", b"5")])
        try:
            slot = service.admission.try_acquire()
        except Overloaded as exc:
            self.metrics.rejected.labels("http", "busy").inc()
            return await _send_json(send, 429, _error_body(429, str(exc), "Overloaded"), [(b"retry-after", b"1")])
        self.metrics.in_flight.inc()
        try:
            limit = service.config.max_body_bytes
            headers = dict(scope.get("headers") or [])
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                self.metrics.rejected.labels("http", "too_large").inc()
                return await _send_json(send, 413, _error_body(
                    413, f"request body is {int(declared)} bytes; the limit is {limit}", "LimitExceeded"))
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body = message.get("body", b"")
                size += len(body)
                if size > limit:
                    self.metrics.rejected.labels("http", "too_large").inc()
                    return await _send_json(send, 413, _error_body(
                        413, f"request body is over the limit of {limit} bytes", "LimitExceeded"))
                chunks.append(body)
                if not message.get("more_body", False):
                    break
            payload = b"".join(chunks)
            replayed = False

            async def replay():
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": payload, "more_body": False}
                return await receive()

            state = scope.setdefault("state", {})
            state["slot"] = slot
            state["deadline"] = time.monotonic() + service.config.timeout_s
            await self.app(scope, replay, send)
        finally:
            self.metrics.in_flight.dec()
            slot.release()


# ------------------------------------------------------------------------------------ the app

_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary", "description": "an image (JPEG, PNG, BMP, WebP, TIFF) or a PDF"}}}},
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}
_LINES_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {"type": "object", "required": ["files"], "properties": {
        "files": {"type": "array", "items": {"type": "string", "format": "binary"},
                  "description": "images that each hold one text line, in the order of the answer"}}}}},
}
_ERRORS = {code: {"description": text, "content": {"application/json": {"example": _error_body(code, text, "...")}}}
           for code, text in ((400, "bad input"), (413, "over a size, pixel or page limit"),
                              (429, "server busy, retry later"), (503, "models not loaded"),
                              (504, "took longer than the server's timeout"))}


def create_app(
    ocr: Any = None,
    *,
    ocr_loader: Optional[Callable[[], Any]] = None,
    config: ServiceConfig = ServiceConfig(),
    metrics: Optional[ServingMetrics] = None,
    on_shutdown: Optional[Callable[[Any], None]] = None,
    holder: Optional[ServiceHolder] = None,
) -> FastAPI:
    """The HTTP app around ``ocr`` (ready at once) or ``ocr_loader()`` (called in the background at
    start-up; /readyz says 503 until it returns). ``on_shutdown(ocr)`` releases what the loader made.

    ``holder`` instead shares a service with another server in the process (``ocrforge serve
    --grpc-port``); its owner loads and closes it.
    """
    if sum(x is not None for x in (ocr, ocr_loader, holder)) != 1:
        raise ConfigError("give create_app exactly one of ocr, ocr_loader, holder")
    from contextlib import asynccontextmanager

    from .. import __version__

    metrics = metrics or ServingMetrics()
    owned = holder is None
    holder = holder or ServiceHolder(config)
    holder.on_change(lambda h: metrics.ready.set(1 if h.service is not None else 0))
    log = get_logger()
    if ocr is not None:
        holder.install(ocr)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if ocr_loader is not None and not holder.loaded.is_set():
            holder.start_loading(ocr_loader)
        yield
        if owned:
            holder.close(on_shutdown)

    app = FastAPI(
        title="ocrforge", version=__version__, lifespan=lifespan,
        description="Offline OCR for printed Chinese and English documents, receipts and bills.",
    )
    app.state.holder = holder
    app.state.metrics = metrics

    @app.exception_handler(OcrforgeError)
    async def ocrforge_error(request: Request, exc: OcrforgeError):
        status = _error_status(exc)
        headers = {"Retry-After": "1"} if status == 429 else None
        return _json_error(status, str(exc), type(exc).__name__, headers)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(x) for x in e.get('loc', ())[1:]) or 'request'}: {e.get('msg')}"
                             for e in exc.errors())
        return _json_error(400, problems, "InputError")

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        log.error("internal error", exc_info=exc,
                  extra={"request_id": getattr(request.state, "request_id", None)})
        return _json_error(500, f"internal error: {type(exc).__name__}", "InternalError")

    async def run(request: Request, fn, *args):
        service: OcrService = holder.service
        slot = request.state.slot
        remaining = request.state.deadline - time.monotonic()
        future = service.submit(slot, fn, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout=max(remaining, 0.001))
        except asyncio.TimeoutError:
            metrics.rejected.labels("http", "timeout").inc()
            raise RequestTimeout(f"request took longer than {service.config.timeout_s:g} s") from None

    async def upload_bytes(request: Request) -> tuple:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            form = await request.form(max_files=1, max_fields=8)
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise InputError("multipart upload needs a 'file' part")
            return await upload.read(), upload.filename or "document"
        return await request.body(), "document"

    @app.post("/v1/read", summary="Read an image or PDF", openapi_extra={"requestBody": _UPLOAD_BODY},
              responses={200: {"description": "the document as JSON (default), the one requested format, "
                                              "or a JSON list of outputs when several are requested"}, **_ERRORS})
    async def read(
        request: Request,
        formats: Optional[str] = Query(None, description="comma list of txt,json,tsv,hocr,alto,page,pdf "
                                                         "(as the CLI's --format); default: the JSON document"),
        pages: Optional[str] = Query(None, description="PDF pages to read, e.g. 1-3,5"),
        dpi: Optional[float] = Query(None, ge=36, le=1200, description="PDF render resolution"),
    ):
        service: OcrService = holder.service
        data, filename = await upload_bytes(request)
        names = [f.strip().lower() for f in (formats or "").split(",") if f.strip()]
        service.writers(names)  # an unknown format is a 400 before any OCR work
        document, outputs = await run(request, service.read, data, names, pages, dpi, filename)
        metrics.pages.inc(len(document.pages))
        metrics.lines.inc(sum(1 for _ in document.lines()))
        if not outputs:
            return JSONResponse(document.export())
        if len(outputs) == 1:
            out = outputs[0]
            return Response(out.data, media_type=out.media_type,
                            headers={"Content-Disposition": f'inline; filename="{out.filename}"'})
        return JSONResponse({"outputs": [
            {"format": o.format, "media_type": o.media_type, "filename": o.filename,
             "encoding": "utf-8" if o.is_text else "base64",
             "content": o.data.decode("utf-8") if o.is_text else base64.b64encode(o.data).decode("ascii")}
            for o in outputs]})

    @app.post("/v1/recognize", summary="Recognize single-line images", openapi_extra={"requestBody": _LINES_BODY},
              responses={200: {"description": '{"lines": [{"index", "text", "confidence"}]}'}, **_ERRORS})
    async def recognize(request: Request):
        service: OcrService = holder.service
        ctype = request.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            raise InputError("send the line images as multipart/form-data 'files' parts")
        form = await request.form(max_files=service.config.max_lines + 1, max_fields=8)
        images = [await part.read() for part in form.getlist("files") if not isinstance(part, str)]
        results = await run(request, service.recognize, images)
        metrics.lines.inc(len(results))
        return {"lines": [{"index": i, "text": text, "confidence": round(conf, 6)}
                          for i, (text, conf) in enumerate(results)]}

    @app.get("/healthz", summary="Liveness: the process answers and model loading has not failed")
    async def healthz():
        if holder.error:
            return _json_error(500, holder.error, "ModelLoadFailed")
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: models are loaded")
    async def readyz():
        if holder.service is None:
            return _json_error(503, holder.error or "models are still loading", "NotReady")
        return {"status": "ready"}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus():
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    # Registered last = outermost: the access log sees 429/413/503 answers from the gate too.
    app.add_middleware(_Gate, holder=holder, metrics=metrics)
    app.add_middleware(_AccessLog, metrics=metrics)
    return app

