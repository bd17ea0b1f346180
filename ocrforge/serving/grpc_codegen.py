"""Regenerate ``ocrforge_pb2.py`` / ``ocrforge_pb2_grpc.py`` from ``ocrforge.proto`` (needs grpcio-tools).

    python -m ocrforge.serving.grpc_codegen

The generated modules are committed so that ``pip install .[serve]`` needs no compiler; each gets a
header naming the grpcio-tools and protobuf versions that made it, because the generated code
requires a protobuf runtime of the same major version and grpcio at least that new.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tempfile
from pathlib import Path
from typing import Dict, Optional

PROTO = "ocrforge/serving/ocrforge.proto"  # relative to the source root, so imports are package-absolute
GENERATED = ("ocrforge_pb2.py", "ocrforge_pb2_grpc.py")


def source_root() -> Path:
    return Path(__file__).resolve().parents[2]


def _protoc(args) -> None:
    from grpc_tools import protoc

    include = str(Path(protoc.__file__).parent / "_proto")
    code = protoc.main(["grpc_tools.protoc", "-I", str(source_root()), "-I", include, *args, PROTO])
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}")


def header(pb2_text: str) -> str:
    tools = importlib.metadata.version("grpcio-tools")
    match = re.search(r"Protobuf Python Version: (\d+)\.(\d+)\.(\d+)", pb2_text)
    gencode = ".".join(match.groups()) if match else "unknown"
    major = int(match.group(1)) if match else 0
    return (f"# Generated from ocrforge.proto with grpcio-tools {tools} (protobuf gencode {gencode}) by\n"
            f"# `python -m ocrforge.serving.grpc_codegen`. Needs grpcio>={tools}, protobuf>={gencode},<{major + 1}.\n")


def generate(out_dir: Optional[Path] = None) -> Dict[str, str]:
    """Generate both modules into ``out_dir`` (default: beside the .proto); returns name -> text."""
    target = Path(out_dir) if out_dir is not None else Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as tmp:
        _protoc([f"--python_out={tmp}", f"--grpc_python_out={tmp}"])
        made = Path(tmp) / "ocrforge" / "serving"
        raw = {name: (made / name).read_text() for name in GENERATED}
        head = header(raw["ocrforge_pb2.py"])
        texts = {name: head + text for name, text in raw.items()}
    target.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (target / name).write_text(text)
    return texts


def descriptor_bytes() -> bytes:
    """The compiled FileDescriptorProto of the .proto as it is now (to compare with committed code)."""
    from google.protobuf import descriptor_pb2

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "set.pb"
        _protoc([f"--descriptor_set_out={out}"])
        proto = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    # protoc fills in json_name for descriptor sets but leaves it out of generated Python code.
    stack = list(proto.message_type)
    while stack:
        message = stack.pop()
        for f in message.field:
            f.ClearField("json_name")
        stack.extend(message.nested_type)
    return proto.SerializeToString()


if __name__ == "__main__":
    for name in generate():
        print(f"wrote ocrforge/serving/{name}", file=sys.stderr)
