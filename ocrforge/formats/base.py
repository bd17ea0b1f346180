"""What every output format is: a function from a Document (and page images) to bytes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, List, Optional, Sequence, Union

from ..document import Document
from ..errors import FormatError

Images = Optional[Sequence[Any]]  # one numpy BGR (or gray) array or None per page
Target = Union[str, Path, IO[bytes]]


@dataclass(frozen=True)
class Writer:
    """An output format.

    ``render(doc, images)`` makes the file's bytes; ``images`` (page images aligned with
    ``doc.pages``) only matter to formats that embed them (pdf). Formats whose schema allows one
    page per file (``one_page_per_file``) write one file per page when a document has several.
    """

    name: str
    extension: str
    media_type: str
    render: Callable[[Document, Images], bytes]
    one_page_per_file: bool = False

    def to_bytes(self, doc: Document, images: Images = None) -> bytes:
        if self.one_page_per_file and len(doc.pages) > 1:
            raise FormatError(
                f"{self.name} holds one page per file and this document has {len(doc.pages)}: "
                f"use write() with a path, or to_bytes() on each of doc.split_pages()"
            )
        _check_images(doc, images)
        return self.render(doc, images)

    def page_paths(self, doc: Document, path: Union[str, Path]) -> List[Path]:
        """Files ``write`` makes: ``path`` itself, or for a per-page format and several pages
        ``<stem>_p0001<extension>`` and so on beside it."""
        path = Path(path)
        if not (self.one_page_per_file and len(doc.pages) > 1):
            return [path]
        name = path.name
        stem = name[: -len(self.extension)] if name.endswith(self.extension) else path.stem
        ext = self.extension if name.endswith(self.extension) else path.suffix
        return [path.with_name(f"{stem}_p{i + 1:04d}{ext}") for i in range(len(doc.pages))]

    def write(self, doc: Document, target: Target, images: Images = None) -> List[Path]:
        """Write to a path (returns the files written) or a binary stream (returns [])."""
        if not isinstance(target, (str, Path)):
            target.write(self.to_bytes(doc, images))
            return []
        paths = self.page_paths(doc, target)
        if len(paths) == 1:
            blobs = [self.to_bytes(doc, images)]
        else:
            _check_images(doc, images)
            blobs = [
                self.render(part, None if images is None else [images[i]])
                for i, part in enumerate(doc.split_pages())
            ]
        for path, blob in zip(paths, blobs):
            try:
                path.write_bytes(blob)
            except OSError as exc:
                raise FormatError(f"cannot write {path}: {exc.strerror or exc}") from exc
        return paths


def _check_images(doc: Document, images: Images) -> None:
    if images is not None and len(images) != len(doc.pages):
        raise FormatError(f"{len(images)} page images for {len(doc.pages)} pages")
