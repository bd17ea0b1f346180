"""Errors ocrforge raises on purpose.

Everything the library raises for a bad input, a missing model or a bad setting is an
``OcrforgeError``, so a caller (the CLI, a server, a batch job) can catch one type, print one
line and go on with the next input. Anything else escaping the library is a bug.
"""

from __future__ import annotations


class OcrforgeError(Exception):
    """Base class of every error ocrforge raises deliberately."""


class InputError(OcrforgeError):
    """An input cannot be read: missing, empty, truncated, encrypted, too large, unsupported."""


class ModelError(OcrforgeError):
    """A model file is missing, unreadable or does not match what the code expects."""


class ConfigError(OcrforgeError):
    """A setting or option has a value that cannot be used."""


class FormatError(OcrforgeError):
    """An output format is unknown or a document cannot be written in it."""


__all__ = ["OcrforgeError", "InputError", "ModelError", "ConfigError", "FormatError"]
