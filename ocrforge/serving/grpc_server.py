"""gRPC service ``ocrforge.v1.OCR`` (see ocrforge.proto): Read streams one message per page.

Same limits and admission as the HTTP service (``OcrService``): a full server answers
RESOURCE_EXHAUSTED at once, bad input INVALID_ARGUMENT, not-yet-loaded models UNAVAILABLE, a
request past the server's timeout (or the client's deadline) DEADLINE_EXCEEDED. The standard
health service (grpc.health.v1) reports NOT_SERVING until the models are loaded, and server
reflection lets grpcurl & co. discover the API.
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from ..errors import ConfigError, FormatError, InputError, ModelError
from . import ocrforge_pb2 as pb
from . import ocrforge_pb2_grpc as pb_grpc
from .logs import get_logger
from .metrics import ServingMetrics
from .service import NotReady, Overloaded, RequestTimeout, ServiceConfig, ServiceHolder

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["OCR"].full_name  # "ocrforge.v1.OCR"
_END = object()


def _status_of(exc: BaseException) -> grpc.StatusCode:
    if isinstance(exc, Overloaded):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(exc, RequestTimeout):
        return grpc.StatusCode.DEADLINE_EXCEEDED
    if isinstance(exc, (InputError, FormatError, ConfigError)):  # LimitExceeded included
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(exc, (NotReady, ModelError)):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL


class OcrServicer(pb_grpc.OCRServicer):
    def __init__(self, holder: ServiceHolder, metrics: ServingMetrics) -> None:
        self.holder = holder
        self.metrics = metrics
        self.log = get_logger()

    # -- plumbing --------------------------------------------------------------------------
    def _admit(self, context):
        service = self.holder.service
        if service is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, self.holder.error or "models are still loading")
        try:
            return service, service.admission.try_acquire()
        except Overloaded as exc:
            self.metrics.rejected.labels("grpc", "busy").inc()
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))

    def _deadline(self, service, context) -> float:
        remaining = service.config.timeout_s
        client = context.time_remaining()
        if client is not None:
            remaining = min(remaining, client)
        return time.monotonic() + remaining

    def _finish(self, operation: str, context, start: float, exc: Optional[BaseException]) -> None:
        code = grpc.StatusCode.OK if exc is None else _status_of(exc)
        self.metrics.requests.labels("grpc", operation, code.name).inc()
        self.metrics.latency.labels("grpc", operation).observe(time.monotonic() - start)
        self.log.info("rpc", extra={"method": operation, "status": code.name,
                                    "duration_ms": round((time.monotonic() - start) * 1000, 2),
                                    "peer": context.peer()})
        if exc is not None:
            if code is grpc.StatusCode.INTERNAL:
                self.log.error("internal error", exc_info=exc)
                context.abort(code, f"internal error: {type(exc).__name__}")
            context.abort(code, str(exc))

    # -- operations ------------------------------------------------------------------------
    def Read(self, request: pb.ReadRequest, context) -> Iterator[pb.PageResult]:
        service, slot = self._admit(context)
        start = time.monotonic()
        self.metrics.in_flight.inc()
        pages: "queue.Queue[Any]" = queue.Queue(maxsize=2)  # the reader stays at most 2 pages ahead
        stop = threading.Event()
        error: Optional[BaseException] = None
        try:
            deadline = self._deadline(service, context)
            formats = [f.strip().lower() for f in request.formats if f.strip()]
            service.writers(formats)
            args = (bytes(request.content), formats, request.pages or None, request.dpi or None,
                    request.filename or "document")
            service.submit(slot, self._produce, service, args, pages, stop)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RequestTimeout(f"request took longer than {service.config.timeout_s:g} s")
                try:
                    item = pages.get(timeout=min(remaining, 0.5))
                except queue.Empty:
                    if not context.is_active():  # client went away: stop reading pages
                        return
                    continue
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                self.metrics.pages.inc()
                self.metrics.lines.inc(sum(1 for _ in item.document.lines()))
                yield pb.PageResult(
                    index=item.index, page_count=item.page_count, document_json=item.document.to_json(),
                    text=item.document.render(),
                    outputs=[pb.Output(format=o.format, media_type=o.media_type, filename=o.filename, data=o.data)
                             for o in item.outputs])
        except Exception as exc:  # noqa: BLE001 - mapped to a status (INTERNAL if unexpected), never a hung stream
            error = exc
        finally:
            stop.set()
            self.metrics.in_flight.dec()
            slot.release()
        self._finish("read", context, start, error)

    @staticmethod
    def _produce(service, args, pages: "queue.Queue[Any]", stop: threading.Event) -> None:
        """Runs on the OCR pool: read page after page into ``pages`` until done or told to stop."""

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    pages.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            for result in service.read_stream(*args):
                if not put(result):
                    return
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the RPC thread, which reports it
            put(exc)

    def Recognize(self, request: pb.RecognizeRequest, context) -> pb.RecognizeResponse:
        service, slot = self._admit(context)
        start = time.monotonic()
        self.metrics.in_flight.inc()
        error: Optional[BaseException] = None
        response = None
        try:
            deadline = self._deadline(service, context)
            future = service.submit(slot, service.recognize, [bytes(b) for b in request.images])
            try:
                results = future.result(timeout=max(deadline - time.monotonic(), 0.001))
            except futures.TimeoutError:
                raise RequestTimeout(f"request took longer than {service.config.timeout_s:g} s") from None
            self.metrics.lines.inc(len(results))
            response = pb.RecognizeResponse(lines=[pb.LineText(text=t, confidence=c) for t, c in results])
        except Exception as exc:  # noqa: BLE001 - mapped to a status code in _finish
            error = exc
        finally:
            self.metrics.in_flight.dec()
            slot.release()
        self._finish("recognize", context, start, error)
        return response


@dataclass
class GrpcServer:
    server: grpc.Server
    port: int
    holder: ServiceHolder
    health: health.HealthServicer

    def stop(self, grace: Optional[float] = 2.0) -> None:
        self.server.stop(grace).wait()

    def wait(self) -> None:
        self.server.wait_for_termination()


def start_grpc_server(
    ocr: Any = None,
    *,
    ocr_loader: Optional[Callable[[], Any]] = None,
    holder: Optional[ServiceHolder] = None,
    config: ServiceConfig = ServiceConfig(),
    metrics: Optional[ServingMetrics] = None,
    address: str = "127.0.0.1:0",
) -> GrpcServer:
    """Start serving on ``address`` (port 0 picks a free one; see ``.port``). Give exactly one of
    ``ocr`` (ready now), ``ocr_loader`` (loaded in the background) or a shared ``holder``."""
    if sum(x is not None for x in (ocr, ocr_loader, holder)) != 1:
        raise ConfigError("give start_grpc_server exactly one of ocr, ocr_loader, holder")
    holder = holder or ServiceHolder(config)
    config = holder.config
    metrics = metrics or ServingMetrics()
    # Threads beyond the admitted requests answer health checks and refusals while all are busy.
    workers = config.max_concurrency + config.max_queue + 4
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", config.max_body_bytes + 64 * 1024),
            ("grpc.max_send_message_length", 256 * 1024 * 1024),
        ],
    )
    pb_grpc.add_OCRServicer_to_server(OcrServicer(holder, metrics), server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True,
                                            experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=1))
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)

    def on_change(h: ServiceHolder) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if h.service is not None else \
            health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            health_servicer.set(name, status)

    reflection.enable_server_reflection((SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise ConfigError(f"cannot listen on {address}")
    server.start()
    holder.on_change(on_change)
    if ocr is not None:
        holder.install(ocr)
    elif ocr_loader is not None:
        holder.start_loading(ocr_loader)
    return GrpcServer(server, port, holder, health_servicer)
