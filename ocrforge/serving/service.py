"""What the HTTP and gRPC servers share: limits, admission control, and the OCR operations.

Nothing here knows about a transport. ``OcrService`` checks an upload against the limits
(bytes, pixels, pages) before any decoding, runs the OCR on its own bounded thread pool, and
renders the requested output formats. ``Admission`` is the concurrency gate: a request either
gets a slot at once or is refused (HTTP 429 / gRPC RESOURCE_EXHAUSTED), so an overloaded server
answers quickly instead of queueing work it will not finish in time.
"""

from __future__ import annotations

import concurrent.futures
import io
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Sequence, Tuple

from ..errors import ConfigError, InputError, OcrforgeError
from ..runtime.ocr import ocr_metadata


class LimitExceeded(InputError):
    """The input is larger than this server accepts (bytes, pixels, pages, lines)."""


class Overloaded(OcrforgeError):
    """Every slot is taken; the client should retry later."""


class RequestTimeout(OcrforgeError):
    """The request's deadline passed before its answer was ready."""


class NotReady(OcrforgeError):
    """Models are not loaded (yet, or loading failed)."""


@dataclass(frozen=True)
class ServiceConfig:
    max_body_bytes: int = 32 * 1024 * 1024
    max_pixels: int = 40_000_000  # per image page, checked from the header before decoding
    max_pages: int = 50  # PDF pages per request
    max_lines: int = 256  # line images per /v1/recognize request
    timeout_s: float = 60.0  # per request, from admission to answer
    max_concurrency: int = 2  # requests running OCR at once (each uses the model's threads)
    max_queue: int = 8  # further requests admitted to wait for a runner; beyond that: 429
    dpi: float = 200.0  # PDF render resolution when the request names none

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_pixels", "max_pages", "max_lines", "max_concurrency"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_queue < 0:
            raise ConfigError(f"max_queue must be >= 0, got {self.max_queue}")
        if self.timeout_s <= 0:
            raise ConfigError(f"timeout_s must be > 0, got {self.timeout_s}")
        if not 36 <= self.dpi <= 1200:
            raise ConfigError(f"dpi must be between 36 and 1200, got {self.dpi}")


# ------------------------------------------------------------------------------------ admission


class Slot:
    """One admitted request. Freed when both the request handler and its worker have let go, so a
    request that timed out still counts against the limit until its OCR work really stops."""

    def __init__(self, admission: "Admission") -> None:
        self._admission = admission
        self._holders = 1
        self._lock = threading.Lock()

    def hold(self) -> None:
        with self._lock:
            self._holders += 1

    def release(self) -> None:
        with self._lock:
            self._holders -= 1
            last = self._holders == 0
        if last:
            self._admission._free()


class Admission:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._used = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> Slot:
        with self._lock:
            if self._used >= self.capacity:
                raise Overloaded(f"server busy: {self._used} requests in progress (limit {self.capacity})")
            self._used += 1
        return Slot(self)

    @property
    def in_use(self) -> int:
        with self._lock:
            return self._used

    def _free(self) -> None:
        with self._lock:
            self._used -= 1


# ------------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class Output:
    format: str
    media_type: str
    filename: str
    data: bytes

    @property
    def is_text(self) -> bool:
        return not self.media_type.startswith("application/pdf")


@dataclass(frozen=True)
class PageResult:
    """One page of a streamed read."""

    index: int  # position among the pages returned (0-based)
    page_count: int  # pages that will be returned in all
    document: Any  # a one-page Document
    outputs: List[Output]


def _looks_like_pdf(data: bytes) -> bool:
    return data[:1024].lstrip().startswith(b"%PDF") or b"%PDF-" in data[:1024]


# ------------------------------------------------------------------------------------ service


class OcrService:
    """The OCR operations with limits applied; thread-safe, one per server process."""

    def __init__(self, ocr: Any, config: ServiceConfig = ServiceConfig()) -> None:
        self.ocr = ocr
        self.config = config
        self.admission = Admission(config.max_concurrency + config.max_queue)
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=config.max_concurrency,
                                                           thread_name_prefix="ocr-worker")

    # -- running work ----------------------------------------------------------------------
    def submit(self, slot: Slot, fn, *args) -> concurrent.futures.Future:
        """Run ``fn(*args)`` on the OCR pool; ``slot`` stays held until it finishes."""
        slot.hold()
        try:
            future = self._pool.submit(fn, *args)
        except BaseException:
            slot.release()
            raise
        future.add_done_callback(lambda _f: slot.release())
        return future

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- checks ----------------------------------------------------------------------------
    def check_upload(self, data: bytes, pages: Optional[str] = None) -> str:
        """'pdf' or 'image' for an upload within the limits; raises ``InputError``/``LimitExceeded``."""
        if not data:
            raise InputError("empty upload: send an image or PDF")
        if len(data) > self.config.max_body_bytes:
            raise LimitExceeded(f"upload is {len(data)} bytes; the limit is {self.config.max_body_bytes}")
        if _looks_like_pdf(data):
            from ..io import parse_page_spec, pdf_page_count

            count = pdf_page_count(data, "upload")
            selected = len(parse_page_spec(pages, count, "upload"))
            if selected > self.config.max_pages:
                raise LimitExceeded(f"PDF has {selected} pages to read; the limit is {self.config.max_pages} "
                                    f"(select fewer with 'pages')")
            return "pdf"
        self.check_image_header(data, "upload")
        return "image"

    def check_image_header(self, data: bytes, name: str) -> None:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
        except UnidentifiedImageError as exc:
            raise InputError(f"{name}: not a readable image or PDF") from exc
        except (OSError, ValueError) as exc:
            raise InputError(f"{name}: damaged or unsupported image ({exc})") from exc
        except Image.DecompressionBombError as exc:
            raise LimitExceeded(f"{name}: {exc}") from exc
        if width * height > self.config.max_pixels:
            raise LimitExceeded(f"{name}: {width}x{height} = {width * height / 1e6:.1f} MP is over the limit of "
                                f"{self.config.max_pixels / 1e6:.1f} MP")

    # -- operations (blocking; run them through submit) ------------------------------------
    def read(self, data: bytes, formats: Sequence[str] = (), pages: Optional[str] = None,
             dpi: Optional[float] = None, filename: str = "document") -> Tuple[Any, List[Output]]:
        """(Document, outputs in the requested formats). No formats: no outputs (callers send JSON)."""
        from ..document import Document

        writers = self.writers(formats)
        want_images = any(w.name == "pdf" for w in writers)
        doc_pages, images = [], []
        for page_image, page in self._read_pages(data, pages, dpi):
            doc_pages.append(page)
            if want_images:
                images.append(page_image.image)
        document = Document(pages=doc_pages, source=filename, metadata=self._metadata())
        return document, self.render(document, writers, images if want_images else None, filename)

    def read_stream(self, data: bytes, formats: Sequence[str] = (), pages: Optional[str] = None,
                    dpi: Optional[float] = None, filename: str = "document") -> Iterator[PageResult]:
        """Page by page, each with its outputs, as soon as it is read (gRPC streams these)."""
        from ..document import Document

        writers = self.writers(formats)
        kind = self.check_upload(data, pages)
        total = self._selected_pages(data, pages) if kind == "pdf" else None
        for k, (page_image, page) in enumerate(self._read_pages(data, pages, dpi, checked=True)):
            document = Document(pages=[page], source=filename, metadata=self._metadata())
            images = [page_image.image] if any(w.name == "pdf" for w in writers) else None
            count = total if total is not None else page_image.page_count
            stem = f"{_stem(filename)}_p{k + 1:04d}" if (count or 1) > 1 else _stem(filename)
            yield PageResult(k, int(count or 1), document, self.render(document, writers, images, stem))

    def recognize(self, images: Sequence[bytes]) -> List[Tuple[str, float]]:
        """Single-line images (encoded bytes) -> [(text, confidence)], in order."""
        from ..io import load_image

        if not images:
            raise InputError("no line images given")
        if len(images) > self.config.max_lines:
            raise LimitExceeded(f"{len(images)} line images; the limit is {self.config.max_lines} per request")
        arrays = []
        for i, data in enumerate(images):
            name = f"image {i}"
            if not data:
                raise InputError(f"{name}: empty")
            self.check_image_header(data, name)
            try:
                arrays.append(load_image(data, max_pixels=self.config.max_pixels))
            except InputError as exc:
                raise InputError(f"{name}: {exc}") from exc
        return [(str(text), float(conf)) for text, conf in self.ocr.recognize(arrays)]

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def writers(formats: Sequence[str]):
        from ..formats import parse_formats

        names = [f for f in formats if f and f.strip()]
        return parse_formats(",".join(names)) if names else []

    def render(self, document: Any, writers, images, filename: str) -> List[Output]:
        outputs: List[Output] = []
        stem = _stem(filename)
        for writer in writers:
            parts = document.split_pages() if writer.one_page_per_file and len(document.pages) > 1 else [document]
            for k, part in enumerate(parts):
                part_images = images if len(parts) == 1 else (None if images is None else [images[k]])
                suffix = f"_p{k + 1:04d}" if len(parts) > 1 else ""
                outputs.append(Output(writer.name, writer.media_type, f"{stem}{suffix}{writer.extension}",
                                      writer.to_bytes(part, part_images if writer.name == "pdf" else None)))
        return outputs

    def _read_pages(self, data: bytes, pages: Optional[str], dpi: Optional[float], checked: bool = False):
        if not checked:
            self.check_upload(data, pages)
        read_pages = getattr(self.ocr, "read_pages", None)
        dpi = dpi or self.config.dpi
        if read_pages is not None:
            yield from read_pages(data, pages=pages, dpi=dpi)
            return
        # An OCR object without page streaming: read it whole, no page images.
        from ..io import PageImage

        document = self.ocr.read(data, pages=pages, dpi=dpi)
        for page in document.pages:
            yield PageImage(image=None, source="upload", index=page.index, page_count=len(document.pages)), page

    def _selected_pages(self, data: bytes, pages: Optional[str]) -> int:
        from ..io import parse_page_spec, pdf_page_count

        return len(parse_page_spec(pages, pdf_page_count(data, "upload"), "upload"))

    def _metadata(self) -> dict:
        return ocr_metadata(self.ocr)

    @property
    def ready(self) -> bool:
        return self.ocr is not None


class ServiceHolder:
    """The ``OcrService`` of a server process once its OCR is loaded, shared by HTTP and gRPC.

    Models load in the background so the process answers liveness probes at once; ``service``
    is None until then, and ``error`` says why if loading failed (liveness then fails too, so
    the orchestrator restarts the pod instead of leaving it unready for ever).
    """

    def __init__(self, config: ServiceConfig = ServiceConfig()) -> None:
        self.config = config
        self.service: Optional[OcrService] = None
        self.error: Optional[str] = None
        self.loaded = threading.Event()
        self._listeners: List[Any] = []
        self._lock = threading.Lock()

    def on_change(self, listener) -> None:
        """``listener(holder)`` after the OCR is installed or loading failed (now, if already so)."""
        with self._lock:
            self._listeners.append(listener)
            done = self.loaded.is_set()
        if done:
            listener(self)

    def install(self, ocr: Any) -> None:
        self.service = OcrService(ocr, self.config)
        self._finish()

    def fail(self, message: str) -> None:
        self.error = message
        self._finish()

    def load(self, loader) -> None:
        """Call ``loader()`` and install its OCR; a failure is recorded, not raised."""
        from .logs import get_logger

        log = get_logger()
        start = time.monotonic()
        try:
            ocr = loader()
        except Exception as exc:  # noqa: BLE001 - reported through health checks and the log
            log.error("model loading failed", exc_info=True)
            self.fail(f"model loading failed: {type(exc).__name__}: {exc}")
            return
        self.install(ocr)
        log.info("models loaded", extra={"seconds": round(time.monotonic() - start, 3)})

    def start_loading(self, loader) -> threading.Thread:
        thread = threading.Thread(target=self.load, args=(loader,), name="model-loader", daemon=True)
        thread.start()
        return thread

    def close(self, on_shutdown=None) -> None:
        service = self.service
        if service is not None:
            service.close()
            if on_shutdown is not None:
                on_shutdown(service.ocr)

    def _finish(self) -> None:
        self.loaded.set()
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(self)


def _stem(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1] or "document"
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    return stem or "document"
