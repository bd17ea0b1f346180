"""``ocrforge serve``: the HTTP service (uvicorn) and/or the gRPC service, sharing one OCR.

The process answers /healthz at once and loads the models in the background (/readyz and the
gRPC health service say when they are in). SIGTERM stops both servers gracefully: requests in
progress finish, new ones are refused, then the batcher and OCR pool are shut down.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from typing import Optional

from ..errors import ConfigError
from ..runtime import BatcherConfig
from ..runtime.ocr import OcrOptions, close_ocr, load_factory, make_ocr

FACTORY_ENV = "OCRFORGE_OCR_FACTORY"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0-65535, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_ocr_options(p: argparse.ArgumentParser) -> None:
    """Model and factory options shared by ``serve`` and ``batch``."""
    p.add_argument("--det-model", metavar="PATH", help="detection model (.onnx); default: the shipped one")
    p.add_argument("--rec-model", metavar="PATH", help="recognition model (.onnx); default: the shipped one")
    p.add_argument("--threads", type=_positive_int, default=2, metavar="N", help="ONNX Runtime threads per model")
    p.add_argument("--preprocess", default="auto", metavar="STEPS", help="auto, none, or a comma list of steps")
    p.add_argument("--dpi", type=_positive_float, default=200.0, help="PDF render resolution (default 200)")
    p.add_argument("--views", type=int, choices=range(0, 5), default=0, metavar="N",
                   help="view fusion: read unsure lines again in N other views (0-4) and vote (default 0: off)")
    p.add_argument("--ocr-factory", metavar="MODULE:FUNCTION", default=os.environ.get(FACTORY_ENV),
                   help=f"build the OCR with this function(OcrOptions) instead (env {FACTORY_ENV}); "
                        "e.g. ocrforge.runtime.fakes:fake_ocr to smoke-test without models")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "serve", help="run the HTTP / gRPC OCR service",
        description="Serve OCR over HTTP (FastAPI: POST /v1/read, /v1/recognize, /healthz, /readyz, /metrics, "
                    "/docs) and optionally gRPC (ocrforge.v1.OCR with health and reflection).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    p.add_argument("--port", type=_port, default=8080, help="HTTP port (default 8080)")
    p.add_argument("--grpc-port", type=_port, default=None, metavar="PORT", help="also serve gRPC on this port")
    p.add_argument("--no-http", action="store_true", help="serve gRPC only")
    add_ocr_options(p)
    g = p.add_argument_group("limits")
    g.add_argument("--max-concurrency", type=_positive_int, default=2, metavar="N",
                   help="requests running OCR at once (default 2)")
    g.add_argument("--max-queue", type=int, default=8, metavar="N",
                   help="further requests allowed to wait; beyond that 429 (default 8)")
    g.add_argument("--timeout", type=_positive_float, default=60.0, metavar="S", help="per request (default 60 s)")
    g.add_argument("--max-body-mb", type=_positive_float, default=32.0, metavar="MB", help="upload size (default 32)")
    g.add_argument("--max-pixels", type=_positive_int, default=40_000_000, metavar="N",
                   help="pixels per image page (default 40M)")
    g.add_argument("--max-pages", type=_positive_int, default=50, metavar="N", help="PDF pages per request")
    b = p.add_argument_group("batching")
    b.add_argument("--no-batching", action="store_true", help="one recognizer call per request")
    b.add_argument("--batch-size", type=_positive_int, default=32, metavar="N", help="max lines per model call")
    b.add_argument("--batch-wait-ms", type=float, default=5.0, metavar="MS",
                   help="how long a line may wait for others to fill its batch (default 5)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=run)
    return p


def ocr_options_from_args(args, batching: Optional[BatcherConfig], on_batch=None) -> OcrOptions:
    return OcrOptions(det_model=args.det_model, rec_model=args.rec_model, threads=args.threads,
                      preprocess=args.preprocess, max_pixels=getattr(args, "max_pixels", 40_000_000),
                      dpi=args.dpi, views=args.views, batching=batching, on_batch=on_batch)


def _uvicorn_server_class():
    import contextlib

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, minus re-raising SIGTERM once it has shut down: that would kill the
        process before the gRPC server and the OCR pool are stopped and before exit code 0."""

        @contextlib.contextmanager
        def capture_signals(self):
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server


def run(args) -> int:
    from .logs import configure_logging, get_logger
    from .metrics import ServingMetrics
    from .service import ServiceConfig, ServiceHolder

    if args.no_http and args.grpc_port is None:
        raise ConfigError("--no-http needs --grpc-port")
    if args.max_queue < 0:
        raise ConfigError("--max-queue must be >= 0")
    if args.ocr_factory:
        load_factory(args.ocr_factory)  # a typo fails now, with one line, not in the background
    config = ServiceConfig(max_body_bytes=int(args.max_body_mb * 1024 * 1024), max_pixels=args.max_pixels,
                           max_pages=args.max_pages, timeout_s=args.timeout, max_concurrency=args.max_concurrency,
                           max_queue=args.max_queue, dpi=args.dpi)
    batching = None if args.no_batching else BatcherConfig(max_batch_size=args.batch_size,
                                                           max_wait_ms=args.batch_wait_ms)
    configure_logging(args.log_level)
    log = get_logger()
    metrics = ServingMetrics()
    options = ocr_options_from_args(args, batching, metrics.observe_batch)
    holder = ServiceHolder(config)
    grpc_server = None
    try:
        if args.grpc_port is not None:
            from .grpc_server import start_grpc_server

            grpc_server = start_grpc_server(holder=holder, metrics=metrics, address=f"{args.host}:{args.grpc_port}")
            log.info("grpc listening", extra={"host": args.host, "port": grpc_server.port})
        holder.start_loading(lambda: make_ocr(options, args.ocr_factory))
        if args.no_http:
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            stop.wait()
        else:
            import uvicorn

            from .http import create_app

            _UvicornServer = _uvicorn_server_class()

            app = create_app(holder=holder, metrics=metrics)
            server = _UvicornServer(uvicorn.Config(app, host=args.host, port=args.port, log_config=None,
                                                   access_log=False, timeout_graceful_shutdown=int(args.timeout) + 1))
            server.run()
            if server.started is False and not server.should_exit:
                raise ConfigError(f"cannot serve HTTP on {args.host}:{args.port} (see the log above)")
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=args.timeout)
        holder.close(close_ocr)
        log.info("stopped")
    return 0
