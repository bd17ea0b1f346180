"""Loading of typed training configs from dicts and YAML, shared by every trainer."""

from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path


class YamlConfig:
    """Mixin for dataclass configs: unknown keys are an error, not silently ignored."""

    @classmethod
    def from_dict(cls, d: dict):
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown training options: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def from_yaml(cls, path: str | Path):
        import yaml

        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        return cls.from_dict(data)

    def to_dict(self) -> dict:
        return asdict(self)
