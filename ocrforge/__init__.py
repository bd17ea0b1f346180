"""ocrforge: offline OCR for printed Chinese and English documents, receipts and bills."""

__version__ = "0.1.0"

__all__ = ["OCR", "__version__"]


def __getattr__(name):
    # Lazy so that `import ocrforge.backbones` (training side) does not start ONNX Runtime.
    if name == "OCR":
        from .pipeline import OCR

        return OCR
    raise AttributeError(f"module 'ocrforge' has no attribute {name!r}")
